"""Named resources (``gpu``, ``licence``): what tasks ask for and the limits a build sets
(the plan hands them out)."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from minimake.errors import MinimakeError

# A request or a limit, as sorted (name, amount) pairs: hashable, so Task stays a value.
Amounts = tuple[tuple[str, float], ...]

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


def parse_limits(words: Iterable[str]) -> dict[str, float]:
    """``["gpu=2", "licence=1"]`` (the ``--resource`` flags) as a dict; raises ResourceError."""
    found: dict[str, float] = {}
    for word in words:
        name, equals, value = (part.strip() for part in word.partition("="))
        amount = _number(value)
        bad = problem(name, amount) if equals else f"needs NAME=AMOUNT (got '{word}')"
        if bad or not isinstance(amount, (int, float)):
            raise ResourceError(f"--resource {bad}.")
        found[name] = amount
    return found


def _number(value: str) -> int | float | str:
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(value)
    return value


def limits(value: Mapping[str, float] | None) -> dict[str, float]:
    """The build's resource limits, checked (``resources=`` of ``build()``)."""
    checked = dict(value or {})
    for name, amount in checked.items():
        bad = problem(name, amount)
        if bad:
            raise ResourceError(f"Resource limit {bad}.")
    return checked


def text(request: Amounts | Mapping[str, float]) -> str:
    """``gpu=1 licence=0.5``, for messages."""
    pairs = request.items() if isinstance(request, Mapping) else request
    return " ".join(f"{name}={amount:g}" for name, amount in pairs)


def check(requests: Mapping[str, Amounts], limits: Mapping[str, float]) -> None:
    """Refuse, before anything runs, a task that asks for more than a limit could ever give."""
    for task, request in requests.items():
        for name, amount in request:
            if name in limits and amount > limits[name]:
                raise ResourceError(
                    f"Task '{task}' asks for {name}={amount:g}, but --resource allows "
                    f"only {name}={limits[name]:g}."
                )
