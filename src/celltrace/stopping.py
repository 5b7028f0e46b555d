"""Stopping a command cleanly on Ctrl-C (SIGINT) and SIGTERM.

Inside :func:`stop_on_signals` both signals raise :class:`KeyboardInterrupt` in the main thread
(SIGTERM as its subclass :class:`Terminated`), so the usual clean-up runs: atomic outputs remove
their temporary folders, scratch folders are deleted, nothing appears under the output name. A
long C call (a big numpy or scipy routine) delays the exception until it returns; a watchdog
thread, woken by the signal itself (``signal.set_wakeup_fd``), then removes this process's
temporaries (:func:`celltrace.tempdirs.remove_all_live`) and exits with ``128 + signal`` after
``grace`` seconds, so the command stops within about a second either way.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celltrace import tempdirs


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM (a KeyboardInterrupt, so the same clean-up runs)."""


def exit_code(exc: KeyboardInterrupt) -> int:
    """Shell exit status of a command stopped by ``exc``: 143 for SIGTERM, 130 for Ctrl-C."""
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


@contextmanager
def stop_on_signals(grace: float = 1.0) -> Iterator[None]:
    """Turn SIGINT / SIGTERM into :class:`KeyboardInterrupt` / :class:`Terminated` while the block
    runs (main thread only; elsewhere a no-op), with a watchdog that forces the exit after
    ``grace`` seconds if the main thread cannot react. Earlier handlers are restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping: list[int] = []
    done = threading.Event()

    def handler(signum: int, frame: object) -> None:
        if stopping:  # already stopping: let the clean-up finish (the watchdog bounds it)
            return
        stopping.append(signum)
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)

    def watchdog() -> None:
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data:  # the pipe was closed: the block is over
                return
            signums = [b for b in data if b in (signal.SIGINT, signal.SIGTERM)]
            if signums and not done.wait(grace):
                tempdirs.remove_all_live()
                os._exit(128 + signums[0])

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    old_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    thread = threading.Thread(target=watchdog, name="celltrace-stop-watchdog", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(old_fd)
        for s, h in old.items():
            signal.signal(s, h)
        os.close(write_fd)
        thread.join(timeout=grace + 1.0)
        os.close(read_fd)


__all__ = ["Terminated", "exit_code", "stop_on_signals"]
