"""The disk seam: cached stats, -W and -o, touch and remove."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from minimake.disk import ASSUMED_NEW, ASSUMED_OLD, MISSING, Disk, Stamp, StampKind
from tests.conftest import BASE, touch


def test_mtime_is_cached_until_forgotten(tmp_path: Path) -> None:
    touch(tmp_path / "f", 1)
    disk = Disk(str(tmp_path))
    assert disk.stamp("f") == Stamp(StampKind.FILE, (BASE + 1) * 10**9)
    touch(tmp_path / "f", 2)
    assert disk.stamp("f") == Stamp.file((BASE + 1) * 10**9)  # one stat per file per run
    assert disk.actual("f") == (BASE + 2) * 10**9
    disk.forget("f")
    assert disk.stamp("f") == Stamp.file((BASE + 2) * 10**9)


def test_missing_file_reads_none(tmp_path: Path) -> None:
    assert Disk(str(tmp_path)).stamp("nope/deeper") == MISSING
    assert Disk(str(tmp_path)).stamp("nope/deeper").mtime is None


def test_what_if_reads_brand_new_and_old_reads_very_old(tmp_path: Path) -> None:
    touch(tmp_path / "new", 1)
    touch(tmp_path / "old", 1)
    disk = Disk(str(tmp_path), what_if=["./new"], old=["old"])
    assert disk.stamp("new") == ASSUMED_NEW
    assert disk.stamp("old") == ASSUMED_OLD
    assert disk.assumed_old(["old"])
    assert not disk.assumed_old(["new"])
    assert not disk.assumed_old(["old", "new"])  # a task is kept only when -o names all it writes
    assert not disk.assumed_old([])  # a phony task writes nothing


def test_what_if_on_a_missing_file_keeps_it_missing(tmp_path: Path) -> None:
    assert Disk(str(tmp_path), what_if=["ghost"]).stamp("ghost") == MISSING


def test_stamps_sort_old_then_files_by_mtime_then_new() -> None:
    stamps = [ASSUMED_NEW, Stamp.file(20), ASSUMED_OLD, Stamp.file(10)]
    assert sorted(stamps, key=lambda stamp: stamp.order) == [
        ASSUMED_OLD,
        Stamp.file(10),
        Stamp.file(20),
        ASSUMED_NEW,
    ]


def test_touch_creates_and_remove_deletes(tmp_path: Path) -> None:
    disk = Disk(str(tmp_path))
    assert not disk.exists("t")
    disk.touch("t")
    assert disk.exists("t")
    assert disk.remove("t")
    assert not disk.remove("t")
    assert not disk.exists("t")


def test_the_folder_is_opened_once_and_closed_with_the_disk(tmp_path: Path) -> None:
    """Files are stat'ed relative to the project folder's descriptor, as make stats them
    relative to its working folder; a Disk that goes away closes it (a library user's builds
    never run out of descriptors)."""
    (tmp_path / "f").write_text("x")

    def open_on_folder() -> int:
        return sum(_target(fd) == str(tmp_path) for fd in os.listdir("/proc/self/fd"))

    disks = [Disk(str(tmp_path)) for _ in range(3)]
    assert all(disk.exists("f") and not disk.exists("g") for disk in disks)
    assert open_on_folder() == 3  # one each, whatever it stats
    for _ in range(200):
        assert Disk(str(tmp_path)).exists("f")
    del disks
    gc.collect()
    assert open_on_folder() == 0
    gone = Disk(str(tmp_path / "nowhere"))
    assert not gone.exists("f")  # a folder that cannot be opened: every file is missing


def _target(fd: str) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # closed since listdir
        return None
