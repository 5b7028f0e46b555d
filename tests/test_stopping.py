"""SIGTERM and Ctrl-C stop `celltrace track` within about a second, with no output and no temporary
folders left; what a killed run left is removed by the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from celltrace import tempdirs
from conftest import REPO, crop_sequence, ctc_sequence


def env_with_tmp(tmp: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}


def wait_for(predicate, timeout: float = 60.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_track_cleanly(tmp_path, signum, code):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "RES"
    proc = subprocess.Popen([sys.executable, "-m", "celltrace.cli", "track", str(ctc_sequence("Fluo-N2DH-GOWT1")),
                             "--method", "classic", "--out", str(out), "-q"],
                            env=env_with_tmp(scratch), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # segmenting: its scratch folder exists (named with its pid)
        assert wait_for(lambda: any(p.name.startswith(f"celltrace-seg-{proc.pid}-") for p in scratch.iterdir())), \
            proc.stderr.read() if proc.poll() is not None else "no scratch folder"
        time.sleep(1.5)
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signum)
        proc.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert proc.returncode == code, err
    assert took < 2.5, f"took {took:.1f} s to stop"
    assert err.strip() in ("celltrace: terminated", "celltrace: interrupted")
    assert not out.exists() and list(tmp_path.iterdir()) == [scratch]  # no RES, no .RES.tmp-*
    assert list(scratch.iterdir()) == []


STUCK_IN_C = """
import os, zlib
from celltrace import tempdirs
from celltrace.stopping import stop_on_signals
with stop_on_signals(grace=0.5):
    folder = tempdirs.make_dir("celltrace-test-")
    data = os.urandom(60_000_000)
    print(folder, flush=True)
    for _ in range(20):
        zlib.compress(data, 9)  # a long C call: Python's signal handler cannot run until it returns
print("not stopped", flush=True)
"""


def test_watchdog_stops_a_process_stuck_in_a_long_c_call(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", STUCK_IN_C], env=env_with_tmp(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = Path(proc.stdout.readline().strip())
    assert folder.is_dir(), proc.stderr.read()
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    assert proc.returncode == 143 and time.monotonic() - sent < 2.0
    assert not folder.exists() and "not stopped" not in proc.stdout.read()


STUCK_HOLDING_THE_GIL = """
import sys
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching
from celltrace import tempdirs
from celltrace.stopping import stop_on_signals
d = np.load(sys.argv[1])
# the shadow-object block matrix celltrace once gave scipy's sparse matching (solve_lap no longer
# does): on this real frame pair it never returns and holds the GIL, so no thread can run
n, m = int(d["n"]), int(d["m"])
dc, bc = float(d["death_cost"]), float(d["birth_cost"])
rows, cols, costs = d["rows"], d["cols"], d["costs"]
keep = costs < dc + bc
rows, cols, costs = rows[keep], cols[keep], costs[keep]
ur, r = np.unique(rows, return_inverse=True)
uc, c = np.unique(cols, return_inverse=True)
nn, mm = ur.size, uc.size
shift = 1.0 + max(0.0, -float(costs.min()))
ri = np.concatenate([r, np.arange(nn), nn + np.arange(mm), nn + c])
ci = np.concatenate([c, mm + np.arange(nn), np.arange(mm), mm + r])
w = np.concatenate([costs, np.full(nn, dc), np.full(mm, bc), np.zeros(r.size)]) + shift
mat = sparse.csr_matrix((w, (ri, ci)), shape=(nn + mm, nn + mm))
with stop_on_signals(grace=0.5, folders=[sys.argv[2]]):
    folder = tempdirs.make_dir("celltrace-test-")
    beside = tempdirs.make_dir(".RES.tmp-", dir=sys.argv[2])
    print(folder, beside, flush=True)
    min_weight_full_bipartite_matching(mat)
"""


def test_helper_process_stops_a_process_that_holds_the_gil(tmp_path):
    from conftest import SHARED

    hang = SHARED / "data" / "regressions" / "lap_hang_psc.npz"
    assert hang.exists()
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", STUCK_HOLDING_THE_GIL, str(hang), str(out)],
                            env=env_with_tmp(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        folders = [Path(p) for p in proc.stdout.readline().split()]
        assert len(folders) == 2 and all(f.is_dir() for f in folders), proc.stderr.read()
        time.sleep(1.0)
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert time.monotonic() - sent < 2.5 and proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_for(lambda: not any(f.exists() for f in folders), timeout=3.0)


def test_a_killed_track_is_cleaned_up_by_its_helper(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "celltrace.cli", "track", str(ctc_sequence("Fluo-N2DH-GOWT1")),
                             "--method", "classic", "--out", str(tmp_path / "RES"), "-q"],
                            env=env_with_tmp(scratch), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: any(p.name.startswith(f"celltrace-seg-{proc.pid}-") for p in scratch.iterdir()))
    finally:
        proc.kill()
        proc.wait()
    assert wait_for(lambda: list(scratch.iterdir()) == [], timeout=5.0)
    assert list(tmp_path.iterdir()) == [scratch]


FORKED_WORKER = """
import os, signal, time
from celltrace.stopping import stop_on_signals
with stop_on_signals(grace=0.3):
    pid = os.fork()
    if pid == 0:  # a worker process: a signal to it must not stop its parent
        time.sleep(5)
        os._exit(0)
    time.sleep(0.3)
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)
    time.sleep(1.5)
print("parent finished", flush=True)
"""


def test_a_forked_worker_does_not_wake_the_parents_watchdogs(tmp_path):
    proc = subprocess.run([sys.executable, "-c", FORKED_WORKER], env=env_with_tmp(tmp_path), capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0 and "parent finished" in proc.stdout, proc.stderr


def test_next_run_removes_what_a_killed_run_left(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    seq = crop_sequence("Fluo-N2DH-GOWT1", tmp_path / "seq", frames=3)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = [scratch / f"celltrace-seg-{dead.pid}-{tempdirs.HOST}-abcd1234",
            tmp_path / f".RES.tmp-{dead.pid}-{tempdirs.HOST}-abcd1234"]
    alive = [scratch / f"celltrace-seg-1-{tempdirs.HOST}-abcd1234", tmp_path / f".RES.tmp-1-{tempdirs.HOST}-abcd1234"]
    for p in left + alive:
        p.mkdir()
    proc = subprocess.run([sys.executable, "-m", "celltrace.cli", "track", str(seq), "--method", "classic",
                           "--out", str(tmp_path / "RES"), "-q"], env=env_with_tmp(scratch), capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert not any(p.exists() for p in left) and all(p.exists() for p in alive)
