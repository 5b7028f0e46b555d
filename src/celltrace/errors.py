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
    """The output exists and overwriting was not asked for (the message says whether a file or a
    folder is in the way)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        what = "the output file exists" if self.path.is_file() else "output folder already exists"
        super().__init__(f"{path}: {what} (use --overwrite to replace it)")


class OutputError(CelltraceError, OSError):
    """Writing an output failed (disk full, no permission, ...) or could not take its name; ``path``
    is the user's output path (or a file inside it), never a temporary name. Also an OSError (with
    the original ``errno``), so code that catches those still does."""

    def __init__(self, path: str | Path, problem: str, errno: int | None = None):
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem
        self.errno = errno


class CelltraceWarning(UserWarning):
    """Input celltrace could use after repairing it (e.g. NaN pixels filled); one line, shown by the
    CLI as ``celltrace: warning: ...``."""
