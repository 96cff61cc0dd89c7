"""Named resources (``gpu``, ``licence``): what tasks ask for and the limits a build sets
(the plan hands them out), and the named units (GPU ids, job slots) a running task holds."""

from __future__ import annotations

import contextlib
import heapq
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from minimake.errors import MinimakeError

# A request or a limit, as sorted (name, amount) pairs: hashable, so Task stays a value.
Amounts = tuple[tuple[str, float], ...]
# A limit is a count, or the names of the units there are ("0", "1": GPU ids), which the plan
# hands to the tasks that ask, one name per unit.
Limit: TypeAlias = float | tuple[str, ...]
Limits = tuple[tuple[str, Limit], ...]
# The names a running task holds, per named resource: (("gpu", ("0", "1")),).
Held = tuple[tuple[str, tuple[str, ...]], ...]
# The word that asks for this machine's GPUs as names (``--resource gpu=auto``).
AUTO = "auto"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class ResourceError(MinimakeError):
    """A resource request or limit is malformed, or no slot of the build could ever serve it."""


def problem(name: object, amount: object) -> str | None:
    """Why ``name=amount`` is not a valid request or limit; None when it is."""
    if not isinstance(name, str) or not _NAME.match(name):
        return f"needs names like 'gpu' (got {name!r})"
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        return f"needs a number for '{name}' (got {amount!r})"
    if not math.isfinite(amount) or amount <= 0:
        return f"needs a positive amount of '{name}' (got {amount!r})"
    return None


def amounts(value: Any) -> Amounts:
    """Sorted (name, amount) pairs from a mapping or pairs; anything else is returned as is,
    for a validator to name."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, Iterable) and not isinstance(value, str):
        pairs = list(value)
    else:
        return value  # type: ignore[no-any-return]  # not pairs: the validator names it
    if not all(isinstance(pair, tuple) and len(pair) == 2 for pair in pairs):
        return value  # type: ignore[no-any-return]  # not pairs: the validator names it
    return tuple(sorted(pairs, key=lambda pair: str(pair[0])))


def parse_limits(words: Iterable[str]) -> dict[str, float | str | tuple[str, ...]]:
    """``["gpu=2", "licence=1"]`` (the ``--resource`` flags) as a dict; raises ResourceError.

    A value that is not a number is a list of names (``gpu=0,1,2,3``; ``gpu=3,`` is the one
    GPU 3), or ``gpu=auto``, which ``limits`` turns into this machine's GPUs."""
    found: dict[str, float | str | tuple[str, ...]] = {}
    for word in words:
        name, equals, value = (part.strip() for part in word.partition("="))
        amount = _number(value)
        if equals and isinstance(amount, str) and amount:
            found[name] = amount if amount == AUTO else _split(amount)
            bad = _names_problem(name, found[name])
        else:
            bad = problem(name, amount) if equals else f"needs NAME=AMOUNT (got '{word}')"
            found[name] = amount
        if bad:
            raise ResourceError(f"--resource {bad}.")
    return found


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _number(value: str) -> int | float | str:
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(value)
    return value


def _names_problem(name: str, names: object) -> str | None:
    """Why ``names`` is not a valid list of names for ``name``; None when it is."""
    if not isinstance(name, str) or not _NAME.match(name):
        return f"needs names like 'gpu' (got {name!r})"
    if names == AUTO:
        return None if name == "gpu" else f"knows '{AUTO}' only for 'gpu' (got '{name}')"
    if not isinstance(names, tuple) or not names:
        return f"needs at least one name for '{name}' (got {names!r})"
    for unit in names:
        if not isinstance(unit, str) or not unit or "," in unit or unit != unit.strip():
            return f"needs names without commas or spaces for '{name}' (got {unit!r})"
    if len(set(names)) < len(names):
        return f"names each unit of '{name}' once (got {','.join(names)})"
    return None


def limits(
    value: Mapping[str, Any] | None, detect: Callable[[], tuple[str, ...]] | None = None
) -> dict[str, Limit]:
    """The build's resource limits, checked (``resources=`` of ``build()``): a count, or a
    list of names (kept as a tuple), or ``"auto"`` for ``gpu``, which ``detect`` (default:
    ``detect_gpus``) turns into names; raises ResourceError."""
    checked: dict[str, Limit] = {}
    for name, limit in (value or {}).items():
        if isinstance(limit, (str, list, tuple)):
            names = limit if limit == AUTO else tuple(limit)
            bad = _names_problem(name, names)
            if bad:
                raise ResourceError(f"Resource limit {bad}.")
            checked[name] = (detect or detect_gpus)() if names == AUTO else tuple(names)
            continue
        bad = problem(name, limit)
        if bad:
            raise ResourceError(f"Resource limit {bad}.")
        checked[name] = limit
    return checked


def detect_gpus(
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    listing: Callable[[str], str] | None = None,
) -> tuple[str, ...]:
    """This machine's GPUs as names (``gpu=auto``): ``CUDA_VISIBLE_DEVICES`` when it is set
    (the GPUs this build was given, by a batch system or by hand), else the ids that
    ``nvidia-smi -L`` lists; raises ResourceError when neither says, never a count of 0."""
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        names = _split(visible)
        # CUDA reads "-1" or "" as "no GPU": a build given none must not pretend to have one.
        if not names or any(name.startswith("-") for name in names):
            raise ResourceError(
                f"--resource gpu=auto: CUDA_VISIBLE_DEVICES is '{visible}', which names no GPU."
            )
        return names
    program = which("nvidia-smi")
    if program is None:
        raise ResourceError(
            "--resource gpu=auto finds no GPU: CUDA_VISIBLE_DEVICES is not set and there is "
            "no nvidia-smi on PATH (name them: --resource gpu=0,1)."
        )
    try:
        text = (listing or _nvidia_smi)(program)
    except (OSError, subprocess.SubprocessError) as error:
        raise ResourceError(f"--resource gpu=auto: nvidia-smi -L failed: {error}") from error
    # "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)"; the MIG lines under one are indented.
    names = tuple(re.findall(r"^GPU (\d+):", text, flags=re.MULTILINE))
    if not names:
        raise ResourceError("--resource gpu=auto: nvidia-smi -L lists no GPU.")
    return names


def _nvidia_smi(program: str) -> str:
    done = subprocess.run([program, "-L"], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout


def size(limit: Limit) -> float:
    """How many units a limit has: its count, or its number of names."""
    return len(limit) if isinstance(limit, tuple) else limit


def text(request: Amounts | Mapping[str, float]) -> str:
    """``gpu=1 licence=0.5``, for messages."""
    pairs = request.items() if isinstance(request, Mapping) else request
    return " ".join(f"{name}={amount:g}" for name, amount in pairs)


def check(requests: Mapping[str, Amounts], limits: Mapping[str, Limit]) -> None:
    """Refuse, before anything runs, a task that asks for more than a limit could ever give,
    or for part of a named unit."""
    for task, request in requests.items():
        for name, amount in request:
            if name not in limits:
                continue
            limit = limits[name]
            if amount > size(limit):
                if isinstance(limit, tuple):
                    given = f"names only {len(limit)}: {name}={','.join(limit)}"
                else:
                    given = f"allows only {name}={limit:g}"
                raise ResourceError(
                    f"Task '{task}' asks for {name}={amount:g}, but --resource {given}."
                )
            if isinstance(limit, tuple) and amount != int(amount):
                raise ResourceError(
                    f"Task '{task}' asks for {name}={amount:g}, but {name} is given as "
                    f"names ({','.join(limit)}): a task holds whole ones."
                )


def unlimited(requests: Mapping[str, Amounts], limits: Mapping[str, Limit]) -> dict[str, str]:
    """Each name that tasks ask for and no limit bounds, with the first task (in ``requests``'
    order) that asks for it."""
    found: dict[str, str] = {}
    for task, request in requests.items():
        for name, _ in request:
            if name not in limits and name not in found:
                found[name] = task
    return found


def unused(limits: Iterable[str], asked: Iterable[str]) -> list[str]:
    """The limits that no task asks for (a typo, most likely), in the order given."""
    known = set(asked)
    return [name for name in limits if name not in known]


def variable(name: str) -> str:
    """``MINIMAKE_RESOURCE_GPU`` for ``gpu`` (``mem.gb``: ``MINIMAKE_RESOURCE_MEM_GB``)."""
    return "MINIMAKE_RESOURCE_" + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def environment(held: Held) -> tuple[tuple[str, str], ...]:
    """What a recipe is told of the names it holds: ``MINIMAKE_RESOURCE_<NAME>`` for each, and
    for ``gpu`` also ``CUDA_VISIBLE_DEVICES``, which CUDA reads to pick the devices it sees."""
    pairs = []
    for name, names in held:
        joined = ",".join(names)
        pairs.append((variable(name), joined))
        if name == "gpu":
            pairs.append(("CUDA_VISIBLE_DEVICES", joined))
    return tuple(pairs)


class Units:
    """The free units of one named resource (or the build's job slots): ``take`` hands out
    the lowest free ones, as GNU parallel reuses its lowest free ``{%}``."""

    def __init__(self, names: Sequence[str]) -> None:
        self._names = tuple(names)
        self._index = {name: index for index, name in enumerate(self._names)}
        self._free = list(range(len(self._names)))  # a heap of indices, already in order

    def take(self, count: int) -> tuple[str, ...]:
        """``count`` free names; the caller checked that there are that many."""
        return tuple(self._names[heapq.heappop(self._free)] for _ in range(count))

    def take_one(self) -> str:
        return self._names[heapq.heappop(self._free)]

    def give_back(self, names: Iterable[str]) -> None:
        for name in names:
            heapq.heappush(self._free, self._index[name])
