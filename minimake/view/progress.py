"""What a user sees while a build runs: progress, the reasons under -n, the end-of-run report.

The command line's reporter (ProgressReporter) is a ui.Tee of parts, each told every event:
the progress part (ProgressDisplay), make's lines (ui.ConsoleReporter, or LiveLines beside
the live display) and the run report (report.RunReport, and report.JsonReport for --json).
Where things go (stdout stays make's, so pipes and the make-differential tests see no change):

- stdout: echoed recipes, their output and make's goal lines, as make prints them; under
  ``--json`` the one JSON document instead (the echoes move to stderr).
- stderr: make's errors, and, by ``--progress`` mode: "live" (the default on a terminal) the
  display with finished tasks scrolling above it; "plain" (the default off a terminal) one
  line per finished, failed or skipped task with a recipe (``[3/10] done name (1.2s)``); "off"
  nothing more, so a piped real run prints exactly what make prints. Under ``-n`` each task's
  reason comes before its echo (also off a terminal), and ``-v`` adds it to a real run. "live"
  and "plain" end with the summary and, after failures, the failure report. ``-s`` and ``-q``
  add nothing.
"""

from __future__ import annotations

import codecs
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from minimake.events import NullReporter, Reporter, Tee
from minimake.result import BuildResult, Status, TaskResult
from minimake.view.report import JsonReport, RunReport
from minimake.view.ui import (
    ConsoleReporter,
    PlainConsole,
    console,
    is_plain,
    replay,
    write_line,
)
from minimake.words import duration

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from minimake.errors import MinimakeError
    from minimake.task import Task
    from minimake.uptodate import Reason

SHOWN_RUNNING = 8  # running tasks listed under the bar; the rest are counted
BAR_WIDTH = 30
# The display is redrawn at most this often (seconds of the reporter's clock), not on every
# event: a redraw costs about a millisecond, and a mostly up-to-date 100,000-task build sends
# an event per task. Its own refresh thread keeps it current in between.
REDRAW_EVERY = 0.25
MODES = ("auto", "live", "plain", "off")  # --progress's choices
# Statuses read once per recorded task: a member read through its Enum class costs a call of
# the metaclass's attribute hook (Python 3.11).
_FAILED, _UP_TO_DATE = Status.FAILED, Status.UP_TO_DATE


class Board:
    """The live display's state: counts, the running tasks and when each started.

    Read by the display's refresh thread while the build loop writes it, hence the lock.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.total, self.jobs = 0, 1
        self.begun = clock()
        self.running: dict[str, float] = {}  # name -> when it started
        self.decided = 0  # tasks with a result, whatever it was
        self.failed = 0
        # Recipes finished and their seconds together, for the ETA: running sums, so that an
        # event costs the same at the 100,000th task as at the first.
        self.finished = 0
        self.work = 0.0
        self.expected: dict[str, float] = {}  # seconds the journal recorded, per task
        self._typical: float | None = None  # their median, for tasks it has no figure for
        self._pending: set[str] = set()
        self._pending_seconds = 0.0
        self._lock = threading.Lock()

    def grow(self, tasks: int) -> None:
        """``tasks`` more tasks with a recipe joined the build (an expand_after generator)."""
        with self._lock:
            self.total += tasks

    def begin(self, total: int, jobs: int, expected: Mapping[str, float] | None = None) -> None:
        """``expected``: the duration the journal recorded for each task that has one."""
        with self._lock:
            self.total, self.jobs, self.begun = total, jobs, self.clock()
            self.expected = dict(expected or {})
            self._pending = set(self.expected)  # expected tasks neither started nor decided
            self._pending_seconds = sum(self.expected.values())
            if self.expected:
                import statistics  # only once durations are recorded: none in a first build

                self._typical = statistics.median(self.expected.values())
            else:
                self._typical = None

    def _taken(self, name: str) -> None:
        if name in self._pending:
            self._pending.discard(name)
            self._pending_seconds -= self.expected[name]

    def start(self, name: str) -> None:
        with self._lock:
            self.running[name] = self.clock()
            self._taken(name)

    def finish(self, name: str, seconds: float) -> None:
        with self._lock:
            self.running.pop(name, None)
            self.finished += 1
            self.work += seconds

    def record(self, result: TaskResult) -> int:
        """Count a decided task with a recipe (``total`` counts only those, so the counter ends
        at total/total); returns how many are decided now."""
        with self._lock:
            self.decided += result.has_recipe
            self.failed += result.status is _FAILED
            if self._pending:  # tasks with a recorded duration: none in a first build
                self._taken(result.name)
            return self.decided

    def eta(self) -> float | None:
        """Seconds left: each task's duration from the journal, and for the others the median
        of those (else the mean recipe time of this run so far); None with neither."""
        if self._typical is not None:
            typical = self._typical
        elif self.finished:
            typical = self.work / self.finished
        else:
            return None
        now = self.clock()
        unknown = self.total - self.decided - len(self.running) - len(self._pending)
        left = sum(
            max(self.expected.get(name, typical) - (now - began), 0.0)
            for name, began in self.running.items()
        )
        left += self._pending_seconds + max(unknown, 0) * typical
        # The running sum of pending seconds can end a rounding error below zero: never
        # "ETA -0.0s".
        return max(left, 0.0) / max(self.jobs, 1)

    def renderable(self) -> RenderableType:
        """The bar with its counts and times, then the running tasks with their elapsed time."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            now = self.clock()
            eta = self.eta()
            running = sorted(self.running.items(), key=lambda item: item[1])
            decided, total, failed = self.decided, self.total, self.failed
        # The counts never wrap; the bar takes what the terminal has left, up to BAR_WIDTH.
        line = Table.grid(padding=(0, 1), expand=True)
        line.add_column(max_width=BAR_WIDTH, min_width=5, ratio=1)
        line.add_column(no_wrap=True)
        line.add_row(
            # rich's default bar is a bright pink-red: red here means that something failed.
            ProgressBar(
                total=max(total, 1),
                completed=decided,
                complete_style="red" if failed else "blue",
                finished_style="red" if failed else "green",
            ),
            Text.assemble(
                (f"{decided}/{total} done", "bold"),
                f" · {len(running)} running",
                (f" · {failed} failed", "red" if failed else ""),
                f" · {duration(now - self.begun)} elapsed",
                f" · ETA {duration(eta) if eta is not None else '?'}",
            ),
        )
        rows: list[RenderableType] = [line]
        for name, began in running[:SHOWN_RUNNING]:
            rows.append(Text.assemble("  ▸ ", (name, "cyan"), f"  {duration(now - began)}"))
        if len(running) > SHOWN_RUNNING:
            rows.append(Text(f"  and {len(running) - SHOWN_RUNNING} more", style="dim"))
        return Group(*rows)


def progress_mode(asked: str, *, terminal: bool, silent: bool, pretend: bool) -> str:
    """What the progress part shows: "live", "plain" or "off"; the one place that decides.

    ``asked`` is ``--progress``: "auto" is "live" when stderr is a ``terminal``, else "plain".
    ``silent`` (-s, -q) turns it "off", for make's output only; a run that carries out no
    recipe (``pretend``: -n, -t) never needs a live display, and is "plain".
    """
    if silent:
        return "off"
    if asked not in MODES or asked == "auto":
        asked = "live" if terminal else "plain"
    return "plain" if asked == "live" and pretend else asked


class ProgressDisplay(NullReporter):
    """The progress part: the board, and by ``mode`` the live display on ``err`` (a terminal)
    or one plain line per finished, failed or skipped task with a recipe; the reasons before
    each echo under ``-n`` (``dry_run``), and in a real run under ``-v``. ``pretend``: a run
    that carries out no recipe prints no line per task.
    """

    def __init__(
        self,
        err: Console,
        *,
        mode: str,
        verbose: bool = False,
        dry_run: bool = False,
        pretend: bool = False,
        clock: Callable[[], float] = time.monotonic,
        auto_refresh: bool = True,
    ) -> None:
        self.err, self.mode = err, mode
        self.verbose, self.dry_run, self.pretend = verbose, dry_run, pretend
        self.board = Board(clock)
        self.auto_refresh = auto_refresh
        self._plain = is_plain(err)
        self._live: Live | None = None
        self._next_redraw = -math.inf
        self._paused = False  # a console task runs: no display until it ends

    @property
    def showing(self) -> bool:
        """Whether the live display is on the screen now."""
        return self._live is not None

    def _start_live(self) -> None:
        if self._live is not None or self.mode != "live" or self._paused:
            return
        from rich.live import Live

        self._live = Live(
            get_renderable=self.board.renderable,
            console=self.err,
            auto_refresh=self.auto_refresh,
            refresh_per_second=4,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def _refresh(self) -> None:
        if self._live is None:
            return
        now = self.board.clock()
        if now >= self._next_redraw:
            self._next_redraw = now + REDRAW_EVERY
            self._live.refresh()

    def close(self) -> None:
        """Take the live display off the screen (safe to call twice)."""
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()

    def begin(self, total: int, jobs: int, expected: Mapping[str, float] | None = None) -> None:
        self.board.begin(total, jobs, expected)

    def grew(self, tasks: int) -> None:
        self.board.grow(tasks)

    def started(self, task: Task, reason: Reason, lines: list[str]) -> None:
        self.board.start(task.name)
        if task.console and not self.pretend:
            # It has the terminal to itself (it runs alone): the display waits until it ends.
            self.close()
            self._paused = True
            return
        if self.verbose or (self.dry_run and self.mode != "off"):
            verb = "would run" if self.dry_run else "run"
            said = f": {reason.detailed()}"
            if self._plain:  # a plain line, not a rich Text per task of a long -n
                write_line(self.err, f"{verb} {task.name}{said}", plain=True)
            else:
                from rich.text import Text

                line = Text.assemble((f"{verb} ", "dim"), (task.name, "bold"), said)
                write_line(self.err, line, plain=False)
        self._start_live()
        self._refresh()

    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None:
        self.board.finish(task.name, result.seconds)
        if task.console and self._paused:
            self._paused = False
            self._start_live()
        self._refresh()

    def recorded(self, result: TaskResult) -> None:
        count = self.board.record(result)
        if self._live is not None:
            self._refresh()
            return
        if self.mode != "plain" or self.pretend or not result.has_recipe:
            return
        if result.status is _UP_TO_DATE:  # no line, and no look at what else it might be
            return
        line = _event_line(result)
        if line is not None:
            write_line(self.err, f"[{count}/{self.board.total}] {line}", self._plain)

    def summary(self, result: BuildResult) -> None:
        self.close()


def _event_line(result: TaskResult) -> str | None:
    if result.status is Status.RAN:
        ignored = result.outcome is not None and not result.outcome.ok
        took = duration(result.seconds)
        return f"done {result.name} ({took}{', error ignored' if ignored else ''})"
    if result.status is Status.FAILED:
        return f"FAILED {result.name} ({duration(result.seconds)})"
    if result.status is Status.SKIPPED and result.blocked_by is None:
        return f"not started {result.name} (the build stopped)"
    if result.status is Status.SKIPPED:
        return f"skipped {result.name} (blocked by {result.blocked_by})"
    return None


class LiveLines(ConsoleReporter):
    """make's lines beside the live display: a recipe's echo as one block, and each finished
    task as one block (a ✓ or ✗ header with its time, its output, its errors) that a redraw of
    the display never splits. While the display is down, make's lines as ever."""

    def __init__(
        self,
        out: Console,
        err: Console,
        display: ProgressDisplay,
        *,
        verbose: bool = False,
    ) -> None:
        super().__init__(out, err, verbose=verbose)
        self.display = display

    def started(self, task: Task, reason: Reason, lines: list[str]) -> None:
        if self.display.showing and self.out is self.err and lines:
            self.out.out("\n".join(lines), highlight=False)  # one block, never split by a refresh
        else:
            super().started(task, reason, lines)

    def finished(self, task: Task, result: TaskResult, ignored: bool) -> None:
        if not self.display.showing:
            super().finished(task, result, ignored)
            return
        self._block(task, result, self.complaints(task, result, ignored))

    def retrying(self, task: Task, result: TaskResult, attempts: int) -> None:
        if not self.display.showing:
            super().retrying(task, result, attempts)
            return
        self._block(task, result, self.complaints(task, result, False, attempts))

    def _block(self, task: Task, result: TaskResult, complaints: list[str]) -> None:
        """A finished run of a recipe as one block: a ✓ or ✗ header with its time, its
        output, its errors."""
        from rich.console import Group
        from rich.text import Text

        outcome = result.outcome
        mark, style = ("✓", "green") if outcome is None or outcome.ok else ("✗", "red")
        header = Text.assemble((f"{mark} ", style), (task.name, "bold"))
        header.append(f"  {duration(result.seconds)}", style="dim")
        block: list[Any] = [header]
        size = _output_size(result)
        if size and self.out is self.err and size <= _BLOCK_BYTES:
            block.append(Text(_output_text(result).rstrip("\n")))
        elif size and self.out is self.err:
            # Too long for one block: stream it above the display, a chunk at a time.
            self.err.print(Group(*block), soft_wrap=True)
            block = []
            assert outcome is not None
            assert outcome.captured is not None
            for path in outcome.captured.paths:
                for chunk in _chunks(path):
                    self.out.out(chunk, end="", highlight=False)
        elif size:
            replay(result, self.out.file, self.err.file)
        block += [Text(line, style="red") for line in complaints]
        self.err.print(Group(*block), soft_wrap=True)  # one block, never split by a refresh


class ProgressReporter(Tee):
    """The command line's reporter: make's lines, the progress part and the run report, in a
    Tee; and what the command line says itself (``fatal``, ``note``, ``show``, ``close``).

    ``mode`` is ``--progress`` (see progress_mode); ``stdout`` is the console for the
    ``--json`` document (when ``as_json``) and for listings (default ``out``, which ``--json``
    moves to stderr). ``dry_run`` is ``-n``, and ``pretend`` any run that carries out no recipe
    (``-n``, ``-t``).
    """

    def __init__(
        self,
        out: Console | None = None,
        err: Console | None = None,
        *,
        mode: str = "plain",
        stdout: Console | None = None,
        as_json: bool = False,
        silent: bool = False,
        quiet: bool = False,
        verbose: bool = False,
        dry_run: bool = False,
        pretend: bool = False,
        show_silenced: bool = False,
        goals: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
        auto_refresh: bool = True,
    ) -> None:
        self.out = out or console(sys.stdout)
        self.err = err or console(sys.stderr)
        self.stdout = stdout or self.out
        pretend = pretend or dry_run
        terminal = self.err.is_terminal and not self.err.is_dumb_terminal
        self.mode = progress_mode(mode, terminal=terminal, silent=silent or quiet, pretend=pretend)
        self.display = ProgressDisplay(
            self.err,
            mode=self.mode,
            verbose=verbose,
            dry_run=dry_run,
            pretend=pretend,
            clock=clock,
            auto_refresh=auto_refresh,
        )
        self.board = self.display.board
        self.lines = (
            LiveLines(self.out, self.err, self.display, verbose=verbose)
            if self.mode == "live"
            else ConsoleReporter(
                self.out,
                self.err,
                silent=silent,
                quiet=quiet,
                verbose=verbose,
                show_silenced=show_silenced,
            )
        )
        parts: list[Reporter] = [self.display, self.lines]
        if self.mode != "off":
            work = Status.WOULD_RUN if dry_run else Status.TOUCHED if pretend else Status.RAN
            parts.append(RunReport(self.err, work))
        self.document = JsonReport(self.stdout, goals) if as_json else None
        if self.document is not None:
            parts.append(self.document)
        super().__init__(*parts)

    def fatal(self, error: MinimakeError) -> None:
        """make's fatal error (and under ``--json``, a document that says it)."""
        self.close()
        self.lines.fatal(error)
        if self.document is not None:
            self.document.failed(error)

    def note(self, text: str) -> None:
        """make's "minimake: Entering directory '...'" and the like, on stdout."""
        self.lines.note(text)

    def show(self, lines: list[str]) -> None:
        """Print what was asked for (``--list``, ``--graph``, ``--explain``) on stdout."""
        # Written as rich writes unstyled text, without rich's work per line (seconds for the
        # 100,000 lines of a big --list on a terminal).
        PlainConsole(self.stdout.file).out("\n".join(lines))

    def close(self) -> None:
        """Take the live display off the screen (safe to call twice)."""
        self.display.close()


def for_cli(
    *,
    mode: str = "auto",
    silent: bool,
    quiet: bool,
    verbose: bool,
    dry_run: bool,
    pretend: bool,
    as_json: bool,
    errors_to: IO[str] | None = None,
    show_silenced: bool = False,
    goals: tuple[str, ...] = (),
) -> ProgressReporter:
    """The reporter for the command line, on the real stdout and stderr (``errors_to``: what
    stands for stderr instead, such as stdout when the two are one file).

    When the display is live and stdout is the same terminal, make's stdout lines go through
    the display's console too, so they scroll above it; ``--json`` moves them to stderr, as
    the document takes stdout.
    """
    err = console(sys.stderr if errors_to is None else errors_to)
    stdout = console(sys.stdout)
    terminal = err.is_terminal and not err.is_dumb_terminal
    mode = progress_mode(mode, terminal=terminal, silent=silent or quiet, pretend=pretend)
    out = err if as_json or (mode == "live" and stdout.is_terminal) else stdout
    return ProgressReporter(
        out,
        err,
        mode=mode,
        stdout=stdout,
        as_json=as_json,
        silent=silent,
        quiet=quiet,
        verbose=verbose,
        dry_run=dry_run,
        pretend=pretend,
        show_silenced=show_silenced,
        goals=goals,
    )


# A finished task's output up to this size shows inside its block on the live display.
_BLOCK_BYTES = 64 * 1024


def _output_size(result: TaskResult) -> int:
    outcome = result.outcome
    if outcome is None:
        return 0
    return len(outcome.output) + (outcome.captured.size() if outcome.captured else 0)


def _output_text(result: TaskResult) -> str:
    outcome = result.outcome
    assert outcome is not None
    return outcome.output + (outcome.captured.text() if outcome.captured else "")


def _chunks(path: str) -> Iterator[str]:
    """The file's text in pieces of whole lines: the display redraws between pieces, and a
    piece that ended mid-line would get the bar drawn into that line."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    rest = ""
    with open(path, "rb") as file:
        while chunk := file.read(1 << 16):
            text = rest + decoder.decode(chunk)
            cut = text.rfind("\n") + 1
            rest = text[cut:]
            if cut:
                yield text[:cut]
    rest += decoder.decode(b"", final=True)
    if rest:
        yield rest + "\n"
