"""Frame numbers from file names: numeric order, and one clear line where the order is ambiguous.

``frame2.tif`` comes before ``frame10.tif`` whether or not the numbers are zero-padded; a folder
whose names do not fix one order (``t1.tif`` beside ``t01.tif``, ``a1.tif`` beside ``b2.tif``) is
refused rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from celltrace.errors import InputError

_NUMBER = re.compile(r"(\d+)")


def frame_order(folder: str | Path, files: Iterable[Path]) -> list[tuple[int, Path]]:
    """``(frame number, file)`` for ``files`` of ``folder``, in increasing frame number.

    Each file's stem is split into text and numbers (``img_t12`` → ``img_t``, 12). All stems must
    have the same text and differ in at most one number, the frame number (extensions are not
    compared). Raises :class:`~celltrace.errors.InputError` naming ``folder`` when the names differ
    in their text, in more than one number, or give two files the same frame number.
    """
    paths = sorted(files, key=lambda p: p.name)
    if not paths:
        return []
    parts = [_NUMBER.split(p.stem) for p in paths]  # text, number, text, ..., text
    first = paths[0]
    for p, s in zip(paths, parts):
        if s[0::2] != parts[0][0::2]:
            raise InputError(folder, f"cannot tell the frame order: {first.name!r} and {p.name!r} "
                                     "differ in more than a frame number")
    numbers = [[int(x) for x in s[1::2]] for s in parts]
    varying = [i for i in range(len(numbers[0])) if len({n[i] for n in numbers}) > 1]
    if len(varying) > 1:
        other = next(p for p, n in zip(paths, numbers) if n[varying[1]] != numbers[0][varying[1]])
        raise InputError(folder, f"cannot tell the frame order: more than one number changes between names "
                                 f"(e.g. {first.name!r} and {other.name!r})")
    if not numbers[0] and len(paths) > 1:
        raise InputError(folder, f"cannot tell the frame order: names hold no frame number "
                                 f"(e.g. {paths[0].name!r} and {paths[1].name!r})")
    pos = varying[0] if varying else len(numbers[0]) - 1
    keyed = sorted(((n[pos] if pos >= 0 else 0), p) for n, p in zip(numbers, paths))
    for (na, a), (nb, b) in zip(keyed, keyed[1:]):
        if na == nb:
            raise InputError(folder, f"cannot tell the frame order: {a.name!r} and {b.name!r} "
                                     f"both have frame number {na}")
    return keyed


def numbered_files(folder: str | Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    """``(number, file)`` for the files of ``folder`` whose name matches ``pattern`` (group 1: the
    number), in increasing number; two files with the same number raise InputError naming ``folder``."""
    folder = Path(folder)
    return frame_order(folder, [p for p in folder.iterdir() if pattern.match(p.name)])


MULTI_SUFFIXES = (".ome.tiff", ".ome.tif", ".ome.zarr", ".ome.btf")


def movie_name(path: str | Path) -> str:
    """The name of a movie file or folder without its format's suffix (``cells.ome.tif`` → ``cells``)."""
    path = Path(path)
    lower = path.name.lower()
    for suffix in MULTI_SUFFIXES:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return path.name[:-len(suffix)]
    return path.stem if path.suffix else path.name
