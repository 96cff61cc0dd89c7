"""The journal's log format, its compaction, the folder lock, and stopping a dead run's groups."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minimake import journal
from minimake import journal as journal_module
from minimake.journal import HEADER, START_SLACK, Group, Journal, process_start, stop_orphans
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


def sleeper_group(sleepers: list[subprocess.Popen[bytes]], script: str) -> int:
    """Start ``sh -c script`` leading a new session; returns its pgid once it has a child."""
    process = subprocess.Popen(
        ["/bin/sh", "-c", f"{script} & echo started; wait"],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    sleepers.append(process)
    assert process.stdout is not None
    assert process.stdout.readline() == b"started\n"  # rendezvous: the child exists
    return process.pid


class TestStopGroups:
    def test_a_dead_runs_group_is_stopped_before_anything_reruns(
        self, tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
    ) -> None:
        pgid = sleeper_group(sleepers, "sleep 1000")
        journal = Journal(str(tmp_path), writable=True)
        journal.spawned("slow", pgid)
        os.close(journal._fd)  # type: ignore[arg-type]  # the run dies: nothing more written
        later = Journal(str(tmp_path), writable=True)
        [group] = later.groups
        assert (group.task, group.pgid) == ("slow", pgid)
        assert group.start - START_SLACK <= process_start(pgid) <= group.start  # type: ignore[operator]
        assert stop_orphans(later.groups) == later.groups
        assert not group_alive(pgid)  # leader and child, both gone when it returns
        later.groups_gone()
        later.close()
        assert Journal(str(tmp_path), writable=False).groups == []

    def test_where_the_boot_clock_disagrees_with_proc_the_real_start_is_kept(
        self,
        tmp_path: Path,
        sleepers: list[subprocess.Popen[bytes]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        pgid = sleeper_group(sleepers, "sleep 1000")
        monkeypatch.setattr(
            journal_module, "ticks", lambda: 10**12
        )  # a clock that counts otherwise
        journal = Journal(str(tmp_path), writable=True)
        journal.spawned("slow", pgid)
        journal.spawned("slow", pgid)
        assert [group.start for group in journal.groups] == [process_start(pgid)] * 2
        assert stop_orphans(journal.groups) == journal.groups[:1]
        assert not group_alive(pgid)
        journal.close()

    def test_a_group_that_ignores_sigterm_is_killed(
        self, sleepers: list[subprocess.Popen[bytes]]
    ) -> None:
        pgid = sleeper_group(sleepers, "trap '' TERM; sleep 1000")
        group = Group("stubborn", pgid, process_start(pgid))  # type: ignore[arg-type]
        now = [0.0]

        def sleep(seconds: float) -> None:  # a fake clock: the grace period passes at once
            now[0] += 1.0
            time.sleep(0.001)

        assert stop_orphans([group], grace=2.0, sleep=sleep, clock=lambda: now[0]) == [group]
        assert not group_alive(pgid)

    def test_a_reused_pid_is_never_signalled(self, sleepers: list[subprocess.Popen[bytes]]) -> None:
        pgid = sleeper_group(sleepers, "sleep 1000")
        start = process_start(pgid)
        assert start is not None
        stranger = Group("old", pgid, start - 1)  # same pid, another process's start time
        assert stop_orphans([stranger]) == []
        assert group_alive(pgid)

    def test_a_group_whose_leader_died_is_still_stopped(
        self, sleepers: list[subprocess.Popen[bytes]]
    ) -> None:
        # The leader (a pool worker killed with minimake) is gone; the recipe it started lives.
        pgid = sleeper_group(sleepers, "sleep 1000")
        group = Group("orphan", pgid, process_start(pgid))  # type: ignore[arg-type]
        os.kill(pgid, signal.SIGKILL)
        sleepers[0].wait()
        assert group_alive(pgid)
        assert stop_orphans([group]) == [group]
        assert not group_alive(pgid)

    def test_thousands_of_groups_cost_one_look_at_proc(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A killed run of 10,000 recipes leaves 10,000 records: /proc is read once for all."""
        looks: list[int] = []
        real = journal._groups

        def counted() -> dict[int, list[int]]:
            looks.append(1)
            return real()

        monkeypatch.setattr(journal, "_groups", counted)
        gone = [Group(f"t{i}", 5_000_000 + i, 1) for i in range(10_000)]  # no pid is that high
        assert stop_orphans(gone) == []
        assert len(looks) == 1

    def test_groups_already_gone_are_skipped(self, tmp_path: Path) -> None:
        done = subprocess.Popen(["true"], start_new_session=True)
        start = process_start(done.pid)
        done.wait()
        assert stop_orphans([Group("quick", done.pid, start or 0)]) == []


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
