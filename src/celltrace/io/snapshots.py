"""A result folder replaced as a whole, again and again, while others read it: versions behind a
symbolic link.

``NAME`` is a symbolic link to ``.NAME.live/vNNNNNN``, a complete folder. A new version is written
in a temporary folder beside the others (files it shares with the current version are hard links,
so a version costs only what changed), renamed to its version name, and the link is replaced in
one rename: whoever opens ``NAME`` gets either the old or the new version, never a mixture being
written. A reader that resolves ``NAME`` once (``os.path.realpath``; celltrace's CTC reader does)
reads a single version throughout; a version stays on disk ``keep_s`` seconds after it stopped
being current, for readers still on it.

:meth:`SnapshotFolder.close` makes ``NAME`` a real folder again (the last version, swapped in with
:func:`~celltrace.io.atomic.exchange`) and removes ``.NAME.live``. A later session can publish
onto a real folder too (the first new version is swapped in for it).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celltrace import tempdirs
from celltrace.errors import InputError
from celltrace.io.atomic import exchange

_VERSION = re.compile(r"^v(\d{6,})$")


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` as ``dst`` (no data copied); copy where the file system has no hard links."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class SnapshotFolder:
    """The folder ``target``, published in versions (see the module docstring)."""

    def __init__(self, target: str | Path, keep_s: float = 60.0):
        self.target = Path(target)
        self.store = self.target.with_name(f".{self.target.name}.live")
        self.keep_s = float(keep_s)
        self._retired: dict[Path, float] = {}   # old version → when it stopped being current
        versions = [int(m[1]) for p in self._versions() if (m := _VERSION.match(p.name))]
        self._next = max(versions, default=-1) + 1
        now = time.monotonic()
        current = self.current()
        for p in self._versions():  # versions a stopped session left: no reader needs them long
            if p != current:
                self._retired[p] = now - self.keep_s
        if self.store.is_dir():
            tempdirs.sweep_beside(self.store)
        tempdirs.sweep_beside(self.target.parent)

    def _versions(self) -> list[Path]:
        if not self.store.is_dir():
            return []
        return sorted(p for p in self.store.iterdir() if _VERSION.match(p.name))

    def current(self) -> Path | None:
        """The folder ``target`` shows now (a version, or ``target`` itself when it is a real
        folder), or None when there is none."""
        if self.target.is_symlink():
            resolved = Path(os.path.realpath(self.target))
            return resolved if resolved.is_dir() else None
        return self.target if self.target.is_dir() else None

    @contextmanager
    def version(self) -> Iterator[Path]:
        """Yield an empty temporary folder; when the block ends without error, publish it as the
        new current version (else remove it, leaving the current version as it was)."""
        self.store.mkdir(exist_ok=True)
        tmp = tempdirs.make_dir(f".v{self._next:06d}.tmp-", dir=self.store)
        try:
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())
            final = self.store / f"v{self._next:06d}"
            os.rename(tmp, final)
            tempdirs.forget(tmp)
        except BaseException:
            tempdirs.remove(tmp)
            raise
        self._next += 1
        self._point_to(final)
        self.prune()

    def _point_to(self, version: Path) -> None:
        """Make ``target`` show ``version`` in one step."""
        previous = self.current()
        link = self.target.with_name(f".{self.target.name}.tmp-{tempdirs.tag()}-{os.urandom(4).hex()}")
        os.symlink(os.path.join(self.store.name, version.name), link)
        tempdirs.register(link)
        if self.target.is_symlink() or not os.path.lexists(self.target):
            os.replace(link, self.target)
            tempdirs.forget(link)
        elif self.target.is_dir():  # a real folder (a finished session, or one --overwrite replaces)
            if not exchange(link, self.target):  # no atomic swap here: absent for an instant
                old = link.with_name(link.name + "-old")
                os.rename(self.target, old)
                tempdirs.register(old)
                os.replace(link, self.target)
                tempdirs.forget(link)
                link = old
            tempdirs.remove(link)
            previous = None
        else:
            tempdirs.remove(link)
            raise InputError(self.target, "exists and is not a folder")
        if previous is not None and previous.parent == self.store:
            self._retired[previous] = time.monotonic()

    def prune(self, keep_s: float | None = None) -> None:
        """Remove the versions that stopped being current more than ``keep_s`` seconds ago."""
        keep = self.keep_s if keep_s is None else keep_s
        now = time.monotonic()
        for path, since in list(self._retired.items()):
            if now - since >= keep:
                shutil.rmtree(path, ignore_errors=True)
                del self._retired[path]

    def close(self) -> None:
        """Make ``target`` a real folder holding the current version and remove the others (a
        reader still on an old version loses it)."""
        current = self.current()
        if self.target.is_symlink() and current is not None and current.parent == self.store:
            if not exchange(current, self.target):  # no atomic swap here: absent for an instant
                os.unlink(self.target)
                os.rename(current, self.target)
        if self.store.is_dir():
            shutil.rmtree(self.store, ignore_errors=True)
        self._retired.clear()


__all__ = ["SnapshotFolder", "link_or_copy"]
