"""The build journal: ``.minimake/journal``, what each run started and finished.

An append-only text log, one record per line, like ninja's ``.ninja_log``: a run appends a
record with one ``write()`` when a recipe starts and when it ends (its first start record
preceded by the run's token, in the same write), and every run reads the whole file at start.
A record is in the kernel's page cache as soon as ``write()`` returns, so a ``kill -9`` at any
instant loses nothing but the record being written; a last line without its newline (a torn
record) and any line that does not parse are ignored, never fatal. When the log holds several
times more lines than live facts it is rewritten (to a temporary file, then renamed), so its
size stays bounded by the project's.

Records (tab-separated; names escaped so that a tab or newline in a name cannot split one):

    s  NAME  PID  BEFORE     the recipe of NAME starts in run PID; BEFORE (JSON) holds its
                             targets' mtimes just before, to tell later what it changed
    r  TOKEN  PID            run PID starts recipes: each carries MINIMAKE_RUN=TOKEN in its
                             environment (written before the first recipe starts)
    d  NAME  SECONDS  SIG    NAME finished: its duration and recipe signature ("-": none)
    f  NAME                  NAME ended without success (its changed targets were deleted)
    x                        no recipe of a run recorded above this line runs any more
    t  NAME  TRIAL           NAME, a task with params or metrics, finished (or failed): TRIAL
                             (JSON) holds them with its status, duration and end; kept for
                             --results after the task is no longer declared, until
                             --forget-results
    e  NAME  EXPANSION       the expand_after generator NAME declared its tasks: EXPANSION
                             (JSON) holds how many tasks it declared, for the line -n says
                             while its triggers are stale
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import secrets
from collections.abc import Iterable, Mapping

import attrs

from minimake.errors import JournalError
from minimake.results import Trial

FOLDER = ".minimake"
JOURNAL = "journal"
HEADER = "# minimake journal 1\n"
# Rewrite the log when it holds this many times more lines than live facts (and is not tiny).
COMPACT_RATIO, COMPACT_MIN = 4, 1000
# A run's token: 128 random bits, as hex. A record whose token is not of this form is damaged.
_TOKEN = re.compile(r"[0-9a-f]{32}")
# Never follow a link planted where the journal lives (state.py replaces one, and says so).
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW


@attrs.frozen
class Marker:
    """A recipe started and never ended: the run that started it, and its targets before."""

    pid: int
    before: tuple[tuple[str, int | None], ...] = ()
    live: bool = False  # the run is in progress beside a read-only journal (-n): not dead


@attrs.frozen
class Run:
    """A run that started recipes: the token they carry in their environment, and its pid."""

    token: str
    pid: int


class Journal:
    """The journal of one project folder, read at open; writes only when ``writable``.

    ``durations``, ``signatures`` and ``markers`` are what earlier runs left; a read-only
    journal (``-n``, ``-q``, ``--explain``) answers the same questions and records nothing.
    A write that fails (a full disk) sets ``failure`` and ends the writing, never raises:
    it happens in the middle of starting or reaping a recipe, where whoever drives the build
    looks at ``failure`` between steps.

    ``runs`` are the runs whose end was never recorded (dead, when this run holds the lock);
    ``token`` is this run's, recorded with its first recipe's start (a null build writes
    nothing), and put into the environment by whoever starts recipes.
    """

    failure: JournalError | None = None

    def __init__(self, root: str, *, writable: bool) -> None:
        self.folder = os.path.join(root, FOLDER)
        self.path = os.path.join(self.folder, JOURNAL)
        self.writable = writable
        self.durations: dict[str, float] = {}
        self.signatures: dict[str, str] = {}  # task -> the signature's text, parsed on demand
        self.markers: dict[str, Marker] = {}
        self.runs: list[Run] = []
        # task -> its newest trial's text, parsed on demand (--results, the params trigger)
        self.trials: dict[str, str] = {}
        # generator -> how many tasks it declared when it last ran (``e`` records)
        self.expansions: dict[str, int] = {}
        self.lines = 0
        self._fd: int | None = None
        self._pid = os.getpid()
        self.token = secrets.token_hex(16)
        self._announced = False  # whether this run's token is in the journal yet
        self._outlived = False  # a recipe of this run may outlive it (outlived())
        data = _read(self.path)
        if data:
            self._parse(data)
        if writable:
            os.makedirs(self.folder, exist_ok=True)
            fresh = not data.startswith(HEADER.encode())
            if fresh:  # a new file, or one of an unknown version: start over
                self._rewrite(None)
            self._fd = os.open(self.path, _APPEND, 0o644)
            if not fresh and not data.endswith(b"\n"):
                os.ftruncate(self._fd, data.rfind(b"\n") + 1)  # drop the torn record

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
                    before = tuple((str(p), _mtime(m)) for p, m in json.loads(fields[3]))
                    markers[_unescape(fields[1])] = Marker(int(fields[2]), before)
                elif kind == "f" and len(fields) == 2:
                    markers.pop(_unescape(fields[1]), None)
                elif kind == "r" and len(fields) == 3 and _TOKEN.fullmatch(fields[1]):
                    self.runs.append(Run(fields[1], int(fields[2])))
                elif kind == "x":
                    self.runs.clear()
                elif kind == "t" and len(fields) == 3:
                    self.trials[_unescape(fields[1])] = fields[2]
                elif kind == "e" and len(fields) == 3:
                    self.expansions[_unescape(fields[1])] = int(json.loads(fields[2])["tasks"])
            except (ValueError, TypeError, KeyError, RecursionError):
                continue  # a damaged record says nothing (RecursionError: JSON nested too deep)

    def durations_of(self, names: Iterable[str]) -> dict[str, float]:
        """The recorded duration of each of ``names`` that has one."""
        durations = self.durations
        return {name: durations[name] for name in names if name in durations}

    def signature(self, name: str) -> str | None:
        """The recorded signature text of ``name``'s recipe, if any."""
        return self.signatures.get(name)

    def beside(self, pid: int | None) -> None:
        """Run ``pid`` holds the lock now (a read-only journal): its markers are of recipes
        running, not of a run that stopped."""
        if pid is not None:
            for name, marker in self.markers.items():
                if marker.pid == pid:
                    self.markers[name] = attrs.evolve(marker, live=True)

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
        record = f"s\t{_escape(name)}\t{self._pid}\t{json.dumps(pairs)}\n"
        if not self._announced:
            # The run's token goes first, in the same write as the first recipe's start: no
            # recipe ever runs that a later run could not find.
            self._announced = True
            record = f"r\t{self.token}\t{self._pid}\n{record}"
        self._append(record)

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
        self._append(f"t\t{_escape(trial.name)}\t{text}\n")

    def expanded(self, name: str, tasks: int) -> None:
        """The generator ``name`` declared ``tasks`` tasks (once its triggers were up to date)."""
        if self.expansions.get(name) == tasks:
            return  # a null build re-declares the same: nothing new to keep
        self.expansions[name] = tasks
        self._append(_expansion(name, tasks))

    def forget_trials(self) -> int:
        """Drop every recorded trial (``--forget-results``); returns how many there were."""
        count = len(self.trials)
        if count and self.writable:
            self.trials.clear()
            self._rewrite(None)
            if self._fd is not None:  # the rewrite replaced the file this appended to
                self._reopen()
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

    def runs_over(self) -> None:
        """No recipe of a run recorded so far runs any more (this run's included)."""
        if self.runs or self._announced:  # a null build writes nothing
            self.runs.clear()
            self._announced = False
            self._append("x\n")

    def outlived(self) -> None:
        """A recipe of this run may outlive it (a thread nothing could stop): its groups are
        not known to be gone, so closing must not say they are."""
        self._outlived = True

    def compact(self, keep: Iterable[str] | None = None) -> bool:
        """Rewrite the log with only its live facts when it has grown several times larger.

        ``keep``: the task names still declared (facts about the others are dropped).
        """
        live = len(self.durations) + len(self.markers) + len(self.runs) + len(self.trials)
        if not self.writable or self.lines < max(COMPACT_MIN, COMPACT_RATIO * live):
            return False
        try:
            self._rewrite(set(keep) if keep is not None else None)
        except OSError as error:  # the log as it was stays whole
            self._broken(error.strerror or str(error))
            return False
        self._reopen()
        return True

    def _reopen(self) -> None:
        """Append to the file a rewrite put in place of the one appended to until now."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, _APPEND, 0o644)

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
        runs = [*self.runs, Run(self.token, self._pid)] if self._announced else self.runs
        for run in runs:
            records.append(f"r\t{run.token}\t{run.pid}\n")
        # Trials outlive their declaration (--results=all): ``keep`` does not apply.
        for name, text in self.trials.items():
            records.append(f"t\t{_escape(name)}\t{text}\n")
        for name, count in self.expansions.items():
            records.append(_expansion(name, count))
        partial = self.path + ".partial"
        try:
            # O_NOFOLLOW: a link planted at the partial file's name is never written through.
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
            with open(os.open(partial, flags, 0o644), "w", encoding="utf-8") as file:
                file.write("".join(records))
        except OSError:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise
        os.replace(partial, self.path)  # a kill mid-rewrite leaves the old log whole
        self.lines = len(records)

    def close(self) -> None:
        """The run ended cleanly: none of its recipes runs any more; stop writing."""
        if self._fd is not None:
            if not self._outlived:
                self.runs_over()
            os.close(self._fd)
            self._fd = None


class NullJournal(Journal):
    """No memory between runs (``--no-journal``): knows nothing, records nothing."""

    def __init__(self) -> None:
        self.folder = self.path = ""
        self.writable = False
        self.durations, self.signatures, self.markers, self.trials = {}, {}, {}, {}
        self.expansions = {}
        self.runs, self.lines = [], 0
        self._fd = None
        self._outlived = False
        self._pid = os.getpid()
        self.token, self._announced = "", False


def _mtime(value: object) -> int | None:
    """A recorded mtime: an integer, or None for a target that did not exist."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(value)


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


def _expansion(name: str, tasks: int) -> str:
    """The record of an expand_after generator that declared ``tasks`` tasks."""
    return f"e\t{_escape(name)}\t{json.dumps({'tasks': tasks}, separators=(',', ':'))}\n"
