"""Atomic outputs and temporary folders: no replacing what appeared meanwhile, recoverable
--overwrite swaps, dead runs' leftovers swept (never a live process's), errors that name the output."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from celltrace import tempdirs
from celltrace.errors import OutputError, OutputExistsError
from celltrace.io.atomic import atomic_dir, atomic_file, check_output, recover
from conftest import REPO, deny_hidden_temporaries


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------------- 2: something appears meanwhile
def test_atomic_dir_does_not_replace_a_folder_that_appeared_meanwhile(tmp_path):
    out = tmp_path / "RES"
    with pytest.raises(OutputError, match="appeared while celltrace was writing") as info:
        with atomic_dir(out) as tmp:
            (tmp / "mask000.tif").write_text("new result")
            out.mkdir()  # another run (or the user) got there first
            (out / "mine.txt").write_text("user's file")
    assert (out / "mine.txt").read_text() == "user's file" and not (out / "mask000.tif").exists()
    sibling = out.with_name(f"RES.new-{os.getpid()}")
    assert str(info.value) == (f"{out}: appeared while celltrace was writing it and was left as it is; "
                               f"the new result is in {sibling}")
    assert (sibling / "mask000.tif").read_text() == "new result"
    assert hidden(tmp_path) == []


def test_atomic_dir_keeps_even_an_empty_folder_that_appeared(tmp_path):
    out = tmp_path / "RES"
    with pytest.raises(OutputError, match="new result is in"):
        with atomic_dir(out) as tmp:
            (tmp / "x").write_text("x")
            out.mkdir()
    assert out.is_dir() and not any(out.iterdir())


def test_atomic_file_does_not_replace_a_file_that_appeared_meanwhile(tmp_path):
    out = tmp_path / "cells.csv"
    with pytest.raises(OutputError, match="appeared while") as info:
        with atomic_file(out, overwrite=False) as tmp:
            tmp.write_text("new")
            out.write_text("user")
    assert out.read_text() == "user"
    sibling = tmp_path / f"cells.new-{os.getpid()}.csv"
    assert sibling.read_text() == "new" and str(info.value).startswith(f"{out}: appeared while")
    assert str(info.value).endswith(f"the new result is in {sibling}")
    assert hidden(tmp_path) == []
    with pytest.raises(OutputExistsError, match="the output file exists"):
        with atomic_file(out, overwrite=False):
            pass


# ---------------------------------------------------------------------- 3: recoverable --overwrite swap
KILL_BETWEEN_RENAMES = """
import os, sys
import celltrace.io.atomic as atomic
from celltrace.io.atomic import atomic_dir
target = sys.argv[1]
real = atomic.rename_noreplace
def killed(src, dst):
    if str(dst) == target:
        os._exit(9)  # SIGKILL-like: no clean-up code runs
    return real(src, dst)
atomic.rename_noreplace = killed
with atomic_dir(target, overwrite=True) as tmp:
    open(os.path.join(tmp, "version.txt"), "w").write("new")
"""


def kill_during_swap(target: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-c", KILL_BETWEEN_RENAMES, str(target)], env=env, capture_output=True)
    assert proc.returncode == 9, proc.stderr


def test_overwrite_killed_between_renames_is_restored_by_the_next_run(tmp_path):
    out = tmp_path / "RES"
    out.mkdir()
    (out / "version.txt").write_text("old")
    kill_during_swap(out)
    assert not out.exists()  # the state a kill between the two renames leaves
    names = hidden(tmp_path)
    assert any(n.startswith(".RES.old-") for n in names) and any(n.startswith(".RES.tmp-") for n in names)
    # the next atomic_dir on the same target puts the old result back first
    with pytest.raises(OutputExistsError):
        with atomic_dir(out):
            pass
    assert (out / "version.txt").read_text() == "old"
    assert hidden(tmp_path) == []  # the dead run's unfinished folder is gone too


def test_overwrite_killed_then_name_present_removes_the_old_copy(tmp_path):
    out = tmp_path / "RES"
    out.mkdir()
    (out / "version.txt").write_text("old")
    kill_during_swap(out)
    out.mkdir()
    (out / "version.txt").write_text("newer")
    check_output(out, overwrite=True)
    assert (out / "version.txt").read_text() == "newer" and hidden(tmp_path) == []


def test_overwrite_failing_between_renames_puts_the_old_result_back(tmp_path, monkeypatch):
    import celltrace.io.atomic as atomic

    out = tmp_path / "RES"
    out.mkdir()
    (out / "version.txt").write_text("old")
    real = atomic.rename_noreplace

    def failing(src, dst):
        if Path(dst) == out:
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(atomic, "rename_noreplace", failing)
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(out, overwrite=True) as tmp:
            (tmp / "version.txt").write_text("new")
    assert (out / "version.txt").read_text() == "old" and hidden(tmp_path) == []
    monkeypatch.setattr(atomic, "rename_noreplace", real)
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "version.txt").write_text("new")
    assert (out / "version.txt").read_text() == "new" and hidden(tmp_path) == []


def test_live_processes_swaps_are_left_alone(tmp_path):
    out = tmp_path / "RES"
    live = tmp_path / f".RES.old-1-{tempdirs.HOST}-abcd1234"  # pid 1 is alive: a swap in progress
    live.mkdir()
    recover(out)
    assert live.exists() and not out.exists()


# ---------------------------------------------------------------------- 4: leftovers of dead runs
def test_sweeps_remove_only_dead_runs_temporaries(tmp_path):
    dead = dead_pid()
    other_host = "000000" if tempdirs.HOST != "000000" else "111111"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    gone = [scratch / f"celltrace-seg-{dead}-{tempdirs.HOST}-abcd1234"]
    kept = [scratch / f"celltrace-seg-1-{tempdirs.HOST}-abcd1234",          # a live process
            scratch / f"celltrace-seg-{os.getpid()}-{tempdirs.HOST}-x1",    # this process
            scratch / f"celltrace-seg-{dead}-{other_host}-abcd1234",        # another machine
            scratch / "celltrace-seg-abcdefgh",                             # no pid: not ours to judge
            scratch / f"other-{dead}-{tempdirs.HOST}-abcd1234"]
    for p in gone + kept:
        p.mkdir()
        (p / "0000000.z").write_bytes(b"x")
    assert tempdirs.sweep_scratch(scratch) == gone
    assert all(p.exists() for p in kept) and not gone[0].exists()

    beside = tmp_path / "out"
    beside.mkdir()
    stale = beside / f".A.tmp-{dead}-{tempdirs.HOST}-q1w2e3r4"
    stale_file = beside / f".cells.csv.tmp-{dead}-{tempdirs.HOST}-q1w2e3r4.csv"
    live = beside / f".B.tmp-1-{tempdirs.HOST}-q1w2e3r4"
    stale.mkdir()
    stale_file.write_text("x")
    live.mkdir()
    with atomic_dir(beside / "C") as tmp:
        (tmp / "f").write_text("x")
    assert not stale.exists() and not stale_file.exists() and live.exists()


def test_temporary_names_carry_the_pid(tmp_path):
    from celltrace.frames import FrameStore

    store = FrameStore((4, 4), "uint8", prefix="celltrace-seg-")
    assert Path(store.folder).name.startswith(f"celltrace-seg-{os.getpid()}-{tempdirs.HOST}-")
    with atomic_dir(tmp_path / "R") as tmp:
        assert tmp.name.startswith(f".R.tmp-{os.getpid()}-{tempdirs.HOST}-")
        assert str(tmp) in tempdirs._live
    assert str(tmp) not in tempdirs._live


def test_interrupted_atomic_dir_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "R") as tmp:
            (tmp / "x").write_text("x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- 6: errors name the output
def test_disk_full_names_the_output_file(tmp_path):
    out = tmp_path / "RES"
    with pytest.raises(OutputError) as info:
        with atomic_dir(out) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp / "mask007.tif"))
    assert str(info.value) == f"{out / 'mask007.tif'}: cannot write: No space left on device"
    with pytest.raises(OutputError) as info:
        with atomic_dir(out):
            raise OSError(errno.ENOSPC, "No space left on device")  # no file named at all
    assert str(info.value) == f"{out}: cannot write: No space left on device"
    with pytest.raises(OutputError, match=r"t\.csv: cannot write: No space left"):
        with atomic_file(tmp_path / "t.csv"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_errors_about_other_files_are_left_as_they_are(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        with atomic_dir(tmp_path / "R"):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/some/input.tif")
    assert info.value.filename == "/some/input.tif"


def test_permission_error_names_the_output_not_the_temporary(tmp_path, monkeypatch):
    deny_hidden_temporaries(monkeypatch)
    with pytest.raises(OutputError) as info:
        with atomic_dir(tmp_path / "R"):
            pass
    assert str(info.value) == f"{tmp_path / 'R'}: cannot write: Permission denied"
