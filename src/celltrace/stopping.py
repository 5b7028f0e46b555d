"""Stopping a command cleanly on Ctrl-C (SIGINT) and SIGTERM.

Inside :func:`stop_on_signals` both signals raise :class:`KeyboardInterrupt` in the main thread
(SIGTERM as its subclass :class:`Terminated`), so the usual clean-up runs: atomic outputs remove
their temporary folders, scratch folders are deleted, nothing appears under the output name, and
the CLI exits with 130 / 143. Python runs that handler only between bytecodes, so a long C call
delays it; two watchdogs, woken by the signal itself (``signal.set_wakeup_fd`` writes the signal
number to a pipe from the C-level handler), bound the delay:

* a thread (for C calls that release the GIL: numpy, zlib, torch, file I/O) that, ``grace``
  seconds after the signal, removes this process's temporaries
  (:func:`celltrace.tempdirs.remove_all_live`) and exits with ``128 + signal``;
* a small helper process (for C calls that hold the GIL, e.g. scipy's sparse matching, where no
  thread of this process can run) that, ``grace + 0.5`` seconds after the signal, kills this
  process (SIGKILL, exit 137) and removes what it left: its scratch folders in the temp folder and
  its temporaries beside the outputs (:func:`celltrace.tempdirs.sweep_scratch`, ``sweep_beside``).
  The helper also cleans up after a process that dies without finishing (SIGKILL from outside).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from celltrace import tempdirs


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM (a KeyboardInterrupt, so the same clean-up runs)."""


# what stop_on_signals has installed in this process, undone in forked children (a worker process
# must not wake the watchdogs of its parent, nor inherit its handlers)
_installed: dict[str, Any] = {}


def _after_fork_in_child() -> None:
    if not _installed:
        return
    try:
        signal.set_wakeup_fd(-1)
        for s, h in _installed["handlers"].items():
            signal.signal(s, h)
        os.close(_installed["wake_fd"])
    except (ValueError, OSError):
        pass
    _installed.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def exit_code(exc: KeyboardInterrupt) -> int:
    """Shell exit status of a command stopped by ``exc``: 143 for SIGTERM, 130 for Ctrl-C."""
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


# The helper process: it loads celltrace/tempdirs.py by path (stdlib only), so it starts in
# milliseconds without importing the package (numpy, torch...).
_HELPER = r"""
import importlib.util, os, select, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
spec = importlib.util.spec_from_file_location("_celltrace_tempdirs", sys.argv[1])
tempdirs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tempdirs)
fd, out, parent, grace = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
folders = sys.argv[6:]

def gone(pid, wait):
    t0 = time.monotonic()
    while tempdirs.pid_alive(pid):
        if time.monotonic() - t0 > wait:
            return False
        time.sleep(0.02)
    return True

def clean_up():
    if gone(parent, 5.0):  # its temporaries now belong to a dead process: the sweeps take them
        tempdirs.sweep_scratch()
        for folder in folders:
            tempdirs.sweep_beside(folder)

deadline, done = None, False
while True:
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:  # a signal came and the process could not stop by itself: stuck in a C call
        if tempdirs.pid_alive(parent):
            os.kill(parent, signal.SIGKILL)
        clean_up()
        break
    data = os.read(fd, 64)
    if not data:  # the process closed the pipe: finished (done), or died
        if not done:
            clean_up()
        break
    done = done or 0 in data
    signums = bytes(b for b in data if b in (signal.SIGINT, signal.SIGTERM))
    if signums:
        try:
            os.write(out, signums)  # tell the process's watchdog thread
        except OSError:
            pass
        if deadline is None:
            deadline = time.monotonic() + grace
"""


def _start_helper(read_fd: int, write_fd: int, grace: float, folders: list[str]) -> Any:
    """The helper process: reads the signal numbers from ``read_fd``, copies them to ``write_fd``
    (None where it cannot be started)."""
    import subprocess
    import sys

    if not hasattr(os, "fork") or not sys.executable:
        return None
    try:
        return subprocess.Popen([sys.executable, "-c", _HELPER, tempdirs.__file__, str(read_fd), str(write_fd),
                                 str(os.getpid()), str(grace), *folders], pass_fds=(read_fd, write_fd),
                                start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    except OSError:
        return None


@contextmanager
def stop_on_signals(grace: float = 1.0, folders: Iterable[str | Path] = ()) -> Iterator[None]:
    """Turn SIGINT / SIGTERM into :class:`KeyboardInterrupt` / :class:`Terminated` while the block
    runs (main thread only; elsewhere a no-op), with the watchdogs of the module docstring.
    ``folders``: where this process writes outputs (its ``.NAME.tmp-*`` there are removed if it
    has to be killed). Earlier handlers are restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping: list[int] = []
    done = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stopping:  # already stopping: let the clean-up finish (the watchdogs bound it)
            return
        stopping.append(signum)
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    # signal numbers: C-level handler → wake_w … wake_r → helper process → back_w … back_r → thread
    # (without a helper the thread reads wake_r itself)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    back_r, back_w = os.pipe()
    helper = _start_helper(wake_r, back_w, grace + 0.5, [str(f) for f in folders])
    os.close(back_w)
    if helper is not None:
        os.close(wake_r)
        thread_fd = back_r
    else:
        os.close(back_r)
        thread_fd = wake_r

    def watchdog() -> None:
        try:
            while True:
                data = os.read(thread_fd, 64)
                if not data:  # closed: the block is over
                    return
                signums = [b for b in data if b in (signal.SIGINT, signal.SIGTERM)]
                if signums and not done.wait(grace):
                    tempdirs.remove_all_live()
                    os._exit(128 + signums[0])
        except OSError:
            return
        finally:
            os.close(thread_fd)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    old_fd = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    _installed.update(handlers=old, wake_fd=wake_w)
    threading.Thread(target=watchdog, name="celltrace-stop-watchdog", daemon=True).start()
    try:
        yield
    finally:
        done.set()
        _installed.clear()
        signal.set_wakeup_fd(old_fd)
        for s, h in old.items():
            signal.signal(s, h)
        try:
            os.write(wake_w, b"\0")  # finished: the helper must not clean up after us
        except OSError:
            pass
        os.close(wake_w)  # the helper (or the thread) reads the end of the pipe and stops
        if helper is not None:
            helper.poll()


__all__ = ["Terminated", "exit_code", "stop_on_signals"]
