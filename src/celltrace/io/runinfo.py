"""``run.json``: the provenance of a tracking result, written inside its output folder.

Fields: ``celltrace`` (version), ``method``, ``parameters`` (every parameter with the value used:
the method's resolved config), ``overrides`` (what the user set), ``derived`` (values the method
measured on the movie and used, e.g. the cell radius), ``weights`` (path and SHA-256 of
each weights file read; empty for methods without weights), ``device``, ``input`` and ``masks``
(absolute paths), ``n_frames``, ``frame_shape``, ``n_tracks``, ``n_divisions``, ``min_track_length``,
``timings`` (seconds), ``date`` (start, ISO 8601 with time zone), ``command``, ``python``; the
movie's scale ``pixel_size_um`` ([y, x] in µm) and ``frame_interval_s`` (null when unknown) with
``scale_from`` (for each: ``file``, or ``given`` with what the file said) and, for microscope
files, the ``selection`` read (scene, channel, z).
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

from celltrace.errors import InputError
from celltrace.io.atomic import atomic_file
from celltrace.units import INTERVAL_KEY, PIXEL_KEY, format_interval, format_pixel_size, scale_meta, scale_of

RUN_FILE = "run.json"
# values a method measured on the movie and used (recorded beside the parameters)
DERIVED = ("cell_radius", "segmentation_radius", "typical_displacement", "linker", "n_objects", "n_links")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def run_record(meta: dict[str, Any], *, method: str, input: str | Path, n_frames: int,
               frame_shape: tuple[int, ...], date: str, timings: dict[str, float],
               masks: str | Path | None = None, overrides: dict[str, Any] | None = None,
               min_track_length: int | None = None, command: str | None = None,
               n_tracks: int | None = None, n_divisions: int | None = None) -> dict[str, Any]:
    """The ``run.json`` record of a result whose ``meta`` was filled by :func:`celltrace.track`
    (``n_tracks``, ``n_divisions``: what it found, for summaries that do not reread the masks)."""
    from celltrace import __version__

    weights = [{"path": str(Path(p).resolve()), "sha256": sha256_file(p)} for p in meta.get("weights_files") or []]
    return {
        "celltrace": __version__, "method": method, "parameters": meta.get("config", {}),
        "overrides": overrides or {},
        "derived": {k: meta[k] for k in DERIVED if meta.get(k) is not None},
        "weights": weights, "device": meta.get("device"),
        "input": str(Path(input).resolve()), "masks": str(Path(masks).resolve()) if masks is not None else None,
        "n_frames": int(n_frames), "frame_shape": [int(s) for s in frame_shape],
        "n_tracks": n_tracks, "n_divisions": n_divisions,
        "min_track_length": min_track_length, "dropped_tracks": meta.get("dropped_tracks"),
        "timings": {k: round(float(v), 3) for k, v in timings.items()}, "date": date, "command": command,
        "python": platform.python_version(),
        PIXEL_KEY: list(meta[PIXEL_KEY]) if meta.get(PIXEL_KEY) is not None else None,
        INTERVAL_KEY: meta.get(INTERVAL_KEY), "scale_from": meta.get("scale_from") or {},
        **({"selection": meta["selection"]} if meta.get("selection") else {}),
    }


def write_run(folder: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``folder/run.json`` (atomically)."""
    path = Path(folder) / RUN_FILE
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def read_run(folder: str | Path) -> dict[str, Any] | None:
    """``folder/run.json`` as a dict, or ``None`` if there is none; unreadable → one-line InputError."""
    path = Path(folder) / RUN_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not a readable run record ({exc})") from None


def run_scale(folder: str | Path) -> dict[str, Any]:
    """The scale recorded in ``folder/run.json`` as ``Tracking.meta`` keys (only the known ones;
    empty without a readable run.json)."""
    try:
        record = read_run(folder)
    except InputError:
        return {}
    return scale_meta(*scale_of(record)) if record else {}


def describe_scale(pixel_size_um: Any, frame_interval_s: Any, scale_from: dict[str, str] | None = None) -> list[str]:
    """The ``celltrace info`` lines for a scale: pixel size and frame interval, each with where it
    came from, or how to give it."""
    pixel, interval = scale_of({PIXEL_KEY: pixel_size_um, INTERVAL_KEY: frame_interval_s})
    came = scale_from or {}
    return [f"  pixel size {format_pixel_size(pixel)}"
            + (f" ({came[PIXEL_KEY]})" if pixel and came.get(PIXEL_KEY) else "" if pixel else " (give --pixel-size)"),
            f"  interval   {format_interval(interval)}"
            + (f" ({came[INTERVAL_KEY]})" if interval and came.get(INTERVAL_KEY) else "" if interval else " (give --interval)")]


def describe_run(record: dict[str, Any]) -> list[str]:
    """Lines for ``celltrace info``: how the result was made, then every parameter."""
    t = record.get("timings") or {}
    lines = [f"  made by    celltrace {record.get('celltrace')}, method {record.get('method')}, "
             f"on {record.get('date')}" + (f", device {record['device']}" if record.get("device") else ""),
             f"  input      {record.get('input')} ({record.get('n_frames')} frames)"]
    if record.get("selection"):
        lines.append("  selection  " + ", ".join(f"{k} {v}" for k, v in record["selection"].items()))
    if record.get("masks"):
        lines.append(f"  masks      {record['masks']}")
    lines += describe_scale(record.get(PIXEL_KEY), record.get(INTERVAL_KEY), record.get("scale_from"))
    for w in record.get("weights") or []:
        lines.append(f"  weights    {w.get('path')} (sha256 {w.get('sha256')})")
    if record.get("min_track_length"):
        lines.append(f"  filter     tracks shorter than {record['min_track_length']} frames dropped "
                     f"({record.get('dropped_tracks')})")
    if t:
        lines.append("  timings    " + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in t.items()))
    if record.get("command"):
        lines.append(f"  command    {record['command']}")
    if record.get("derived"):
        lines.append("  derived    " + ", ".join(f"{k} {_short(v)}" for k, v in record["derived"].items()))
    lines.append("  parameters" + (" (defaults unless overridden: " + ", ".join(record["overrides"]) + ")"
                                   if record.get("overrides") else ""))
    for name, value in _flat(record.get("parameters") or {}):
        lines.append(f"    {name} = {json.dumps(value, default=str)}")
    return lines


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _flat(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flat(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


__all__ = ["RUN_FILE", "sha256_file", "run_record", "write_run", "read_run", "run_scale", "describe_scale",
           "describe_run"]
