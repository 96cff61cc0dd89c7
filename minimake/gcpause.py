"""Pausing Python's cycle collector while a build allocates objects that all live on."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Hold the cycle collector off inside the block, then put it back as it was.

    Loading a tasks.py and building its graph allocate a few objects per task, none of them
    garbage; each time the heap grows by a quarter Python walks all of it again, which was a
    sixth of a 50,000-task null build. Reference counting still frees what the block drops.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def kept() -> Iterator[None]:
    """Keep the cycle collector off the objects that exist now, for the block: moved out of
    its generations (gc.freeze), none is walked, and all are put back in the oldest at the
    end (gc.unfreeze), collectable again.

    After a paused block every object it allocated waits in the youngest generation, and the
    first collection walks them all (a twentieth of a second for a 50,000-task graph), then
    again as they age. A caller's own frozen objects are left alone: with any frozen already,
    this does nothing.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
