"""The build journal: ``.minimake/journal``, what each run started, spawned and finished.

An append-only text log, one record per line, like ninja's ``.ninja_log``: a run appends a
record with one ``write()`` when a recipe starts, when its process group starts and when it
ends, and every run reads the whole file at start. A record is in the kernel's page cache as
soon as ``write()`` returns, so a ``kill -9`` at any instant loses nothing but the record being
written; a last line without its newline (a torn record) and any line that does not parse are
ignored, never fatal. When the log holds several times more lines than live facts it is
rewritten (to a temporary file, then renamed), so its size stays bounded by the project's.

Records (tab-separated; names escaped so that a tab or newline in a name cannot split one):

    s  NAME  PID  BEFORE     the recipe of NAME starts in run PID; BEFORE (JSON) holds its
                             targets' mtimes just before, to tell later what it changed
    g  NAME  PGID  START     a process group started for NAME; its leader started at most
                             START_SLACK before START (clock ticks since boot, the unit of
                             /proc/PGID/stat field 22), so a reused pid is never hit
    d  NAME  SECONDS  SIG    NAME finished: its duration and recipe signature ("-": none)
    f  NAME                  NAME ended without success (its changed targets were deleted)
    x                        no process group recorded above this line is alive any more
    r  NAME  TRIAL           NAME, a task with params or metrics, finished (or failed): TRIAL
                             (JSON) holds them with its status, duration and end; kept for
                             --results after the task is no longer declared, until
                             --forget-results
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping

import attrs

from minimake.errors import JournalError
from minimake.results import Trial

FOLDER = ".minimake"
JOURNAL = "journal"
HEADER = "# minimake journal 1\n"
# Rewrite the log when it holds this many times more lines than live facts (and is not tiny).
COMPACT_RATIO, COMPACT_MIN = 4, 1000
# A group's START is the boot clock read just after its leader started: reading /proc for the
# leader's own start time instead cost a file read per recipe, a tenth of a trivial recipe's
# cost to minimake. The leader started at most this long before (a spawn slower than that
# leaves a group unstopped after a crash, never a stranger's stopped).
START_SLACK = 100  # clock ticks: a second at Linux's USER_HZ of 100
_TICK_NS = 10**9 // os.sysconf("SC_CLK_TCK")


@attrs.frozen
class Marker:
    """A recipe started and never ended: the run that started it, and its targets before."""

    pid: int
    before: tuple[tuple[str, int | None], ...] = ()


@attrs.frozen
class Group:
    """A process group a run started for a task; its leader started at most START_SLACK
    clock ticks before ``start``."""

    task: str
    pgid: int
    start: int


class Journal:
    """The journal of one project folder, read at open; writes only when ``writable``.

    ``durations``, ``signatures`` and ``markers`` are what earlier runs left; a read-only
    journal (``-n``, ``-q``, ``--explain``) answers the same questions and records nothing.
    A write that fails (a full disk) sets ``failure`` and ends the writing, never raises:
    it happens in the middle of starting or reaping a recipe, where whoever drives the build
    looks at ``failure`` between steps.
    """

    failure: JournalError | None = None

    def __init__(self, root: str, *, writable: bool) -> None:
        self.folder = os.path.join(root, FOLDER)
        self.path = os.path.join(self.folder, JOURNAL)
        self.writable = writable
        self.durations: dict[str, float] = {}
        self.signatures: dict[str, str] = {}  # task -> the signature's text, parsed on demand
        self.markers: dict[str, Marker] = {}
        self.groups: list[Group] = []
        # task -> its newest trial's text, parsed on demand (--results, the params trigger)
        self.trials: dict[str, str] = {}
        self.lines = 0
        self._fd: int | None = None
        self._pid = os.getpid()
        self._clock_agrees: bool | None = None  # whether the boot clock matches /proc here
        data = _read(self.path)
        if data:
            self._parse(data)
        if writable:
            os.makedirs(self.folder, exist_ok=True)
            if data and not data.endswith(b"\n"):
                os.truncate(self.path, data.rfind(b"\n") + 1)  # drop the torn record
            fresh = not data.startswith(HEADER.encode())
            if fresh:  # a new file, or one of an unknown version: start over
                self._rewrite(None)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC)

    # --- reading

    def _parse(self, data: bytes) -> None:
        if not data.startswith(HEADER.encode()):
            return
        durations, signatures, markers = self.durations, self.signatures, self.markers
        text = data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        lines.pop()  # the text after the last newline: empty, or a torn record
        self.lines = len(lines)
        for line in lines[1:]:
            fields = line.split("\t")
            kind = fields[0]
            try:
                if kind == "d" and len(fields) == 4:
                    name = _unescape(fields[1])
                    seconds = float(fields[2])
                    if math.isfinite(seconds):
                        durations[name] = seconds
                    if fields[3] != "-":
                        signatures[name] = fields[3]
                    markers.pop(name, None)
                elif kind == "s" and len(fields) == 4:
                    before = tuple((str(p), m) for p, m in json.loads(fields[3]))
                    markers[_unescape(fields[1])] = Marker(int(fields[2]), before)
                elif kind == "f" and len(fields) == 2:
                    markers.pop(_unescape(fields[1]), None)
                elif kind == "g" and len(fields) == 4:
                    self.groups.append(Group(_unescape(fields[1]), int(fields[2]), int(fields[3])))
                elif kind == "x":
                    self.groups.clear()
                elif kind == "r" and len(fields) == 3:
                    self.trials[_unescape(fields[1])] = fields[2]
            except (ValueError, TypeError):
                continue  # a damaged record says nothing

    def durations_of(self, names: Iterable[str]) -> dict[str, float]:
        """The recorded duration of each of ``names`` that has one."""
        durations = self.durations
        return {name: durations[name] for name in names if name in durations}

    def signature(self, name: str) -> str | None:
        """The recorded signature text of ``name``'s recipe, if any."""
        return self.signatures.get(name)

    def trial(self, name: str) -> Trial | None:
        """The newest recorded trial of ``name``, if any (a damaged record is none)."""
        text = self.trials.get(name)
        return Trial.loads(name, text) if text is not None else None

    # --- writing

    def _append(self, record: str) -> None:
        if self._fd is not None:
            data = record.encode()
            # One write() per record: the kernel keeps it whole whatever happens to us next.
            try:
                written = os.write(self._fd, data)
            except OSError as error:
                self._broken(error.strerror or str(error))
                return
            if written != len(data):  # the disk filled up within the record
                self._broken(os.strerror(errno.ENOSPC))

    def _broken(self, problem: str) -> None:
        """Stop writing: a record after a lost one could say what is no longer true. A torn
        last record is dropped when the journal is next read."""
        self.failure = JournalError(os.path.join(FOLDER, JOURNAL), problem)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def started(self, name: str, before: Mapping[str, float | None]) -> None:
        """The recipe of ``name`` starts now; ``before`` are its targets' mtimes (ns)."""
        pairs = [[path, None if m is None else int(m)] for path, m in before.items()]
        self._append(f"s\t{_escape(name)}\t{self._pid}\t{json.dumps(pairs)}\n")

    def spawned(self, task_name: str, pgid: int) -> None:
        """A process group was started for ``task_name``; recorded so that a later run can stop
        it if this run dies first. ``pgid`` is the pid of the group's leader, started just now."""
        now = ticks()
        start: int | None = now
        if self._clock_agrees is not True:
            # Checked against /proc once a run: where /proc counts otherwise, it is read.
            real = process_start(pgid)
            if self._clock_agrees is None and real is not None:
                self._clock_agrees = _started_by(real, now)
            if self._clock_agrees is False:
                start = real
        if start is not None:
            self.groups.append(Group(task_name, pgid, start))
            self._append(f"g\t{_escape(task_name)}\t{pgid}\t{start}\n")

    def finished(self, name: str, seconds: float | None, signature: str | None) -> None:
        """``name`` succeeded after ``seconds``, with the recipe whose signature is given."""
        if signature is not None:
            self.signatures[name] = signature
        if seconds is not None:
            self.durations[name] = seconds
        shown = repr(round(seconds, 6)) if seconds is not None else "nan"
        self._append(f"d\t{_escape(name)}\t{shown}\t{signature or '-'}\n")

    def recorded(self, trial: Trial) -> None:
        """A task with params or metrics finished: keep what it was and what it scored."""
        text = trial.dumps()
        self.trials[trial.name] = text
        self._append(f"r\t{_escape(trial.name)}\t{text}\n")

    def forget_trials(self) -> int:
        """Drop every recorded trial (``--forget-results``); returns how many there were."""
        count = len(self.trials)
        if count and self.writable:
            self.trials.clear()
            self._rewrite(None)
            if self._fd is not None:  # the rewrite replaced the file this appended to
                os.close(self._fd)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        return count

    def ended(self, name: str) -> None:
        """``name`` ended without success; what it changed was deleted."""
        self._append(f"f\t{_escape(name)}\n")

    def settled(self, name: str) -> None:
        """The targets of interrupted ``name`` were dealt with: still stale, nothing to delete."""
        marker = self.markers.get(name)
        if marker is not None:
            self.markers[name] = Marker(marker.pid)
            self._append(f"s\t{_escape(name)}\t{marker.pid}\t[]\n")

    def groups_gone(self) -> None:
        """Every process group recorded so far is known to be gone."""
        if self.groups:  # a null build writes nothing
            self.groups.clear()
            self._append("x\n")

    def compact(self, keep: Iterable[str] | None = None) -> bool:
        """Rewrite the log with only its live facts when it has grown several times larger.

        ``keep``: the task names still declared (facts about the others are dropped).
        """
        live = len(self.durations) + len(self.markers) + len(self.groups) + len(self.trials)
        if not self.writable or self.lines < max(COMPACT_MIN, COMPACT_RATIO * live):
            return False
        try:
            self._rewrite(set(keep) if keep is not None else None)
        except OSError as error:  # the log as it was stays whole
            self._broken(error.strerror or str(error))
            return False
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC)
        return True

    def _rewrite(self, keep: set[str] | None) -> None:
        records = [HEADER]
        for name, seconds in self.durations.items():
            if keep is None or name in keep:
                signature = self.signatures.get(name) or "-"
                records.append(f"d\t{_escape(name)}\t{seconds!r}\t{signature}\n")
        for name, signature in self.signatures.items():
            if name not in self.durations and (keep is None or name in keep):
                records.append(f"d\t{_escape(name)}\tnan\t{signature}\n")
        for name, marker in self.markers.items():
            pairs = json.dumps([list(pair) for pair in marker.before])
            records.append(f"s\t{_escape(name)}\t{marker.pid}\t{pairs}\n")
        for group in self.groups:
            records.append(f"g\t{_escape(group.task)}\t{group.pgid}\t{group.start}\n")
        # Trials outlive their declaration (--results=all): ``keep`` does not apply.
        for name, text in self.trials.items():
            records.append(f"r\t{_escape(name)}\t{text}\n")
        partial = self.path + ".partial"
        try:
            with open(partial, "w", encoding="utf-8") as file:
                file.write("".join(records))
        except OSError:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise
        os.replace(partial, self.path)  # a kill mid-rewrite leaves the old log whole
        self.lines = len(records)

    def close(self) -> None:
        """The run ended cleanly: its groups are gone; stop writing."""
        if self._fd is not None:
            self.groups_gone()
            os.close(self._fd)
            self._fd = None


class NullJournal(Journal):
    """No memory between runs (``--no-journal``): knows nothing, records nothing."""

    def __init__(self) -> None:
        self.folder = self.path = ""
        self.writable = False
        self.durations, self.signatures, self.markers, self.trials = {}, {}, {}, {}
        self.groups, self.lines = [], 0
        self._fd = None
        self._pid = os.getpid()


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError:
        return b""


def _escape(name: str) -> str:
    if "\\" in name or "\t" in name or "\n" in name:
        return name.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return name


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field
    out, chars = [], iter(field)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append({"t": "\t", "n": "\n"}.get(following, following))
        else:
            out.append(char)
    return "".join(out)


# --- process groups a dead run left behind


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time) of ``pid`` from /proc, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            data = file.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return fields[0].decode(), int(fields[2]), int(fields[19])
    except (IndexError, ValueError):
        return None


def ticks() -> int:
    """The boot clock in clock ticks, as /proc/PID/stat counts a process's start time."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME) // _TICK_NS


def _started_by(start: int, recorded: int) -> bool:
    """Whether a process that started at ``start`` can be the leader recorded at ``recorded``."""
    return recorded - START_SLACK <= start <= recorded


def process_start(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (/proc/PID/stat field 22)."""
    found = _stat(pid)
    return found[2] if found is not None else None


def _groups() -> dict[int, list[int]]:
    """Each process group's live (not zombie) members' start times, from one pass over /proc:
    a killed run may have left thousands of groups, each checked against the same pass."""
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[0] != "Z":
                found.setdefault(stat[1], []).append(stat[2])
    return found


def _alive(group: Group, table: Mapping[int, list[int]]) -> bool:
    """Whether a member of ``group`` started no earlier than its recorded leader still runs."""
    earliest = group.start - START_SLACK
    return any(start >= earliest for start in table.get(group.pgid, ()))


def _ours(group: Group, table: Mapping[int, list[int]]) -> bool:
    """Whether ``group`` is still the one recorded: its leader alive with the recorded start
    time, or, the leader gone, members started after it (the kernel never reuses a pid while a
    group of that id exists, so such a group has held it since)."""
    leader = _stat(group.pgid)
    if leader is not None and leader[0] != "Z":
        return _started_by(leader[2], group.start) and leader[1] == group.pgid
    return _alive(group, table)


def stop_orphans(
    groups: Iterable[Group],
    *,
    grace: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Group]:
    """Stop every group in ``groups`` that is still alive and still ours: SIGTERM, then after
    ``grace`` seconds SIGKILL, and wait until each is gone. Returns the groups it stopped."""
    groups = list(groups)
    if not groups:
        return []
    table = _groups()
    alive = {group.pgid: group for group in groups if _ours(group, table)}
    stopped = list(alive.values())
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for group in alive.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group.pgid, signum)
        deadline = clock() + (grace if signum == signal.SIGTERM else 30.0)
        while alive and clock() < deadline:
            table = _groups()
            alive = {pgid: g for pgid, g in alive.items() if _alive(g, table)}
            if alive:
                sleep(0.02)
        if not alive:
            break
    return stopped
