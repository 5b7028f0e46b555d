"""Atomic outputs: results appear complete under their final name, or not at all.

A result is written into a temporary sibling (``.NAME.tmp-<pid>-<host>-*``, see
:mod:`celltrace.tempdirs`) and renamed onto ``NAME`` when complete. The final rename never
replaces something that appeared meanwhile (another run, a user's file) unless ``overwrite``: the
result then goes to ``NAME.new-<pid>`` and an :class:`OutputError` says so. An ``overwrite`` swap is
recoverable: ``NAME`` → ``.NAME.old-<pid>-<host>-*``, new → ``NAME``, the old one deleted; a run
killed between the two renames leaves the old result under the hidden name, and the next
:func:`check_output` / :func:`atomic_dir` on ``NAME`` puts it back (or deletes it when ``NAME``
exists). An ``OSError`` while writing (disk full, no permission) names the user's output path,
never the temporary one.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from celltrace import tempdirs
from celltrace.errors import InputError, OutputError, OutputExistsError

PathLike = str | Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------------- renaming without replacing
def _load_renameat2():
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_RENAMEAT2 = _load_renameat2()
_AT_FDCWD, _RENAME_NOREPLACE = -100, 1


def rename_noreplace(src: PathLike, dst: PathLike) -> None:
    """Rename ``src`` to ``dst``, raising :class:`FileExistsError` if ``dst`` exists — atomically
    where the system has ``renameat2(RENAME_NOREPLACE)`` (Linux), else check-then-rename."""
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # else: not supported here
            raise OSError(err, os.strerror(err), str(src), None, str(dst))
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(src), None, str(dst))
    os.rename(src, dst)


_RENAME_EXCHANGE = 2


def exchange(a: PathLike, b: PathLike) -> bool:
    """Swap the paths ``a`` and ``b`` (files, folders or links) in one step, so that a reader sees
    the one or the other under each name, never neither; with ``renameat2(RENAME_EXCHANGE)``
    (Linux). Returns False, changing nothing, where the system or file system cannot do it."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _new_sibling(target: Path) -> Path:
    """A free, clearly named place beside ``target`` for a result that could not take its name:
    ``NAME.new-<pid>`` (files keep their extension: ``cells.new-<pid>.csv``)."""
    pid = os.getpid()
    for i in range(1000):
        extra = f"-{i}" if i else ""
        name = (f"{target.stem}.new-{pid}{extra}{target.suffix}" if target.suffix and not target.is_dir()
                else f"{target.name}.new-{pid}{extra}")
        candidate = target.with_name(name)
        if not os.path.lexists(candidate):
            return candidate
    raise OutputError(target, "no free name for the result beside it")


def _park(tmp: Path, target: Path) -> OutputError:
    """Move the finished ``tmp`` beside ``target`` (which appeared meanwhile) and return the error
    that says where it is."""
    sibling = _new_sibling(target)
    rename_noreplace(tmp, sibling)
    tempdirs.forget(tmp)
    return OutputError(target, f"appeared while celltrace was writing it and was left as it is; "
                               f"the new result is in {sibling}")


# ---------------------------------------------------------------------- checks before the work
def recover(target: PathLike) -> None:
    """Finish a ``--overwrite`` swap that a dead process left half done: its ``.NAME.old-*`` is put
    back as ``NAME`` when ``NAME`` is missing, else deleted. Paths of live processes are not touched."""
    target = Path(target)
    parent = target.parent
    olds = tempdirs.stale_beside(parent, "old", name=target.name)
    olds.sort(key=lambda p: p.lstat().st_ctime, reverse=True)  # the latest swap first
    for old in olds:
        if not os.path.lexists(target):
            os.rename(old, target)
        else:
            tempdirs.remove(old)
    tempdirs.sweep_beside(parent)


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def refuse_overlap(output: PathLike, inputs: Iterable[tuple[str, PathLike | None]]) -> None:
    """Raise :class:`InputError` if ``output`` is, contains or lies inside one of ``inputs``
    (``(what, path)`` pairs, e.g. ``("movie", "02")``) or contains the current folder; paths are
    compared resolved (symbolic links followed)."""
    out = Path(output).resolve()
    for what, path in inputs:
        if path is None:
            continue
        inp = Path(path).resolve()
        if out == inp:
            raise InputError(output, f"the output is the input {what} ({path}); write the result elsewhere")
        if _inside(inp, out):
            raise InputError(output, f"the output would contain the input {what} ({path}); write the result elsewhere")
        if _inside(out, inp):
            raise InputError(output, f"the output lies inside the input {what} ({path}); write the result elsewhere")
    if _inside(Path.cwd().resolve(), out):
        raise InputError(output, "the output is or contains the current folder; write the result elsewhere")


def check_output(target: PathLike, overwrite: bool = False,
                 inputs: Iterable[tuple[str, PathLike | None]] = ()) -> Path:
    """What a command checks before hours of work: finish an interrupted swap (:func:`recover`),
    remove dead runs' temporaries beside ``target``, refuse an output that overlaps an input
    (:func:`refuse_overlap`) or that exists (unless ``overwrite``). Returns ``target`` as a Path."""
    target = Path(target)
    refuse_overlap(target, inputs)
    recover(target)
    if os.path.lexists(target) and not overwrite:
        raise OutputExistsError(target)
    return target


# ---------------------------------------------------------------------- errors while writing
def _output_error(exc: OSError, target: Path, tmp: Path | None) -> BaseException:
    """``exc`` re-worded to name the user's path: a temporary path becomes ``target`` (a file
    inside a temporary folder becomes the same file inside ``target``); an error that names some
    other file (an input being read) is returned unchanged."""
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    path = target
    for name in names:
        p = Path(os.fsdecode(name))
        if tmp is not None and _inside(p, tmp):
            path = target / p.relative_to(tmp) if p != tmp else target
            break
        if p.parent == target.parent and p.name.startswith(f".{target.name}."):
            break
        if p == target:
            break
    else:
        if names:
            return exc
    return OutputError(path, f"cannot write: {exc.strerror or exc}", exc.errno)


# ---------------------------------------------------------------------- atomic folder / file
def _failed(exc: BaseException, target: Path, tmp: Path | None) -> BaseException:
    """What an atomic write that failed with ``exc`` raises, after removing its temporary ``tmp``: an
    OSError becomes an :class:`OutputError` naming ``target`` (never the temporary name); anything
    else (our own errors, Ctrl-C) is raised as it is."""
    if tmp is not None:
        tempdirs.remove(tmp)
    if isinstance(exc, OSError) and not isinstance(exc, OutputError):
        return _output_error(exc, target, tmp)
    return exc


@contextmanager
def atomic_dir(target: PathLike, overwrite: bool = False, checked: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success rename it to ``target``.

    On any exception the temporary folder is removed and ``target`` is left as it was. An existing
    ``target`` raises :class:`OutputExistsError` unless ``overwrite`` (then it is replaced only after
    the new content is complete, by a swap that the next run can finish if this one is killed). A
    ``target`` that appears while the folder is written is not replaced (unless ``overwrite``): the
    result is left in ``NAME.new-<pid>`` and :class:`OutputError` says so. ``checked``: the caller
    has refused an existing ``target`` before its work (:func:`check_output`), so one found now
    appeared meanwhile and is treated so (kept, the result parked beside it).
    """
    target = Path(target)
    parent = target.parent
    tmp: Path | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        recover(target)
        if not checked:
            if os.path.lexists(target) and not overwrite:
                raise OutputExistsError(target)
            if os.path.lexists(target) and not target.is_dir():
                raise InputError(target, "exists and is not a folder")
        tmp = tempdirs.make_dir(f".{target.name}.tmp-", dir=parent)
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; results should read like any folder
        _finish_dir(tmp, target, overwrite)
    except BaseException as exc:
        err = _failed(exc, target, tmp)
        if err is exc:
            raise
        raise err from exc


def _finish_dir(tmp: Path, target: Path, overwrite: bool) -> None:
    """Rename the complete ``tmp`` onto ``target`` (see :func:`atomic_dir`)."""
    if not os.path.lexists(target):
        try:
            rename_noreplace(tmp, target)
            tempdirs.forget(tmp)
            return
        except FileExistsError:
            if not overwrite:
                raise _park(tmp, target) from None
    elif not overwrite:
        raise _park(tmp, target)
    if not target.is_dir():
        raise _park(tmp, target)
    old = target.with_name(f".{target.name}.old-{tempdirs.tag()}-{secrets.token_hex(4)}")
    os.rename(target, old)
    try:
        rename_noreplace(tmp, target)
    except BaseException:
        if not os.path.lexists(target):
            os.rename(old, target)
        raise
    tempdirs.forget(tmp)
    tempdirs.remove(old)


@contextmanager
def atomic_file(target: PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    Without ``overwrite`` an existing ``target`` raises :class:`OutputExistsError`, and one that
    appears while the file is written is kept: the new file goes to ``STEM.new-<pid>.SUFFIX`` and
    :class:`OutputError` says so.
    """
    target = Path(target)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tempdirs.sweep_beside(target.parent)
        if os.path.lexists(target) and not overwrite:
            raise OutputExistsError(target)
        tmp = tempdirs.make_file(f".{target.name}.tmp-", target.parent, suffix=target.suffix)
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                rename_noreplace(tmp, target)
            except FileExistsError:
                raise _park(tmp, target) from None
        tempdirs.forget(tmp)
    except BaseException as exc:
        err = _failed(exc, target, tmp)
        if err is exc:
            raise
        raise err from exc


__all__ = ["atomic_dir", "atomic_file", "check_output", "exchange", "refuse_overlap", "recover", "rename_noreplace"]
