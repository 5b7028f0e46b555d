"""Temporary folders and files that name the process that made them.

Every temporary path celltrace creates carries ``<pid>-<host>`` in its name (``host``: six hex digits
of a hash of the host name), e.g. ``celltrace-seg-4711-3fa2c1-k2j9x0ab`` in the temp folder or
``.RES.tmp-4711-3fa2c1-q8z1m2cd`` beside an output. That makes two things safe:

* **after a crash** (SIGKILL, power loss) the next run removes what a *dead* process of this host
  left (:func:`sweep_scratch`, :func:`sweep_beside`) — never a path of a live process, of another
  host, of another user, or one whose name does not follow this pattern;
* **on a signal** the CLI can remove the paths this process still holds (:func:`remove_all_live`)
  even when the main thread is stuck in a long C call.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
import threading
from pathlib import Path

HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
"""This host's tag in temporary names (so a shared folder never loses another machine's files)."""

SCRATCH_PREFIX = "celltrace-"
# celltrace-<kind>-<pid>-<host>-<random>: scratch folders in the system temp folder
_SCRATCH_RE = re.compile(r"^celltrace-[a-z]+-(?P<pid>\d+)-(?P<host>[0-9a-f]{6})-[A-Za-z0-9_]+$")
# .<name>.<kind>-<pid>-<host>-<random>[suffix]: temporaries beside an output (atomic writes)
_BESIDE_RE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-(?P<host>[0-9a-f]{6})-[A-Za-z0-9_]+")

_live: set[str] = set()
_lock = threading.Lock()
_swept = False


def tag() -> str:
    """``<pid>-<host>`` of this process, as embedded in its temporary names."""
    return f"{os.getpid()}-{HOST}"


def pid_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` exists (also when it belongs to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_owner(pid: str, host: str) -> bool:
    """A temporary name's owner is gone: made on this host by a process that no longer exists."""
    return host == HOST and int(pid) != os.getpid() and not pid_alive(int(pid))


def register(path: str | Path) -> None:
    """Remember ``path`` as a temporary of this process (removed by :func:`remove_all_live`)."""
    with _lock:
        _live.add(str(path))


def forget(path: str | Path) -> None:
    """``path`` is no longer a temporary of this process (renamed into place, or removed)."""
    with _lock:
        _live.discard(str(path))


def remove(path: str | Path) -> None:
    """Delete the temporary folder or file ``path`` (if still there) and forget it."""
    p = str(path)
    if os.path.isdir(p) and not os.path.islink(p):
        shutil.rmtree(p, ignore_errors=True)
    else:
        try:
            os.unlink(p)
        except OSError:
            pass
    forget(p)


def remove_all_live() -> None:
    """Delete every temporary this process still holds (for a forced exit on a signal)."""
    with _lock:
        paths = list(_live)
    for p in paths:
        remove(p)


def make_dir(prefix: str, dir: str | Path | None = None) -> Path:
    """A new empty folder named ``<prefix><pid>-<host>-<random>`` in ``dir`` (default: the system
    temp folder), registered as a temporary of this process. In the temp folder, scratch left by
    dead processes is swept first (once per process)."""
    if dir is None:
        sweep_scratch_once()
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{tag()}-", dir=dir))
    register(path)
    return path


def make_file(prefix: str, dir: str | Path, suffix: str = "") -> Path:
    """A new empty file named ``<prefix><pid>-<host>-<random><suffix>`` in ``dir``, registered."""
    fd, name = tempfile.mkstemp(prefix=f"{prefix}{tag()}-", dir=dir, suffix=suffix)
    os.close(fd)
    register(name)
    return Path(name)


def sweep_scratch(folder: str | Path | None = None) -> list[Path]:
    """Remove ``celltrace-<kind>-<pid>-<host>-*`` folders of dead processes of this host and user
    from ``folder`` (default: the system temp folder). Returns what was removed."""
    folder = Path(folder) if folder is not None else Path(tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    uid = os.getuid() if hasattr(os, "getuid") else None
    for entry in entries:
        m = _SCRATCH_RE.match(entry.name)
        if not m or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            if uid is not None and entry.stat(follow_symlinks=False).st_uid != uid:
                continue
        except OSError:
            continue
        if _dead_owner(m["pid"], m["host"]):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def sweep_scratch_once() -> None:
    """:func:`sweep_scratch` of the system temp folder, the first time it is called in a process."""
    global _swept
    if not _swept:
        _swept = True
        sweep_scratch()


def stale_beside(folder: str | Path, kind: str = "tmp", name: str | None = None) -> list[Path]:
    """Paths ``.<name>.<kind>-<pid>-<host>-*`` in ``folder`` left by dead processes of this host
    (any ``name`` unless given)."""
    out = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    for entry in entries:
        m = _BESIDE_RE.match(entry.name)
        if m and m["kind"] == kind and (name is None or m["name"] == name) and _dead_owner(m["pid"], m["host"]):
            out.append(Path(entry.path))
    return out


def sweep_beside(folder: str | Path) -> list[Path]:
    """Remove the unfinished outputs (``.<name>.tmp-<pid>-<host>-*``) dead processes left in ``folder``."""
    removed = stale_beside(folder, "tmp")
    for p in removed:
        remove(p)
    return removed


__all__ = ["HOST", "tag", "pid_alive", "register", "forget", "remove", "remove_all_live", "make_dir", "make_file",
           "sweep_scratch", "sweep_scratch_once", "stale_beside", "sweep_beside"]
