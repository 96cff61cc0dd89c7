"""Where a recipe's output goes: two files per task (one when stdout and stderr are one file),
replayed when the task ends, so parallel recipes never interleave (make's ``-O``).

Output lives in files, never whole in memory: a recipe that prints gigabytes costs minimake a
buffer, not its size. A failed task's output is kept as its log under ``.minimake/logs``.

Where no file can hold it (a full disk: no room to create one, or under 1 MiB left when the
build starts), a recipe's output goes straight to minimake's own stdout and stderr, as make
without ``-O`` has it, and minimake says so once: the recipe still runs, and its result is
its own, never a failure to capture.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import fcntl
import itertools
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

import attrs

from minimake.execution.groups import running

FOLDER = os.path.join(".minimake", "out")
_CHUNK = 1 << 20
_names = itertools.count()
_ROOM = 1 << 20  # free bytes below which the capture folder counts as full
# O_NOFOLLOW: a link planted in the capture folder is never written through (state.py).
_CREATE = os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
_said_full = False  # the notice that output is passed through, once per process


@attrs.frozen
class Capture:
    """Where the recipes of one build write their output: a folder, one file or two per task."""

    # None: the system's temporary folder where the recipe runs (a Dask worker, whose output
    # travels back as text anyway).
    folder: str | None
    combined: bool  # stdout and stderr in one file, as on a terminal where both are one file
    passthrough: bool = False  # no file can hold output: it goes to minimake's own streams

    @classmethod
    def under(cls, root: str, combined: bool) -> Capture:
        """The build's capture folder under ``root``, or a private temporary one when the
        project cannot be written (a read-only checkout still builds into other folders), or
        none when neither has room (output is passed through)."""
        try:
            folder = _folder_with_room(os.path.join(root, FOLDER))
        except OSError as error:
            passed_through(error)
            return cls(None, combined, passthrough=True)
        _remove_orphans(folder)
        return cls(folder, combined)

    def where(self) -> str:
        return self.folder if self.folder is not None else tempfile.gettempdir()

    def stem(self) -> str:
        """A new name for one task's capture files, less their suffix."""
        return os.path.join(self.where(), f"{os.getpid()}-{next(_names)}")

    def open(self) -> tuple[Captured, int, int]:
        """New files for one task: (where they are, stdout's descriptor, stderr's descriptor);
        minimake's own stdout and stderr when no file can be made."""
        stem = self.stem()
        if self.passthrough:
            return _passed(stem)
        flags = os.O_WRONLY | os.O_APPEND | _CREATE
        try:
            out = os.open(stem + ".out", flags, 0o600)
        except OSError as error:
            passed_through(error)
            return _passed(stem)
        if self.combined:
            return Captured(stem + ".out"), out, out
        try:
            err = os.open(stem + ".err", flags, 0o600)
        except OSError as error:
            os.close(out)
            with contextlib.suppress(OSError):
                os.remove(stem + ".out")
            passed_through(error)
            return _passed(stem)
        return Captured(stem + ".out", stem + ".err"), out, err


def _folder_with_room(folder: str) -> str:
    """``folder``, else a private temporary one, whichever takes files and has room for
    output; raises OSError when neither does."""
    try:
        _check_room(folder)
        return folder
    except OSError:
        private = tempfile.mkdtemp(prefix="minimake-out-")
    try:
        _check_room(private)
    except OSError:
        with contextlib.suppress(OSError):
            os.rmdir(private)
        raise
    return private


def _check_room(folder: str) -> None:
    """Raise OSError unless ``folder`` exists (made if need be), takes a new file, and has
    room for output."""
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass
    found = os.statvfs(folder)
    if found.f_bavail * found.f_frsize < _ROOM:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), folder)


def passed_through(error: OSError) -> None:
    """Say, once, that recipes' output goes straight to minimake's stdout and stderr."""
    global _said_full
    if _said_full:
        return
    _said_full = True
    where = f" in '{error.filename}'" if error.filename else ""
    said = (
        f"minimake: warning: cannot keep recipes' output{where}: {error.strerror}; "
        "it goes straight to this output instead, not grouped per task\n"
    )
    with contextlib.suppress(OSError):
        os.write(2, said.encode(errors="replace"))


def _passed(stem: str) -> tuple[Captured, int, int]:
    """Descriptors on minimake's own stdout and stderr, for one task's output: nothing to
    replay afterwards (``stem`` names only files for lists too long for the environment)."""
    out = os.dup(1)
    try:
        err = os.dup(2)
    except OSError:
        os.close(out)
        raise
    os.set_inheritable(out, False)
    os.set_inheritable(err, False)
    return Captured(stem + ".out", stem + ".err", empty=True), out, err


class FilePool:
    """Capture files used again from task to task.

    Creating a file costs a journal entry on most file systems: on a busy disk, milliseconds,
    more than the rest of a trivial task. Reopening an existing file and emptying it costs
    microseconds. A file goes back into the pool only when no process has it open any more: a
    recipe's background job may still hold its stdout, and writes into it would land in another
    task's output. Linux's write lease is refused while any other open file description exists,
    which is exactly that test; where it cannot be taken, the file is set aside and tested
    again when the pool runs out, since a recipe that has just exited still holds its files for
    a moment (the kernel closes an exiting process's last references a tick later, from a
    worker thread). Beyond HELD files set aside, the oldest is removed instead.
    """

    HELD = 8

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self._lock = threading.Lock()
        self._free: list[_Pooled] = []
        self._held: list[_Pooled] = []  # refused a lease when given back: tested again later
        self._all: set[_Pooled] = set()

    def take(self) -> tuple[Captured, int, int]:
        """Files for one task: where they are (discarding gives them back), and descriptors
        for the recipe's stdout and stderr, opened for this task alone; minimake's own stdout
        and stderr when no file can be made."""
        if self.capture.passthrough:
            return self.capture.open()
        with self._lock:
            pooled = self._free.pop() if self._free else self._unheld()
        if pooled is None:
            try:
                pooled = _Pooled.create(self.capture)
            except OSError as error:  # a full disk: the recipe runs all the same
                passed_through(error)
                return _passed(self.capture.stem())
            with self._lock:
                self._all.add(pooled)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
        out = os.open(pooled.paths[0], flags)
        err = out if len(pooled.paths) == 1 else os.open(pooled.paths[1], flags)
        stderr = pooled.paths[1] if len(pooled.paths) > 1 else None
        return Captured(pooled.paths[0], stderr, release=lambda: self._give_back(pooled)), out, err

    def _unheld(self) -> _Pooled | None:
        """A file set aside that nobody else holds now (called with the lock held)."""
        for index, pooled in enumerate(self._held):
            if pooled.reusable():
                return self._held.pop(index)
        return None

    def _give_back(self, pooled: _Pooled) -> None:
        reusable = pooled.reusable()
        with self._lock:
            if reusable:
                self._free.append(pooled)
                return
            if pooled.leases:
                self._held.append(pooled)
                if len(self._held) <= self.HELD:
                    return
                pooled = self._held.pop(0)  # the oldest goes
            self._all.discard(pooled)
        pooled.remove()

    def close(self) -> None:
        with self._lock:
            pooled, self._all, self._free, self._held = self._all, set(), [], []
        for files in pooled:
            files.remove()


@attrs.define(eq=False)
class _Pooled:
    paths: tuple[str, ...]
    masters: tuple[int, ...]  # our own descriptions of the files, for leases and truncation
    leases: bool = True  # False once the file system refused a lease outright

    @classmethod
    def create(cls, capture: Capture) -> _Pooled:
        stem = capture.stem()
        paths = (stem + ".out",) if capture.combined else (stem + ".out", stem + ".err")
        masters: list[int] = []
        flags = os.O_RDWR | _CREATE
        try:
            for path in paths:
                masters.append(os.open(path, flags, 0o600))
        except OSError:
            for master in masters:
                os.close(master)
            raise
        return cls(paths, tuple(masters))

    def reusable(self) -> bool:
        """Whether no other process holds the files, which are then emptied for the next task."""
        for master in self.masters:
            try:
                fcntl.fcntl(master, fcntl.F_SETLEASE, fcntl.F_WRLCK)
            except BlockingIOError:  # another open file description exists
                return False
            except (OSError, AttributeError):  # no leases here: nothing says who holds it
                self.leases = False
                return False
            fcntl.fcntl(master, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        for master in self.masters:
            # Most recipes print nothing: emptying an empty file would still stamp its inode
            # with a new mtime, a journal entry of the file system.
            if os.fstat(master).st_size:
                os.ftruncate(master, 0)
        return True

    def remove(self) -> None:
        for master in self.masters:
            with contextlib.suppress(OSError):
                os.close(master)
        for path in self.paths:
            with contextlib.suppress(OSError):
                os.remove(path)


def _remove_orphans(folder: str) -> None:
    """Remove the capture files of runs that were killed before they could (named by pid)."""
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            pid = name.partition("-")[0]
            if pid.isdigit() and not running(int(pid)):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, name))


def same_file(first: int, second: int) -> bool:
    """Whether two descriptors are one file (a terminal, or ``>log 2>&1``)."""
    try:
        one, two = os.fstat(first), os.fstat(second)
    except OSError:
        return False
    return (one.st_dev, one.st_ino) == (two.st_dev, two.st_ino)


@attrs.frozen
class Captured:
    """One task's captured output: its stdout file, and its stderr file when kept apart."""

    stdout: str
    stderr: str | None = None
    empty: bool = False  # known to hold nothing: no need to open the files to replay them
    # Hands pooled files back for the next task instead of removing them (FilePool).
    release: Callable[[], None] | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.stdout,) if self.stderr is None else (self.stdout, self.stderr)

    def size(self) -> int:
        total = 0
        for path in self.paths:
            with contextlib.suppress(OSError):
                total += os.stat(path).st_size
        return total

    def replay(self, out: IO[Any], err: IO[Any]) -> None:
        """Stream the output to ``out`` (stderr's file to ``err``), each part ending with a
        newline, as make's -O block does."""
        if self.empty:
            return
        for path, stream in zip(self.paths, (out, err), strict=False):
            if copy(path, stream) not in (None, b"\n"):
                stream.write("\n")

    def text(self, limit: int = _CHUNK) -> str:
        """At most ``limit`` bytes of the output as text, for small displays."""
        parts = []
        for path in self.paths:
            with contextlib.suppress(OSError), open(path, "rb") as file:
                parts.append(file.read(limit).decode(errors="replace"))
        return "".join(parts)

    def tail(self, lines: int) -> list[str]:
        """The last ``lines`` lines of output, read from the files' ends."""
        if self.empty:
            return []
        found: list[str] = []
        for path in self.paths:
            found += tail(path, lines)
        return found[-lines:]

    def discard(self) -> None:
        if self.release is not None:
            self.release()
            return
        for path in self.paths:
            with contextlib.suppress(OSError):
                os.remove(path)


def copy(path: str, stream: IO[Any]) -> bytes | None:
    """Stream the file at ``path`` to ``stream`` (binary when it has one underneath); returns
    the last byte written, None when there was nothing."""
    try:
        source = open(path, "rb")  # noqa: SIM115 (closed below, after the loop)
    except OSError:
        return None
    last = None
    with source:
        binary = getattr(stream, "buffer", None)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        if binary is not None:
            stream.flush()  # what was written as text comes first
        while chunk := source.read(_CHUNK):
            last = chunk[-1:]
            if binary is not None:
                binary.write(chunk)
            else:
                stream.write(decoder.decode(chunk))
        if binary is not None:
            binary.flush()
        elif last is not None:
            stream.write(decoder.decode(b"", final=True))
    return last


def tail(path: str, lines: int) -> list[str]:
    """The last ``lines`` lines of a file, reading no more than its last 64 KiB."""
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - 65536))
            data = file.read()
    except OSError:
        return []
    text = data.decode(errors="replace").splitlines()
    if size > 65536 and text:
        text = text[1:]  # the first line read is likely cut
    return text[-lines:]


@contextlib.contextmanager
def at_descriptors(out: int, err: int) -> Iterator[None]:
    """In a worker process, point fds 1 and 2 at a task's files for the duration of a recipe:
    what the recipe prints, and what its child processes and C extensions print, lands there.
    sys.stdout and sys.stderr are pointed there too, whatever the host had put in their place."""
    streams = sys.stdout, sys.stderr
    for stream in streams:
        with contextlib.suppress(Exception):
            stream.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.stdout = open(1, "w", closefd=False, errors="replace")  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, errors="replace", buffering=1)  # noqa: SIM115
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.close()
        sys.stdout, sys.stderr = streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


class _PerThread:
    """A ``sys.stdout`` (or stderr, stdin) that each thread can point elsewhere: recipes on a
    thread executor print into their own task's file, other threads to the real stream."""

    def __init__(self, real: IO[Any]) -> None:
        self.real = real
        self.local = threading.local()

    def _target(self) -> IO[Any]:
        return getattr(self.local, "stream", None) or self.real

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)


_ROUTING_LOCK = threading.Lock()
_routers: dict[str, _PerThread] = {}
_routing_users = 0


@contextlib.contextmanager
def per_thread_streams() -> Iterator[None]:
    """While it lasts, sys.stdout, sys.stderr and sys.stdin may be redirected per thread."""
    global _routing_users
    with _ROUTING_LOCK:
        if _routing_users == 0:
            for name in ("stdout", "stderr", "stdin"):
                router = _PerThread(getattr(sys, name))
                _routers[name] = router
                setattr(sys, name, router)
        _routing_users += 1
    try:
        yield
    finally:
        with _ROUTING_LOCK:
            _routing_users -= 1
            if _routing_users == 0:
                for name, router in _routers.items():
                    if getattr(sys, name) is router:
                        setattr(sys, name, router.real)
                _routers.clear()


@contextlib.contextmanager
def in_this_thread(out: IO[str], err: IO[str], stdin: IO[str]) -> Iterator[None]:
    """Within ``per_thread_streams``: this thread's prints go to ``out``/``err``, reads to
    ``stdin``."""
    streams = {"stdout": out, "stderr": err, "stdin": stdin}
    for name, stream in streams.items():
        _routers[name].local.stream = stream
    try:
        yield
    finally:
        for name in streams:
            _routers[name].local.stream = None
