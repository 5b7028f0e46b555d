"""Which movies a batch tracks, and where each result goes."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from celltrace.errors import InputError
from celltrace.io.tiff import IMAGE_SUFFIXES, tiff_info
from celltrace.movie import CTC_FRAME, OTHER_IMAGE_SUFFIXES

# sub-folders of a CTC dataset that are not movies: ground truth, silver truth, results
NOT_MOVIES = re.compile(r".*_(GT|ST|RES|SEG|TRA)$", re.IGNORECASE)
MAX_DEPTH = 3
"""How deep :func:`find_movies` looks for movies below a folder given as input."""


@dataclass(frozen=True)
class MovieJob:
    """One movie to track: its file or folder, its result folder and, optionally, its label images."""

    movie: Path
    out: Path
    masks: Path | None = None


def _is_frames_folder(folder: Path) -> bool:
    """A folder whose images are the frames of one movie (CTC ``tNNN.tif``, or 2D images), rather
    than a folder holding movies (multi-page TIFFs, sub-folders)."""
    if folder.suffix == ".zarr" or (folder / ".zarray").exists() or (folder / "zarr.json").exists():
        return True
    images = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
              and p.suffix.lower() in IMAGE_SUFFIXES + OTHER_IMAGE_SUFFIXES]
    if any(CTC_FRAME.match(p.name) or p.suffix.lower() in OTHER_IMAGE_SUFFIXES for p in images):
        return True
    for p in images:  # the first readable one decides: a frame, or a movie of its own
        try:
            shape, _, pages = tiff_info(p)
        except InputError:
            continue  # a damaged file decides nothing; it is reported when it is tracked
        return len(shape) == 2 and pages == 1
    return False


def _movies_below(folder: Path, out: Path, depth: int = 0) -> list[Path]:
    """The movies in ``folder``: itself if it is one, else its movie files and the movies in its
    sub-folders (CTC ``NN`` sequences; ``NN_GT``, ``NN_ST``, ``NN_RES``, hidden folders and the
    output folder ``out`` skipped)."""
    if _is_frames_folder(folder):
        return [folder]
    found: list[Path] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith(".") or child == out:
            continue
        if child.is_dir() and depth < MAX_DEPTH and not NOT_MOVIES.match(child.name):
            found += _movies_below(child, out, depth + 1)
        elif child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES:
            found.append(child)
    return found


def _absolute(path: str | Path) -> Path:
    """``path`` made absolute with ``..`` removed (symbolic links are not followed)."""
    return Path(os.path.abspath(path))


def default_output(movie: Path, out: Path) -> Path:
    """Where the result of ``movie`` goes under ``out``: a CTC sequence ``DATASET/02`` gives
    ``out/DATASET/02_RES`` (the CTC layout ``celltrace evaluate`` reads), any other movie
    ``out/<name without extension>``."""
    if movie.name.isdigit():
        return out / _absolute(movie).parent.name / f"{movie.name}_RES"
    return out / (movie.stem if movie.suffix.lower() in IMAGE_SUFFIXES + (".zarr",) else movie.name)


def read_job_list(path: Path, out: Path) -> list[MovieJob]:
    """The jobs of a CSV file with rows ``movie,out[,masks]`` (a first row ``movie,…`` is a header).
    ``movie`` and ``masks`` are relative to the CSV's folder, ``out`` to ``out``; an empty ``out``
    means :func:`default_output`."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the movie list ({exc})") from None
    jobs = []
    for n, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or (n == 1 and cells[0].lower() == "movie"):
            continue
        if len(cells) > 3 or not cells[0]:
            raise InputError(path, f"line {n}: expected 'movie,out[,masks]', got {','.join(row)!r}")
        movie = _absolute(path.parent / cells[0])
        target = out / cells[1] if len(cells) > 1 and cells[1] else default_output(movie, out)
        masks = _absolute(path.parent / cells[2]) if len(cells) > 2 and cells[2] else None
        jobs.append(MovieJob(movie, _absolute(target), masks))
    return jobs


def find_movies(inputs: Iterable[str | Path], out: str | Path) -> list[MovieJob]:
    """The movies to track for ``inputs``, in order: a movie file or folder; a folder of movies (also
    a CTC dataset folder with ``NN`` sequences, or a folder of such datasets); a ``.csv`` listing
    ``movie,out[,masks]`` (:func:`read_job_list`). A path that does not exist is kept (it fails as a
    movie, in the table). Two movies with the same output are refused (one line naming both)."""
    out = _absolute(out)
    jobs: list[MovieJob] = []
    for item in inputs:
        path = _absolute(item)
        if path.suffix.lower() == ".csv" and path.is_file():
            jobs += read_job_list(path, out)
        elif path.is_dir():
            movies = _movies_below(path, out)
            if not movies:
                raise InputError(path, "holds no movies (no frames, movie files or sequence folders)")
            jobs += [MovieJob(m, default_output(m, out)) for m in movies]
        else:
            jobs.append(MovieJob(path, default_output(path, out)))
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.out in seen:
            raise InputError(job.out, f"two movies would write here: {seen[job.out]} and {job.movie} "
                                      f"(give them their own outputs in a CSV list)")
        seen[job.out] = job.movie
    return jobs


__all__ = ["MovieJob", "find_movies", "read_job_list", "default_output", "NOT_MOVIES", "MAX_DEPTH"]
