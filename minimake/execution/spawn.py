"""Shell recipes, started by minimake itself as make and ninja start them.

Each line runs in its own session and process group, stdin from /dev/null, stdout and stderr
into the task's capture files. A ``ShellExecutor`` starts lines in the caller's thread; the
thread that waits for recipes (the scheduler's) waits on every running line at once (a pidfd
each, in one epoll), starts the next line of a recipe list, and completes the task's Future.
Nothing reads a pipe, so a recipe's background job that keeps stdout open does not hold the
build (make's rule), and output of any size costs no memory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import queue
import select
import signal
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Executor, Future
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED
from typing import TYPE_CHECKING, Any

from minimake import script
from minimake.execution.capture import Capture, Captured, FilePool
from minimake.execution.groups import DEFAULT_SIGNALS, TERM_GRACE
from minimake.execution.latency import short_slice
from minimake.execution.recipes import ShellSpec
from minimake.interrupts import deferred
from minimake.result import Outcome
from minimake.words import exit_words

if TYPE_CHECKING:
    import subprocess

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
ENV_STRING_LIMIT = script.ENV_STRING_LIMIT
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
        self.status: int | None = None  # once reaped

    def wait(self) -> int:
        """Reap the process; its status as subprocess reports it (-N for signal N)."""
        if self.status is None:
            if self._popen is not None:
                self.status = self._popen.wait()
            else:
                self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.status


class Launcher:
    """Starts recipe lines: posix_spawn where the recipe runs in our own working directory (a
    vfork and an exec, the environment encoded in C), subprocess.Popen elsewhere."""

    def __init__(self) -> None:
        self.folder = os.getcwd()
        self.stdin = _above_stdio(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))

    def close(self) -> None:
        os.close(self.stdin)

    def start(
        self,
        words: list[str],
        cwd: str,
        env: dict[str, str],
        out: int,
        err: int,
        session: bool,
        stdin: int | None = None,
    ) -> _Child:
        """Start one line; ``stdin``: its standard input (default /dev/null)."""
        try:
            return self._start(words, cwd, env, out, err, session, stdin)
        except OSError as error:
            if error.errno != errno.ENOEXEC:
                raise
            # A script with no #! line: the shell runs it, as execvp does for make.
            return self._start(["/bin/sh", *words], cwd, env, out, err, session, stdin)

    def _start(
        self,
        words: list[str],
        cwd: str,
        env: dict[str, str],
        out: int,
        err: int,
        session: bool,
        stdin: int | None = None,
    ) -> _Child:
        stdin = self.stdin if stdin is None else stdin
        if cwd == self.folder:
            actions = [
                (os.POSIX_SPAWN_DUP2, stdin, 0),
                (os.POSIX_SPAWN_DUP2, out, 1),
                (os.POSIX_SPAWN_DUP2, err, 2),
            ]
            pid = os.posix_spawnp(
                words[0],
                words,
                env,
                file_actions=actions,
                setsid=session,
                setsigdef=DEFAULT_SIGNALS,
            )
            return _Child(pid)
        import subprocess  # a recipe in another folder only: no start-up cost for the rest

        popen = subprocess.Popen(
            words,
            cwd=cwd,
            env=env,
            stdin=stdin,
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
        if spec.console:  # the terminal's, not the capture files (left empty)
            os.close(out)
            if err != out:
                os.close(err)
            out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
            err = fcntl.fcntl(2, fcntl.F_DUPFD_CLOEXEC, 3)
            self.session = False
        self.out = _above_stdio(out)
        self.err = self.out if err == out else _above_stdio(err)
        self.extra: list[str] = []  # files holding variables too long for the environment
        self.env = self._environment(base)
        self.index = 0
        self.failed: int | None = None  # the first failing line's status
        self.process: _Child | None = None
        # Its time limit: when its line gets SIGTERM, then when SIGKILL (after a grace).
        self.deadline = None if spec.timeout is None else self.started + spec.timeout
        self.killing: float | None = None
        self.timed_out = False

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
        while (
            self.index < len(commands)
            and (self.failed is None or self.spec.ignore_errors)
            and not self.timed_out
        ):
            line = commands[self.index]
            if self.index and self.spec.echo:
                echoed = self.spec.shown[self.index] if self.spec.shown else line
                os.write(self.out, (echoed + "\n").encode())
            self.index += 1
            words = argv(line)
            try:
                self.process = self.launcher.start(
                    words,
                    self.spec.cwd,
                    self.env,
                    self.out,
                    self.err,
                    self.session,
                    stdin=0 if self.spec.console else None,
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
        out, err = self.out, self.err
        if os.fstat(out).st_size == 0 and (err == out or os.fstat(err).st_size == 0):
            captured = Captured(captured.stdout, captured.stderr, True, captured.release)
        os.close(self.out)
        if self.err != self.out:
            os.close(self.err)
        for path in self.extra:
            with contextlib.suppress(OSError):
                os.remove(path)
        seconds = time.perf_counter() - self.started
        if self.timed_out:
            limit = self.spec.timeout
            return Outcome(ok=False, timed_out=limit, seconds=seconds, captured=captured)
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

    def enforce(self, now: float) -> float | None:
        """Past its time limit, SIGTERM to its line's group, and SIGKILL after the grace
        period; when to look again (perf_counter time), or None."""
        if self.killing is not None and now >= self.killing:
            self.killing = None
            self._signal(signal.SIGKILL)
        elif self.deadline is not None and now >= self.deadline:
            self.deadline, self.timed_out = None, True
            self.killing = now + TERM_GRACE
            self._signal(signal.SIGTERM)
        return self.killing or self.deadline

    def _signal(self, signum: int) -> None:
        if self.process is not None and self.process.status is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)

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

    ``submit(spawn.run, spec)`` starts the recipe's first line and returns at once. Nothing
    runs in a thread of its own: the thread that waits (``wait``, a Future's ``result``, or
    ``shutdown``) reaps each line that ended, starts the recipe's next line, and completes the
    recipe's Future when its last line ends, so that the scheduler's loop, which both decides
    and waits, hands nothing from one thread to another between recipes (on two cores each
    hand-over cost about as much as starting the next recipe). ``started`` (task name,
    process group) is told of each line's group as it starts. ``wake`` (any thread) ends a
    ``wait`` early, for a Future that another executor completed.
    """

    def __init__(self, started: Callable[[str, int], None] | None = None) -> None:
        self._base = dict(os.environ)
        self._started = started
        self._jobs: dict[int, tuple[_Job, Future[Outcome]]] = {}  # pidfd (or -pid) -> job
        self._epoll = select.epoll()
        self._wake = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._epoll.register(self._wake, select.EPOLLIN)
        # Python writes each signal's number here while wait() runs (signal.set_wakeup_fd):
        # the kernel may hand a signal to any thread (a Python recipe's, the pool's), and the
        # main thread, asleep in epoll, would not run its handler until a recipe ended.
        self._signals, self._signalled = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._epoll.register(self._signals, select.EPOLLIN)
        # Lines whose end a thread saw, where the system has no pidfds: their keys (-pid).
        self._exited: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._driving = threading.Lock()  # one thread reaps at a time
        # Held to write the wake-up eventfd and to close it: another executor's thread may
        # wake us at any moment, and must never write into a closed (or reused) descriptor.
        self._waking = threading.Lock()
        # Recipes with a time limit, which wait() looks at as their deadlines pass.
        self._limited: set[_Job] = set()
        self._closed = False
        self._stopping = False  # stopped: no recipe starts another line
        self._launcher = Launcher()
        self._files: dict[Capture, FilePool] = {}
        # The waiting thread's short slice, from the first recipe to shutdown (latency.py).
        self._hint: contextlib.ExitStack | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if fn is not run or len(args) != 1 or kwargs or not isinstance(args[0], ShellSpec):
            raise TypeError("a ShellExecutor runs only spawn.run(ShellSpec)")
        if self._closed:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if self._hint is None:
            self._hint = contextlib.ExitStack()
            self._hint.enter_context(short_slice())
        future: Future[Outcome] = _DrivenFuture(self)
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
        if job.deadline is not None:
            self._limited.add(job)
        self._next(job, future)
        return future

    def running_groups(self) -> set[int]:
        """The process group of every line running now."""
        return {job.process.pid for job, _ in list(self._jobs.values()) if job.process}

    def wake(self) -> None:
        """End the current ``wait`` now (callable from any thread, even after shutdown)."""
        with self._waking:
            if not self._closed:
                os.eventfd_write(self._wake, 1)

    def stop_lines(self) -> None:
        """Start no further line of any recipe: each one whose line ends is over (the build is
        being stopped; without this, ``-i`` would go on to the next line of a killed one)."""
        self._stopping = True

    def wait(
        self, futures: Collection[Future[Any]], timeout: float | None = None
    ) -> set[Future[Any]]:
        """Reap lines as they end until one of ``futures`` is done, or ``timeout`` seconds
        pass; the done ones."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._driving:
            previous = _wake_on_signals(self._signalled)
            try:
                while True:
                    done = {future for future in futures if future.done()}
                    if done:
                        return done
                    left = -1.0 if deadline is None else deadline - time.monotonic()
                    if deadline is not None and left <= 0:
                        return done
                    if self._limited:
                        left = self._enforce(left)
                    for fd, _ in self._epoll.poll(left):
                        if fd == self._wake:
                            self._woken()
                            continue
                        if fd == self._signals:  # its handler runs as this loop goes on
                            with contextlib.suppress(BlockingIOError):
                                os.read(self._signals, 4096)
                            continue
                        self._epoll.unregister(fd)
                        os.close(fd)
                        self._ended(fd)
            finally:
                if previous is not None:
                    signal.set_wakeup_fd(previous)

    def _enforce(self, left: float) -> float:
        """Stop the recipes past their time limits; how long to wait at most (-1: forever)."""
        now = time.perf_counter()
        for job in list(self._limited):
            when = job.enforce(now)
            if when is None:
                self._limited.discard(job)
            elif left < 0 or when - now < left:
                left = max(0.0, when - now)
        return left

    def _woken(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self._wake)
        while not self._exited.empty():
            self._ended(self._exited.get())

    def _ended(self, key: int) -> None:
        job, future = self._jobs.pop(key)
        assert job.process is not None
        try:
            job.ended(job.process.wait())
        except BaseException:
            self._stranded(job, future)
            raise
        self._next(job, future)

    def _next(self, job: _Job, future: Future[Outcome]) -> None:
        """Start the job's next line, or complete its Future when there is none; a signal
        meanwhile is raised once the line is watched, where a stop reaches it."""
        with deferred:
            self._start_next(job, future)

    def _start_next(self, job: _Job, future: Future[Outcome]) -> None:
        try:
            process = None if self._stopping else job.start_line()
        except OSError as error:  # fork failed: out of processes or memory
            self._limited.discard(job)
            future.set_result(job.abandon(error))
            return
        except BaseException:
            self._stranded(job, future)
            raise
        if process is None:
            self._limited.discard(job)
            future.set_result(job.outcome())
            return
        try:
            if self._started is not None:
                self._started(job.spec.name, process.pid)
        finally:  # watched whatever happens: a line nobody waits for would escape a stop
            self._watch(job, future, process)

    def _stranded(self, job: _Job, future: Future[Outcome]) -> None:
        """After an interrupt (Ctrl-C's KeyboardInterrupt) between a job's lines: a line still
        to reap is watched again, so that a stop reaches its group and a wait reaps it; else
        the job is over, so that nobody waits for a Future that nothing would complete."""
        process = job.process
        if process is not None:
            if process.status is None:
                self._watch(job, future, process)
                return
            job.ended(process.status)  # reaped, and its status not taken yet
        if not future.done():
            future.set_result(job.outcome())

    def _watch(self, job: _Job, future: Future[Outcome], process: _Child) -> None:
        try:
            pidfd = os.pidfd_open(process.pid)
        except (AttributeError, OSError):  # no pidfds here: a thread waits for this one line
            self._jobs[-process.pid] = (job, future)
            threading.Thread(target=self._await, args=(process.pid,), daemon=True).start()
            return
        self._jobs[pidfd] = (job, future)
        self._epoll.register(pidfd, select.EPOLLIN)

    def _await(self, pid: int) -> None:
        # WNOWAIT: the line stays a zombie for the reaping thread, which takes its status.
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        self._exited.put(-pid)
        self.wake()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._closed:
            return
        if wait:
            while pending := [future for _, future in self._jobs.values()]:
                self.wait(pending)
        with self._waking:
            self._closed = True
        if self._hint is not None:
            self._hint.close()
        for files in self._files.values():
            files.close()
        self._launcher.close()
        self._epoll.close()
        for fd in (self._wake, self._signals, self._signalled, *(k for k in self._jobs if k >= 0)):
            with contextlib.suppress(OSError):
                os.close(fd)


def _wake_on_signals(fd: int) -> int | None:
    """Have Python write to ``fd`` on every signal; the descriptor it wrote to before, to put
    back, or None where that cannot be set (a thread other than the main one, where no
    handler runs anyway)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    except ValueError:
        return None


# The states in which Future.done() is true.
_DONE_STATES = frozenset((CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED))


class _DrivenFuture(Future[Outcome]):
    """A recipe's Future that, asked for its result before it is done, reaps lines until it
    is: nothing else completes it when no scheduler waits."""

    def __init__(self, executor: ShellExecutor) -> None:
        super().__init__()
        self._executor = executor

    # Asked several times per recipe by the loop that waits: read without taking the Future's
    # lock. Its state only moves forward, so an unlocked read can only lag, as a locked read
    # taken a moment earlier would.
    def done(self) -> bool:
        return self._state in _DONE_STATES

    def result(self, timeout: float | None = None) -> Outcome:
        if self._state == FINISHED and self._exception is None:
            return self._result  # type: ignore[return-value]  # set before the state moved
        self._reap_until_done(timeout)
        return super().result(timeout=0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._reap_until_done(timeout)
        return super().exception(timeout=0)

    def _reap_until_done(self, timeout: float | None) -> None:
        if not self.done():
            self._executor.wait((self,), timeout)
