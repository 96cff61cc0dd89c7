"""``.minimake``, minimake's own folder: no symbolic link in it is ever written through.

A link planted there (a repository that ships its ``.minimake``, a shared folder) would have
minimake truncate, overwrite or delete whatever it points at: the lock, the journal, the
capture files under ``out``, the logs, the timing page. A run that writes checks each of them
once, before it writes anything, and removes a link it finds (the link alone: what it points
at is never touched), with a warning; a real file or folder is made in its place when next
needed. Files are opened with ``O_NOFOLLOW`` besides, so a link planted during a run makes a
write fail rather than land elsewhere.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

FOLDER = ".minimake"
# What minimake writes in its folder; logs' entries are checked one by one besides.
_ENTRIES = (
    "lock",
    "journal",
    "journal.partial",
    "out",
    "logs",
    "dask",
    "timings",
    os.path.join("timings", "minimake-timing.html"),
)


def secure(root: str, warn: Callable[[str], None]) -> None:
    """Remove every symbolic link where minimake writes under ``root``/.minimake, saying so."""
    top = os.path.join(root, FOLDER)
    if _unlinked(top, warn) or not os.path.isdir(top):
        return  # nothing under it yet
    for entry in _ENTRIES:
        _unlinked(os.path.join(top, entry), warn)
    logs = os.path.join(top, "logs")
    with contextlib.suppress(OSError), os.scandir(logs) as entries:
        for found in entries:
            if found.is_symlink():
                _unlinked(found.path, warn)


def _unlinked(path: str, warn: Callable[[str], None]) -> bool:
    """Remove ``path`` if it is a symbolic link; whether it was one."""
    if not os.path.islink(path):
        return False
    try:
        target = os.readlink(path)
        os.unlink(path)
    except OSError as error:
        # Left in place: every write there is made with O_NOFOLLOW and fails instead.
        warn(f"warning: '{path}' is a symbolic link, and cannot be removed: {error.strerror}")
        return True
    warn(
        f"warning: '{path}' was a symbolic link (to '{target}'): removed it, left '{target}' "
        "as it was; minimake never writes through a link in its own folder"
    )
    return True
