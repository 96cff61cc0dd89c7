"""The journal's log format, its compaction, the folder lock, and stopping a dead run's recipes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minimake.execution import orphans
from minimake.execution.orphans import VARIABLE, stop_orphans
from minimake.journal import HEADER, Journal, Run
from minimake.lock import ProjectLock
from tests.conftest import proc_stats


def log_of(root: Path) -> Path:
    return root / ".minimake" / "journal"


class TestLog:
    def test_what_a_run_records_is_read_back_by_the_next(self, tmp_path: Path) -> None:
        first = Journal(str(tmp_path), writable=True)
        first.started("a", {"a.txt": None})
        first.finished("a", 1.5, '["shell","x"]')
        first.started("b", {"b.txt": 123})
        first.started("c", {})
        first.ended("c")
        first.close()
        second = Journal(str(tmp_path), writable=False)
        assert second.durations == {"a": 1.5}
        assert second.signature("a") == '["shell","x"]'
        assert set(second.markers) == {"b"}  # started, never ended
        assert second.markers["b"].pid == os.getpid()
        assert second.markers["b"].before == (("b.txt", 123),)

    def test_a_torn_last_record_is_ignored_then_cut_off(self, tmp_path: Path) -> None:
        journal = Journal(str(tmp_path), writable=True)
        journal.finished("a", 1.0, None)
        journal.close()
        with log_of(tmp_path).open("a") as file:
            file.write("d\tb\t2.0\t-\nd\tc\t3.")  # a kill -9 in the middle of a write()
        assert Journal(str(tmp_path), writable=False).durations == {"a": 1.0, "b": 2.0}
        writer = Journal(str(tmp_path), writable=True)
        writer.finished("d", 4.0, None)
        writer.close()
        # The torn fragment is gone, so the record after it is whole.
        assert Journal(str(tmp_path), writable=False).durations == {"a": 1.0, "b": 2.0, "d": 4.0}

    def test_damaged_lines_say_nothing_and_are_not_fatal(self, tmp_path: Path) -> None:
        log_of(tmp_path).parent.mkdir()
        log_of(tmp_path).write_text(
            HEADER + "d\ta\tfast\t-\nzz\nd\tb\t2.0\t-\ns\tc\tnot-a-pid\t[]\n\x00\x01\nd\tb\n"
        )
        journal = Journal(str(tmp_path), writable=False)
        assert journal.durations == {"b": 2.0}
        assert journal.markers == {}

    def test_a_log_of_another_version_is_started_over(self, tmp_path: Path) -> None:
        log_of(tmp_path).parent.mkdir()
        log_of(tmp_path).write_text("# ninja log v5\nd\ta\t1.0\t-\n")
        assert Journal(str(tmp_path), writable=False).durations == {}
        Journal(str(tmp_path), writable=True).close()
        assert log_of(tmp_path).read_text() == HEADER

    def test_names_with_tabs_and_newlines_round_trip(self, tmp_path: Path) -> None:
        name = "odd\tname\nwith\\slash"
        journal = Journal(str(tmp_path), writable=True)
        journal.finished(name, 1.0, None)
        journal.started(name, {name: None})
        journal.close()
        again = Journal(str(tmp_path), writable=False)
        assert again.durations == {name: 1.0}
        assert again.markers[name].before == ((name, None),)

    def test_a_read_only_journal_writes_nothing(self, tmp_path: Path) -> None:
        journal = Journal(str(tmp_path), writable=False)
        journal.started("a", {})
        journal.finished("a", 1.0, None)
        journal.close()
        assert not (tmp_path / ".minimake").exists()

    def test_null_runs_do_not_grow_the_log(self, tmp_path: Path) -> None:
        journal = Journal(str(tmp_path), writable=True)
        journal.finished("a", 1.0, None)
        journal.close()
        size = log_of(tmp_path).stat().st_size
        for _ in range(3):
            Journal(str(tmp_path), writable=True).close()
        assert log_of(tmp_path).stat().st_size == size


class TestCompaction:
    def test_a_long_log_is_rewritten_with_its_live_facts_only(self, tmp_path: Path) -> None:
        journal = Journal(str(tmp_path), writable=True)
        for run in range(30):
            for index in range(100):
                journal.started(f"t{index}", {})
                journal.finished(f"t{index}", float(run), f'["shell","{run}"]')
        journal.started("killed", {"k.txt": 5})
        journal.close()
        big = log_of(tmp_path).stat().st_size
        reopened = Journal(str(tmp_path), writable=True)
        assert reopened.compact(keep=[f"t{index}" for index in range(50)] + ["killed"])
        reopened.finished("t0", 99.0, None)
        reopened.close()
        assert log_of(tmp_path).stat().st_size < big / 20
        after = Journal(str(tmp_path), writable=False)
        assert len(after.durations) == 50  # tasks no longer declared are dropped
        assert after.durations["t0"] == 99.0
        assert after.durations["t1"] == 29.0
        assert after.signature("t0") == '["shell","29"]'  # a record without one keeps it
        assert after.markers["killed"].before == (("k.txt", 5),)

    def test_a_short_log_is_left_alone(self, tmp_path: Path) -> None:
        journal = Journal(str(tmp_path), writable=True)
        journal.finished("a", 1.0, None)
        assert not journal.compact()
        journal.close()


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is alive (zombies count as gone)."""
    return any(int(f[2]) == pgid and f[0] != "Z" for f in proc_stats().values())


@pytest.fixture
def sleepers() -> list[subprocess.Popen[bytes]]:
    """Process groups the test starts; whatever is left is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


TOKEN = "0123456789abcdef" * 2


def sleeper_group(
    sleepers: list[subprocess.Popen[bytes]], script: str, token: str | None = TOKEN
) -> int:
    """Start ``sh -c script`` leading a new session, with ``token`` as a run's token in its
    environment; returns its pgid once it has a child."""
    env = {name: value for name, value in os.environ.items() if name != VARIABLE}
    if token is not None:
        env[VARIABLE] = token
    process = subprocess.Popen(
        ["/bin/sh", "-c", f"{script} & echo started; wait; sleep 1000"],
        start_new_session=True,
        stdout=subprocess.PIPE,
        env=env,
    )
    sleepers.append(process)
    assert process.stdout is not None
    assert process.stdout.readline() == b"started\n"  # rendezvous: the child exists...
    _await_exec(process.pid)  # ...and has its own environment, which only exec gives it
    return process.pid


def _await_exec(pgid: int) -> None:
    """Wait until every member of ``pgid`` but its leader has exec'd: a forked shell's child
    shows the shell's command line (and environment) until then."""
    leader = Path(f"/proc/{pgid}/cmdline").read_bytes()
    while True:
        members = [pid for pid, fields in proc_stats().items() if int(fields[2]) == pgid]
        lines = []
        for pid in members:
            if pid != pgid:
                with contextlib.suppress(OSError):
                    lines.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        if lines and leader not in lines:
            return
        time.sleep(0.001)


class TestRuns:
    def test_a_run_s_token_is_recorded_with_its_first_start_only(self, tmp_path: Path) -> None:
        journal = Journal(str(tmp_path), writable=True)
        journal.started("a", {})
        journal.started("b", {})
        os.close(journal._fd)  # type: ignore[arg-type]  # the run dies: nothing more written
        records = log_of(tmp_path).read_text().splitlines()
        assert records[1] == f"r\t{journal.token}\t{os.getpid()}"
        assert [record[0] for record in records[2:]] == ["s", "s"]
        later = Journal(str(tmp_path), writable=True)
        assert later.runs == [Run(journal.token, os.getpid())]
        later.runs_over()  # its recipes were stopped
        later.close()
        assert Journal(str(tmp_path), writable=False).runs == []

    def test_a_null_run_records_no_token(self, tmp_path: Path) -> None:
        Journal(str(tmp_path), writable=True).close()
        assert not log_of(tmp_path).read_text().count("\nr\t")

    def test_process_group_records_and_damaged_tokens_say_nothing(self, tmp_path: Path) -> None:
        log_of(tmp_path).parent.mkdir()
        log_of(tmp_path).write_text(
            HEADER + "g\tx\t0\t0\ng\tx\t1\t1\nr\t\t5\nr\tABC\t5\nr\t" + TOKEN + "\tx\n"
        )
        assert Journal(str(tmp_path), writable=False).runs == []

    def test_a_record_nested_too_deep_for_the_parser_is_skipped(self, tmp_path: Path) -> None:
        deep = "[" * 100_000 + "]" * 100_000
        log_of(tmp_path).parent.mkdir()
        log_of(tmp_path).write_text(HEADER + f"s\ta\t1\t{deep}\nd\tb\t1.0\t-\n")
        journal = Journal(str(tmp_path), writable=False)
        assert journal.markers == {}
        assert journal.durations == {"b": 1.0}

    def test_a_marker_s_times_must_be_integers(self, tmp_path: Path) -> None:
        log_of(tmp_path).parent.mkdir()
        log_of(tmp_path).write_text(HEADER + 's\ta\t1\t[["a", "x"]]\ns\tb\t1\t[["b", 5]]\n')
        assert set(Journal(str(tmp_path), writable=False).markers) == {"b"}


class TestStopOrphans:
    def test_a_dead_run_s_recipes_are_found_by_its_token(
        self, sleepers: list[subprocess.Popen[bytes]]
    ) -> None:
        pgid = sleeper_group(sleepers, "sleep 1000")
        assert stop_orphans([TOKEN]) == [pgid]
        assert not group_alive(pgid)  # leader and child, both gone when it returns

    def test_a_process_without_the_token_is_never_signalled(
        self, sleepers: list[subprocess.Popen[bytes]]
    ) -> None:
        pgid = sleeper_group(sleepers, "sleep 1000", token=None)
        other = sleeper_group(sleepers, "sleep 1000", token="f" * 32)
        assert stop_orphans([TOKEN]) == []
        assert group_alive(pgid)
        assert group_alive(other)

    def test_a_carrier_in_a_group_it_does_not_lead_is_stopped_alone(
        self, sleepers: list[subprocess.Popen[bytes]]
    ) -> None:
        # The leader, without the token, is no recipe of the dead run's: it stays.
        pgid = sleeper_group(sleepers, f"{VARIABLE}={TOKEN} sleep 1000", token=None)
        [child] = [pid for pid, f in proc_stats().items() if int(f[1]) == pgid]
        assert stop_orphans([TOKEN]) == [child]
        assert group_alive(pgid)
        assert child not in proc_stats() or proc_stats()[child][0] == "Z"

    def test_a_group_that_ignores_sigterm_is_killed(
        self, sleepers: list[subprocess.Popen[bytes]]
    ) -> None:
        pgid = sleeper_group(sleepers, "trap '' TERM; sleep 1000")
        now = [0.0]

        def sleep(seconds: float) -> None:  # a fake clock: the grace period passes at once
            now[0] += 1.0
            time.sleep(0.001)

        assert stop_orphans([TOKEN], grace=2.0, sleep=sleep, clock=lambda: now[0]) == [pgid]
        assert not group_alive(pgid)

    def test_the_token_minimake_inherited_is_spared(
        self, sleepers: list[subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A recipe of that run started this minimake: that run is not dead."""
        pgid = sleeper_group(sleepers, "sleep 1000")
        monkeypatch.setenv(VARIABLE, TOKEN)
        assert stop_orphans([TOKEN]) == []
        assert group_alive(pgid)

    def test_minimake_s_ancestors_are_spared(self) -> None:
        """A shell that carries the token (and leads its group) ran this minimake, which
        dropped the token from its own environment: neither the shell nor it is signalled."""
        program = (
            "import os; os.environ.pop('MINIMAKE_RUN');"
            "from minimake.execution.orphans import stop_orphans;"
            f"print(stop_orphans(['{TOKEN}']), flush=True)"
        )
        env = {**os.environ, VARIABLE: TOKEN, "PYTHONPATH": str(Path(__file__).parents[1])}
        done = subprocess.run(
            ["/bin/sh", "-c", f"'{sys.executable}' -c \"{program}\"; echo alive"],
            env=env,
            capture_output=True,
            text=True,
            start_new_session=True,
            timeout=60,
            check=False,
        )
        assert done.stdout == "[]\nalive\n", done.stderr

    def test_without_a_dead_run_proc_is_not_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def refuse(path: str) -> list[str]:
            raise AssertionError(f"listed {path}")

        monkeypatch.setattr(orphans.os, "listdir", refuse)
        assert stop_orphans([]) == []


HOLD = """
import sys
from minimake.lock import ProjectLock
lock = ProjectLock(sys.argv[1])
lock.acquire(lambda pid, since: None)
print("locked", flush=True)
sys.stdin.read()
"""


def holder(root: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "locked\n"
    return process


def refuse_to_wait(pid: int | None, since: float | None) -> None:
    raise AssertionError(f"the lock is still held (by pid {pid})")


class TestLock:
    def test_a_dead_holders_lock_is_free_at_once(self, tmp_path: Path) -> None:
        process = holder(tmp_path)
        process.kill()  # kill -9: the kernel drops the lock
        process.wait()
        lock = ProjectLock(str(tmp_path))
        lock.acquire(refuse_to_wait)
        lock.release()

    def test_a_live_holder_is_named_then_waited_for(self, tmp_path: Path) -> None:
        process = holder(tmp_path)
        waited: list[tuple[int | None, float | None]] = []

        def waiting(pid: int | None, since: float | None) -> None:
            waited.append((pid, since))
            assert process.stdin is not None
            process.stdin.close()  # the holder ends only once we wait

        lock = ProjectLock(str(tmp_path))
        lock.acquire(waiting)
        process.wait()
        lock.release()
        assert len(waited) == 1
        assert waited[0][0] == process.pid
        assert waited[0][1] is not None
        assert abs(waited[0][1] - time.time()) < 3600

    def test_a_forked_child_does_not_keep_the_lock(self, tmp_path: Path) -> None:
        lock = ProjectLock(str(tmp_path))
        lock.acquire(lambda pid, since: None)
        read, write = os.pipe()
        ready_read, ready_write = os.pipe()
        child = os.fork()
        if child == 0:  # a pool worker forked while the lock is held, outliving its parent
            os.close(write)
            os.write(ready_write, b"!")  # after fork's handlers ran
            os.read(read, 1)
            os._exit(0)
        os.close(read)
        os.close(ready_write)
        assert os.read(ready_read, 1) == b"!"
        os.close(ready_read)
        try:
            lock.release()
            other = ProjectLock(str(tmp_path))
            other.acquire(refuse_to_wait)
            other.release()
        finally:
            os.close(write)
            os.waitpid(child, 0)
