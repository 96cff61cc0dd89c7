"""Shell recipes, started by minimake itself as make and ninja start them.

Each line runs in its own session and process group, stdin from /dev/null, stdout and stderr
into the task's capture files. A ``ShellExecutor`` starts lines in the caller's thread and one
reaper thread waits on every running line at once (a pidfd each, in one epoll), starts the next
line of a recipe list, and completes the task's Future. Nothing reads a pipe, so a recipe's
background job that keeps stdout open does not hold the build (make's rule), and output of any
size costs no memory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from typing import Any

import attrs

from minimake.execution.capture import Capture, FilePool
from minimake.execution.recipes import ShellSpec
from minimake.result import Outcome
from minimake.words import exit_words

# make's rule: a line with none of the shell's special characters, whose first word is no
# shell keyword or builtin, is exec'd directly, which saves starting /bin/sh for each simple
# recipe line. echo and printf stay with the shell: /bin/echo reads its options differently.
_SHELL_CHARACTERS = frozenset("#;\"*?[]&|<>(){}$`'\\~!=%^\n")
# One string reads as the list it is; ruff would make it 45 lines.
_SHELL_WORDS = frozenset(
    ". : [ alias bg break case cd command continue echo eval exec exit export false fc fg for "  # noqa: SIM905
    "getopts hash if jobs kill local login logout printf pwd read readonly return set shift "
    "test times trap true type ulimit umask unalias unset wait while".split()
)
# Linux refuses one environment string longer than this (MAX_ARG_STRLEN, the NUL included).
ENV_STRING_LIMIT = 32 * 4096
# make's status for a command that could not be exec'd, whatever the reason (job.c).
_EXEC_FAILED = 127


def argv(line: str) -> list[str]:
    """The command line to run ``line``: its words, when make would exec it directly."""
    words = line.split()
    if words and words[0] not in _SHELL_WORDS and _SHELL_CHARACTERS.isdisjoint(line):
        return words
    return ["/bin/sh", "-c", line]


class _Child:
    """One running recipe line: a process leading its own group (or in the worker's)."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid, self._popen = pid, popen

    def wait(self) -> int:
        """Reap the process; its status as subprocess reports it (-N for signal N)."""
        if self._popen is not None:
            return self._popen.wait()
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


class Launcher:
    """Starts recipe lines: posix_spawn where the recipe runs in our own working directory (a
    vfork and an exec, the environment encoded in C), subprocess.Popen elsewhere."""

    def __init__(self) -> None:
        self.folder = os.getcwd()
        self.stdin = _above_stdio(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))

    def close(self) -> None:
        os.close(self.stdin)

    def start(
        self, words: list[str], cwd: str, env: dict[str, str], out: int, err: int, session: bool
    ) -> _Child:
        try:
            return self._start(words, cwd, env, out, err, session)
        except OSError as error:
            if error.errno != errno.ENOEXEC:
                raise
            # A script with no #! line: the shell runs it, as execvp does for make.
            return self._start(["/bin/sh", *words], cwd, env, out, err, session)

    def _start(
        self, words: list[str], cwd: str, env: dict[str, str], out: int, err: int, session: bool
    ) -> _Child:
        if cwd == self.folder:
            actions = [
                (os.POSIX_SPAWN_DUP2, self.stdin, 0),
                (os.POSIX_SPAWN_DUP2, out, 1),
                (os.POSIX_SPAWN_DUP2, err, 2),
            ]
            pid = os.posix_spawnp(words[0], words, env, file_actions=actions, setsid=session)
            return _Child(pid)
        popen = subprocess.Popen(
            words,
            cwd=cwd,
            env=env,
            stdin=self.stdin,
            stdout=out,
            stderr=err,
            start_new_session=session,
        )
        return _Child(popen.pid, popen)


def _above_stdio(fd: int) -> int:
    """``fd`` moved above 0, 1 and 2, which a child's redirections overwrite."""
    if fd > 2:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    return moved


class _Job:
    """One shell recipe on its way through its lines."""

    def __init__(
        self,
        spec: ShellSpec,
        base: Mapping[str, str],
        launcher: Launcher,
        files: FilePool | None = None,
        session: bool = True,
    ) -> None:
        self.spec = spec
        self.launcher = launcher
        self.session = session  # each line in a session of its own, or in the worker's group
        self.started = time.perf_counter()
        self.captured, out, err = files.take() if files else spec.capture.open()
        self.out = _above_stdio(out)
        self.err = self.out if err == out else _above_stdio(err)
        self.extra: list[str] = []  # files holding variables too long for the environment
        self.env = self._environment(base)
        self.index = 0
        self.failed: int | None = None  # the first failing line's status
        self.process: _Child | None = None

    def _environment(self, base: Mapping[str, str]) -> dict[str, str]:
        env = {**base, **dict(self.spec.env)}
        for name, words in self.spec.lists:
            value = " ".join(words)
            if len(name) + len(value) + 2 <= ENV_STRING_LIMIT:
                env[name] = value
                continue
            # Too long for one environment string: the list goes into a file, one per line.
            path = f"{self.captured.stdout}.{name.lower()}"
            with open(path, "w", encoding="utf-8") as file:
                file.writelines(word + "\n" for word in words)
            self.extra.append(path)
            env.pop(name, None)
            env[f"{name}_FILE"] = path
        return env

    def start_line(self) -> _Child | None:
        """Start the next line that can run; None when the recipe is over."""
        commands = self.spec.commands
        while self.index < len(commands) and (self.failed is None or self.spec.ignore_errors):
            line = commands[self.index]
            if self.index and self.spec.echo:
                os.write(self.out, (line + "\n").encode())
            self.index += 1
            words = argv(line)
            try:
                self.process = self.launcher.start(
                    words, self.spec.cwd, self.env, self.out, self.err, self.session
                )
                return self.process
            except OSError as error:
                if error.errno in (errno.EAGAIN, errno.ENOMEM):
                    raise  # no room for a process: not the command's fault
                # make's child says why exec failed on its stderr and exits 127.
                os.write(self.err, f"minimake: {words[0]}: {error.strerror}\n".encode())
                self.ended(_EXEC_FAILED)
        return None

    def ended(self, status: int) -> None:
        self.process = None
        if status != 0 and self.failed is None:
            self.failed = status
        if status != 0 and self.spec.ignore_errors:
            # make says so right after the failing line, before the next one runs.
            said = f"minimake: {self.spec.where} {exit_words(status)} (ignored)\n"
            os.write(self.err, said.encode())

    def outcome(self) -> Outcome:
        captured = self.captured
        # Most recipes print nothing: say so, and nobody opens the files again to find out.
        empty = all(os.fstat(fd).st_size == 0 for fd in {self.out, self.err})
        if empty:
            captured = attrs.evolve(captured, empty=True)
        os.close(self.out)
        if self.err != self.out:
            os.close(self.err)
        for path in self.extra:
            with contextlib.suppress(OSError):
                os.remove(path)
        seconds = time.perf_counter() - self.started
        if self.failed is None:
            return Outcome(ok=True, seconds=seconds, captured=captured)
        said = self.spec.ignore_errors
        if self.failed < 0:
            return Outcome(
                ok=False, signal=-self.failed, seconds=seconds, captured=captured, reported=said
            )
        return Outcome(
            ok=False, returncode=self.failed, seconds=seconds, captured=captured, reported=said
        )

    def abandon(self, error: BaseException) -> Outcome:
        with contextlib.suppress(OSError):
            os.write(self.err, f"minimake: {error}\n".encode())
        self.failed = self.failed or 1
        return self.outcome()


def run(spec: ShellSpec) -> Outcome:
    """Run a shell recipe to its end in this thread, in the process group of this worker of
    another executor (which stops a recipe by stopping its own group)."""
    launcher = Launcher()
    job = _Job(spec, os.environ, launcher, session=False)
    try:
        while (process := job.start_line()) is not None:
            job.ended(process.wait())
    except BaseException:
        if job.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.process.pid, 9)
            job.process.wait()
        job.outcome()
        raise
    finally:
        launcher.close()
    return job.outcome()


class ShellExecutor(Executor):
    """Runs ``spawn.run`` for shell recipes without a thread or process per recipe.

    ``submit(spawn.run, spec)`` returns at once; the recipe's Future completes when its last
    line ends. ``started`` (task name, process group) is told of each line's group as it starts.
    """

    def __init__(self, started: Callable[[str, int], None] | None = None) -> None:
        self._base = dict(os.environ)
        self._started = started
        self._lock = threading.Lock()
        self._jobs: dict[int, tuple[_Job, Future[Outcome]]] = {}  # pidfd -> job
        self._epoll: select.epoll | None = None
        self._wake_read, self._wake_write = -1, -1
        self._thread: threading.Thread | None = None
        self._closing = False
        self._launcher = Launcher()
        self._files: dict[Capture, FilePool] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if fn is not run or len(args) != 1 or kwargs or not isinstance(args[0], ShellSpec):
            raise TypeError("a ShellExecutor runs only spawn.run(ShellSpec)")
        future: Future[Outcome] = Future()
        future.set_running_or_notify_cancel()
        spec: ShellSpec = args[0]
        files = self._files.get(spec.capture)
        if files is None:
            files = self._files[spec.capture] = FilePool(spec.capture)
        try:
            job = _Job(spec, self._base, self._launcher, files)
        except OSError as error:  # no room for the capture files
            future.set_result(Outcome(ok=False, error=f"{type(error).__name__}: {error}"))
            return future
        self._next(job, future)
        return future

    def running_groups(self) -> set[int]:
        """The process group of every line running now."""
        with self._lock:
            return {job.process.pid for job, _ in self._jobs.values() if job.process is not None}

    def _next(self, job: _Job, future: Future[Outcome]) -> None:
        """Start the job's next line, or complete its Future when there is none."""
        try:
            process = job.start_line()
        except OSError as error:  # fork failed: out of processes or memory
            future.set_result(job.abandon(error))
            return
        if process is None:
            future.set_result(job.outcome())
            return
        if self._started is not None:
            self._started(job.spec.name, process.pid)
        self._watch(job, future, process)

    def _watch(self, job: _Job, future: Future[Outcome], process: _Child) -> None:
        try:
            pidfd = os.pidfd_open(process.pid)
        except (AttributeError, OSError):  # no pidfds here: a thread waits for this one line
            threading.Thread(target=self._wait_one, args=(job, future), daemon=True).start()
            return
        with self._lock:
            self._jobs[pidfd] = (job, future)
            if self._thread is None:
                self._start_reaper()
            assert self._epoll is not None
            self._epoll.register(pidfd, select.EPOLLIN)

    def _start_reaper(self) -> None:
        self._epoll = select.epoll()
        self._wake_read, self._wake_write = os.pipe2(os.O_CLOEXEC)
        self._epoll.register(self._wake_read, select.EPOLLIN)
        self._thread = threading.Thread(target=self._reap, name="minimake-reaper", daemon=True)
        self._thread.start()

    def _wait_one(self, job: _Job, future: Future[Outcome]) -> None:
        assert job.process is not None
        job.ended(job.process.wait())
        self._next(job, future)

    def _reap(self) -> None:
        assert self._epoll is not None
        while True:
            events = self._epoll.poll()
            for fd, _ in events:
                if fd == self._wake_read:
                    return
                with self._lock:
                    job, future = self._jobs.pop(fd)
                    self._epoll.unregister(fd)
                os.close(fd)
                assert job.process is not None
                job.ended(job.process.wait())
                self._next(job, future)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            pending = [future for _, future in self._jobs.values()]
        if wait:
            for future in pending:
                future.result()
        for files in self._files.values():
            files.close()
        self._launcher.close()
        if self._thread is None:
            return
        os.write(self._wake_write, b"x")
        self._thread.join()
        assert self._epoll is not None
        self._epoll.close()
        for fd in (self._wake_read, self._wake_write, *self._jobs):
            with contextlib.suppress(OSError):
                os.close(fd)
