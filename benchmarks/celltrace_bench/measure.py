"""Measure one job in a fresh Python process: wall time (perf_counter) and peak resident memory.

Each job runs in its own subprocess (``python -m celltrace_bench.worker job.json``), so one run's
memory cannot leak into the next one's peak. Inside the worker, :func:`reset_peak` clears the
kernel's high-water mark (``/proc/self/clear_refs`` ← 5, Linux ≥ 4.0) right before the measured
step and :func:`peak_mb` reads ``VmHWM`` right after it, so the peak belongs to that step alone (it
includes what was already resident: interpreter, imports, inputs — reported as ``base_mb``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parents[1]
RESULT_TAG = "@@RESULT "


def _status(field: str) -> float | None:
    try:
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB → MiB
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    return _status("VmRSS")


def peak_mb() -> float | None:
    """Peak resident memory since the last :func:`reset_peak` (or process start), MiB."""
    v = _status("VmHWM")
    if v is None:
        import resource

        v = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return v


def reset_peak() -> bool:
    """Reset this process's peak-RSS mark; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Step:
    """``with Step() as s: ...`` → ``s.seconds``, ``s.peak_mb``, ``s.base_mb`` of the block."""

    def __enter__(self) -> "Step":
        self.reset = reset_peak()
        self.base_mb = rss_mb()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self._t0
        self.peak_mb = peak_mb()
        # resident memory at the end, split: anonymous (heap, arrays) vs file-backed (memmaps, libraries)
        self.end_anon_mb, self.end_file_mb = _status("RssAnon"), _status("RssFile")

    def as_dict(self, prefix: str = "") -> dict[str, Any]:
        return {f"{prefix}seconds": self.seconds, f"{prefix}peak_mb": self.peak_mb,
                f"{prefix}base_mb": self.base_mb, f"{prefix}end_anon_mb": self.end_anon_mb,
                f"{prefix}end_file_mb": self.end_file_mb}


def run_job(job: dict[str, Any], timeout: float, log: Path | None = None) -> dict[str, Any]:
    """Run ``job`` in a fresh worker process; return its result dict (``status``: ok / timeout / error)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(BENCH_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TQDM_DISABLE", "1")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
        path = f.name
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "celltrace_bench.worker", path], capture_output=True,
                              text=True, timeout=max(1.0, timeout), env=env, cwd=str(BENCH_DIR))
    except subprocess.TimeoutExpired as exc:
        _log(log, job, exc.stdout, exc.stderr)
        return {"status": "timeout", "timeout_s": round(timeout, 1), "wall_s": time.perf_counter() - t0}
    finally:
        os.unlink(path)
    _log(log, job, proc.stdout, proc.stderr)
    wall = time.perf_counter() - t0
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            out = json.loads(line[len(RESULT_TAG):])
            out.setdefault("status", "ok")
            out["wall_s"] = wall
            return out
    tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
    return {"status": "error", "error": " | ".join(tail) or f"exit code {proc.returncode}", "wall_s": wall}


def _log(log: Path | None, job: dict[str, Any], out: Any, err: Any) -> None:
    if log is None:
        return
    def s(x: Any) -> str:
        return x.decode(errors="replace") if isinstance(x, bytes) else (x or "")
    with open(log, "a") as f:
        f.write(f"==== {json.dumps(job)}\n{s(out)[-4000:]}\n{s(err)[-4000:]}\n")
