"""What a result was measured on: commit, machine (cores, CPU, memory, GPU), date, versions."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str:
    try:  # read-only queries
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return ""


def short_commit() -> str:
    """The repository's HEAD as a short hash ("?" outside a git checkout): what a result was made with."""
    return _git("rev-parse", "--short", "HEAD") or "?"


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_gb() -> float | None:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def gpu_info() -> dict[str, Any]:
    try:
        import torch

        if torch.cuda.is_available():
            return {"available": True, "name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
        return {"available": False, "torch": torch.__version__}
    except Exception as exc:
        return {"available": False, "error": type(exc).__name__}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ["celltrace", "numpy", "scipy", "pandas", "scikit-image", "torch", "laptrack", "btrack"]:
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:
            out[name] = "not installed"
    return out


def machine() -> dict[str, Any]:
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": _git("rev-parse", "HEAD") or "?",
        "commit_short": short_commit(),
        "dirty": bool(dirty),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gb": _mem_gb(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "gpu": gpu_info(),
        "versions": versions(),
    }
