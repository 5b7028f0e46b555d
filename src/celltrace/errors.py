"""Errors celltrace raises for bad input: one line that names the file and what is wrong."""

from __future__ import annotations

from pathlib import Path


class CelltraceError(Exception):
    """Base class: the message is one human-readable line, shown by the CLI without a traceback."""


class InputError(CelltraceError):
    """A file or folder the user gave cannot be used (missing, unreadable, wrong shape, ...)."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class UsageError(CelltraceError, ValueError):
    """An option has a value celltrace does not accept (an unknown metric, a bad frame range)."""


class TrackingError(CelltraceError):
    """A tracking result breaks the CTC rules (see :meth:`celltrace.Tracking.validate`)."""


class OutputExistsError(CelltraceError):
    """The output folder exists and overwriting was not asked for."""

    def __init__(self, path: str | Path):
        super().__init__(f"{path}: output folder already exists (use --overwrite to replace it)")


class CelltraceWarning(UserWarning):
    """Input celltrace could use after repairing it (e.g. NaN pixels filled); one line, shown by the
    CLI as ``celltrace: warning: ...``."""
