"""A recipe's signature: what a finished task records of its recipe, to tell later what changed.

A shell recipe is its command lines as written (ninja's rule: not the environment, so a
command-line variable reruns only the recipes whose text it changed). A Python callable is its
qualified name, a hash of its code (bytecode, names and constants, nested code objects and the
functions of its own module that it names included, never line numbers, so moving or
commenting code changes nothing) and of its ``args`` and ``kwargs``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import types
from collections.abc import Callable
from typing import Any

import attrs

from minimake.task import Task

SHOWN = 60  # at most this many characters of an argument list in a reason


@attrs.frozen
class Signature:
    """The recorded form of one recipe."""

    kind: str  # "shell" or "python"
    code: str  # a hash of the command lines, or of the callable's code
    name: str = ""  # the callable's qualified name
    args: str = ""  # repr of args, shortened for people...
    args_hash: str = ""  # ...and a hash of all of it, to compare
    kwargs: str = ""
    kwargs_hash: str = ""

    def dumps(self) -> str:
        """One line of JSON (no tab, no newline), for the journal."""
        # The fields by hand: attrs.astuple walks them recursively, a third of this call.
        fields = (self.kind, self.code, self.name, self.args, self.args_hash)
        return json.dumps((*fields, self.kwargs, self.kwargs_hash), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> Signature | None:
        """The signature ``dumps`` wrote; None for no text or a damaged one."""
        if not text:
            return None
        try:
            return cls(*json.loads(text))
        except (ValueError, TypeError):
            return None


def of(task: Task) -> Signature | None:
    """The signature of ``task``'s recipe as declared now; None when it has none."""
    recipe = task.recipe
    if recipe is None:
        return None
    if isinstance(recipe, (str, tuple)):
        lines = (recipe,) if isinstance(recipe, str) else recipe
        return Signature("shell", _hash("\0".join(lines)))
    name, code = _callable(recipe)
    args, args_hash = _shown(task.args)
    kwargs, kwargs_hash = _shown(dict(task.kwargs))
    return Signature("python", code, name, args, args_hash, kwargs, kwargs_hash)


def changes(old: Signature, new: Signature) -> str | None:
    """What differs between the recorded and the current signature, for people; None if equal."""
    if old.kind != new.kind:
        return f"recipe changed from {old.kind} to {new.kind}"
    if old.kind == "shell":
        return "command line changed" if old.code != new.code else None
    if old.name != new.name:
        return f"recipe {old.name} -> {new.name}"
    if old.code != new.code:
        return f"code of {new.name} changed"
    if old.args_hash != new.args_hash:
        return f"args {old.args} -> {new.args}"
    if old.kwargs_hash != new.kwargs_hash:
        return f"kwargs {old.kwargs} -> {new.kwargs}"
    return None


def _hash(text: str | bytes) -> str:
    data = text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text
    return hashlib.blake2b(data, digest_size=12).hexdigest()


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _repr(value: Any) -> str:
    """repr(), the same in every process: object addresses dropped, and a set's members in
    sorted order (its own order follows string hashes, which PYTHONHASHSEED varies per run)."""
    return _ADDRESS.sub("", _ordered(value))


def _ordered(value: Any) -> str:
    kind = type(value)
    if kind is set or kind is frozenset:
        members = sorted(_ordered(member) for member in value)
        if not members:
            return repr(value)
        inner = "{" + ", ".join(members) + "}"
        return inner if kind is set else f"frozenset({inner})"
    if kind is tuple:
        parts = [_ordered(member) for member in value]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if kind is list:
        return "[" + ", ".join(_ordered(member) for member in value) + "]"
    if kind is dict:
        pairs = (f"{_ordered(key)}: {_ordered(item)}" for key, item in value.items())
        return "{" + ", ".join(pairs) + "}"
    return repr(value)


def _shown(value: Any) -> tuple[str, str]:
    """(short repr, hash of the whole repr), the same in every process (_repr)."""
    text = _repr(value)
    short = text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."
    return short, _hash(text)


def _callable(recipe: Callable[..., Any]) -> tuple[str, str]:
    """(name, code hash) of a callable: a function, a method, a partial or a callable object."""
    if isinstance(recipe, functools.partial):
        name, code = _callable(recipe.func)
        extra = _repr((recipe.args, recipe.keywords))
        return f"partial({name})", _hash(code + extra)
    if isinstance(recipe, types.MethodType):
        recipe = recipe.__func__
    if isinstance(recipe, types.FunctionType):
        return recipe.__qualname__, _function_hash(recipe)
    call = getattr(type(recipe), "__call__", None)  # noqa: B004 - the class's, not callable()
    if isinstance(call, types.FunctionType):
        return type(recipe).__qualname__, _function_hash(call)
    name = getattr(recipe, "__qualname__", None) or type(recipe).__qualname__
    return name, _hash(name)


# Per function (by id, the function kept alive in the value so the id is not reused): its hash.
# Many tasks share one recipe function; it is hashed once per process.
_hashes: dict[int, tuple[types.FunctionType, str]] = {}


def _function_hash(function: types.FunctionType) -> str:
    cached = _hashes.get(id(function))
    if cached is not None and cached[0] is function:
        return cached[1]
    digest = hashlib.blake2b(digest_size=12)
    _feed_function(digest, function, set())
    value = digest.hexdigest()
    _hashes[id(function)] = (function, value)
    return value


def _feed_function(digest: Any, function: types.FunctionType, seen: set[int]) -> None:
    seen.add(id(function))
    code = function.__code__
    consts = code.co_consts
    if function.__doc__ is not None and consts and consts[0] == function.__doc__:
        consts = consts[1:]  # the docstring is not behaviour
    _feed_code(digest, code, consts)
    digest.update(_repr((function.__defaults__, function.__kwdefaults__)).encode())
    # The functions of the same module it calls by name: editing a helper changes the recipe.
    module = function.__module__
    for name in sorted(_names(code)):
        used = function.__globals__.get(name)
        if (
            isinstance(used, types.FunctionType)
            and used.__module__ == module
            and id(used) not in seen
        ):
            digest.update(f"\0{name}\0".encode())
            _feed_function(digest, used, seen)


def _feed_code(digest: Any, code: types.CodeType, consts: tuple[Any, ...]) -> None:
    digest.update(code.co_code)
    digest.update("\0".join(code.co_names).encode())
    for const in consts:
        if isinstance(const, types.CodeType):
            digest.update(b"\0code\0")
            _feed_code(digest, const, const.co_consts)
        else:
            # `x in {"a", "b"}` compiles to a frozenset constant.
            digest.update(b"\0" + _repr(const).encode(errors="surrogatepass"))


def _names(code: types.CodeType) -> set[str]:
    found = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _names(const)
    return found
