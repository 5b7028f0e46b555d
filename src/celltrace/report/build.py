"""write_report: one pass over the frames → overlay movie, tables, plots, error view, report.html."""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from celltrace.errors import CelltraceError
from celltrace.io.suspects import SUSPECTS_FILE, read_suspects, write_suspects
from celltrace.movie import Movie, open_movie
from celltrace.tracking import Tracking, frame_measurements
from celltrace.units import add_unit_columns, format_interval, format_pixel_size, scale_of

from celltrace.report import html as H
from celltrace.report.errors import ErrorFinder, ErrorReport, error_snapshot, plot_errors_per_frame
from celltrace.report.lineage_plot import plot_lineage
from celltrace.report.overlay import FrameRenderer, OverlayWriter, intensity_limits
from celltrace.report.statistics import plot_statistics, track_statistics

REPORT_FILE = "report.html"
COLLAPSE_ROWS = 20  # longer tables of errors are folded in a <details> whose summary gives the count

HEADLINE = ["TRA", "DET", "LNK", "SEG", "OP_CTB", "CT", "TF", "BC(2)", "CCA", "MOTA", "IDF1", "CHOTA",
            "AOGM", "AOGM_NS", "AOGM_FN", "AOGM_FP", "AOGM_ED", "AOGM_EA", "AOGM_EC"]
METRIC_NOTES = {
    "BC(2)": "branching correctness (divisions, ±2 frames)", "AOGM": "weighted graph errors (0 = perfect)",
    "AOGM_NS": "splits needed (merged cells)", "AOGM_FN": "missed cells", "AOGM_FP": "extra cells",
    "AOGM_ED": "links to delete", "AOGM_EA": "links to add", "AOGM_EC": "links with wrong type",
    "TRA": "tracking accuracy (AOGM-based, 1 = perfect)", "DET": "detection accuracy", "LNK": "linking accuracy",
    "SEG": "mean Jaccard of matched SEG cells", "CT": "complete tracks", "TF": "track fractions",
    "CCA": "cell-cycle accuracy", "MOTA": "multiple-object tracking accuracy", "IDF1": "identity F1",
    "CHOTA": "cell HOTA", "OP_CTB": "(SEG + TRA) / 2", "OP_CSB": "(SEG + DET) / 2",
}


def _as_tracking(x: Tracking | str | Path, what: str) -> Tracking:
    if isinstance(x, Tracking):
        return x
    return Tracking.from_ctc(x)


def _as_movie(x: Movie | str | Path | Any) -> Movie:
    if isinstance(x, Movie):
        return x
    if isinstance(x, (str, Path)):
        return open_movie(x)
    src = _file_of(x)
    return Movie(frames=x, name=src.name if src else "movie", source=src)


def write_report(result: Tracking | str | Path, movie: Movie | str | Path, out: str | Path,
                 gt: Tracking | str | Path | None = None, progress: bool = True, overwrite: bool = False,
                 max_frames_gif: int = 60, max_size: int = 512, show_labels: bool = False, fps: float = 8.0,
                 metrics: bool = True, embed_limit_mb: float = 40.0, n_error_frames: int = 4, gif_max_mb: float = 4.0,
                 title: str | None = None, scores: dict[str, Any] | None = None) -> Path:
    """Write a self-contained ``report.html`` (and its files) about one tracking result.

    Parameters
    ----------
    result : Tracking or CTC RES/GT folder
        The tracking to show.
    movie : Movie, movie path (anything :func:`celltrace.open_movie` opens) or (T, H, W) array
        The raw frames the result was computed on.
    out : folder
        Output folder; created atomically (it appears complete or not at all).
    gt : Tracking or CTC GT folder, optional
        Ground truth: adds the metric table (:func:`celltrace.metrics.evaluate`) and the error view.
    progress : show progress bars.
    overwrite : replace an existing ``out``.
    max_frames_gif : at most this many frames in the GIF preview (every k-th frame of the movie).
    gif_max_mb : the GIF keeps fewer frames (evenly spread) when it would be larger than this. It is
        drawn at the size of the movie up to 512 px (the default ``max_size``), so cells are as easy
        to see as in the MP4, which it replaces where a browser cannot play H.264.
    max_size : longer side of the overlay movie, pixels (frames are shrunk, never enlarged).
    show_labels : write each track's label beside its cell in the movie.
    fps : frames per second of the movie.
    metrics : compute the metric table when ``gt`` is given.
    embed_limit_mb : embed the MP4 in the page up to this size, else link it.
    n_error_frames : snapshots of the frames with most errors.
    title : page title (default from the movie's name).
    scores : the metric table if the caller has already computed it (``celltrace.evaluate(result,
        gt)``); it is shown instead of evaluating again.

    Returns
    -------
    Path of ``out/report.html``. Beside it: ``overlay.mp4``, ``overlay.gif``, ``lineage_*.png``,
    ``cells.csv``, ``tracks.csv``, ``steps.csv``, ``msd.csv``, ``divisions.csv``, ``counts.csv`` and
    their plots; with ``gt`` also ``metrics.json``, ``errors.csv``, ``errors_per_frame.csv``,
    ``errors_per_frame.png``, ``errors_frame_TTT.png``.

    Frames are read one at a time (the movie, the result and the GT each once, plus the metrics'
    own pass), so memory does not grow with the length of the movie.
    """
    from tqdm.auto import tqdm

    from celltrace.io.atomic import atomic_dir

    t_start = time.time()
    out = Path(out)
    if out.exists() and not overwrite:
        from celltrace.errors import OutputExistsError

        raise OutputExistsError(out)
    res = _as_tracking(result, "result")
    mov = _as_movie(movie)
    ref = _as_tracking(gt, "ground truth") if gt is not None else None
    T = res.n_frames
    if len(mov) != T:
        raise CelltraceError(f"the movie has {len(mov)} frames, the result {T}")
    if tuple(mov.frame_shape) != tuple(res.shape[1:]):
        raise CelltraceError(f"the movie's frames are {mov.frame_shape}, the result's masks {tuple(res.shape[1:])}")
    if ref is not None and (ref.n_frames != T or tuple(ref.shape[1:]) != tuple(res.shape[1:])):
        raise CelltraceError(f"the ground truth has shape {ref.shape}, the result {res.shape}")

    divisions = res.divisions()
    with atomic_dir(out, overwrite=overwrite, checked=True) as tmp:  # checked above: one there now appeared meanwhile
        renderer = FrameRenderer(tuple(mov.frame_shape), intensity_limits(mov), max_size=max_size,
                                 show_labels=show_labels, divisions=list(divisions.itertuples(index=False)))
        finder = ErrorFinder() if ref is not None else None
        cells: list[pd.DataFrame] = []
        gt_counts = np.zeros(T, np.int64)
        with OverlayWriter(tmp / "overlay.mp4", tmp / "overlay.gif", T, fps=fps, max_frames_gif=max_frames_gif,
                           gif_max_mb=gif_max_mb) as writer:
            for t in tqdm(range(T), desc="report", unit="frame", disable=not progress):
                raw = np.asarray(mov[t])
                lab = np.asarray(res.masks[t])
                meas = frame_measurements(lab, raw.astype(np.float64, copy=False), t)
                cells.append(meas)
                cen = {int(r.label): (float(r.centroid_y), float(r.centroid_x)) for r in meas.itertuples()}
                writer.append(renderer.render(raw, lab, t, centroids=cen))
                if finder is not None:
                    finder.add(t, np.asarray(ref.masks[t]), lab)
                    gt_counts[t] = len(finder.frames[-1].gt_xy)
            poster = writer.poster
        cell_table = pd.concat(cells, ignore_index=True)
        parents = dict(zip(res.lineage["label"], res.lineage["parent"]))
        cell_table.insert(2, "parent", cell_table["label"].map(parents).fillna(0).astype(np.int64))
        pixel_size_um, frame_interval_s = scale_of(mov, res)
        add_unit_columns(cell_table, pixel_size_um, frame_interval_s).to_csv(tmp / "cells.csv", index=False)

        stats = track_statistics(cell_table, res.lineage, T, gt_counts=gt_counts if ref is not None else None,
                                 pixel_size_um=pixel_size_um, frame_interval_s=frame_interval_s)
        stats.to_csv(tmp)
        plots = plot_statistics(stats, tmp)
        trees = plot_lineage(res.lineage, T, tmp, name="lineage", frame_interval_s=frame_interval_s)
        gt_trees = plot_lineage(ref.lineage, T, tmp, name="lineage_gt", title="Ground-truth lineage trees",
                                frame_interval_s=frame_interval_s) if ref is not None else []

        if ref is None or not metrics:
            scores = None
        score_error = None
        errs: ErrorReport | None = None
        snapshots: list[tuple[int, Path]] = []
        if ref is not None:
            if metrics and scores is None:
                scores, score_error = _scores(res, ref, gt)
            if scores is not None:
                (tmp / "metrics.json").write_text(json.dumps(_jsonable(scores), indent=2))
            errs = finder.finish(ref.lineage, res.lineage)
            errs.to_csv(tmp)
            plot_errors_per_frame(errs, tmp / "errors_per_frame.png")
            for t in errs.worst_frames(n_error_frames):
                ev = errs.events[errs.events["frame"] == t]
                rgb = error_snapshot(np.asarray(mov[t]), np.asarray(res.masks[t]), np.asarray(ref.masks[t]), ev,
                                     renderer, t)
                p = tmp / f"errors_frame_{t:04d}.png"
                p.write_bytes(H.png_bytes(rgb))
                snapshots.append((t, p))

        suspects = _suspects_of(res, result)
        if suspects is not None:
            write_suspects(suspects, tmp)
        doc = _document(title or f"celltrace report — {mov.name}", res, mov, ref, result, movie, gt, tmp, renderer,
                        poster, divisions, stats, plots, trees, gt_trees, scores, score_error, errs, snapshots,
                        embed_limit_mb, time.time() - t_start, suspects)
        (tmp / REPORT_FILE).write_text(doc, encoding="utf-8")
    return out / REPORT_FILE


def _scale_text(units: Any) -> str:
    """`` (pixel 0.65 µm, every 300 s (5 min))`` for the header, or nothing when unknown."""
    parts = ([f"pixel {format_pixel_size(units.pixel_size_um)}"] if units.pixel_size_um else []) + \
        ([f"every {format_interval(units.frame_interval_s)}"] if units.frame_interval_s else [])
    return H.esc(f" ({', '.join(parts)})") if parts else ""


def _units_note(units: Any) -> str:
    """The statistics section's sentence on units."""
    if not units.pixel_size_um and not units.frame_interval_s:
        return ("Units: pixels and frames (the movie gives no pixel size or frame interval; "
                "celltrace track --pixel-size/--interval record them).")
    return (f"Units: {units.length} and {'minutes / hours' if units.frame_interval_s else 'frames'} "
            f"(pixel size {format_pixel_size(units.pixel_size_um)}, interval "
            f"{format_interval(units.frame_interval_s)}); the CSV files keep the pixel and frame columns "
            "beside the physical ones.")
def _suspects_of(res: Tracking, result_arg: Any) -> pd.DataFrame | None:
    """The result's suspect links: ``meta["suspects"]``, else the ``suspects.csv`` of its folder."""
    table = res.meta.get("suspects")
    if table is None and isinstance(result_arg, (str, Path)) and (Path(result_arg) / SUSPECTS_FILE).is_file():
        table = read_suspects(result_arg)
    return table


def _suspects_section(suspects: pd.DataFrame) -> tuple[str, str, str]:
    """The report section listing the method's own suspect links (no ground truth needed)."""
    counts = suspects.groupby("kind").size().rename("count").reset_index() if len(suspects) else \
        pd.DataFrame(columns=["kind", "count"])
    body = [f"<p>{len(suspects)} links or events the method itself flags as suspect (e.g. merge/split links "
            "its correction could not resolve, links contradicting its predicted multiplicity); score 1 = most "
            "suspicious. Check these first when curating; they open as a points layer in napari.</p>",
            H.table(counts, id="suspect-counts"),
            H.table(suspects.sort_values("score", ascending=False).round({"score": 3, "y": 1, "x": 1}),
                    id="suspects-table", max_rows=300, collapse_over=COLLAPSE_ROWS, what="suspects",
                    csv=SUSPECTS_FILE),
            H.files([SUSPECTS_FILE])]
    return ("suspects", "Suspect links (for curation)", "\n".join(body))


def _scores(res: Tracking, ref: Tracking, gt: Any) -> tuple[dict[str, Any] | None, str | None]:
    try:
        from celltrace.metrics import evaluate
    except ImportError as exc:
        return None, f"celltrace.metrics is not available ({exc})"
    try:
        return evaluate(res, gt if isinstance(gt, (str, Path)) else ref), None
    except Exception as exc:  # a broken result still gets its report; say why there are no scores
        return None, f"{type(exc).__name__}: {exc}"


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not np.isfinite(v) else float(v)
    return v


def _file_of(x: Any) -> Path | None:
    """The file or folder on disk that ``x`` was read from, if it says so: a path, a Movie's
    ``source``, a Tracking's ``meta["source"]``, a numpy memmap's (or an h5py dataset's) file."""
    if isinstance(x, (str, Path)):
        return Path(x)
    for obj in (x, getattr(x, "frames", None), getattr(x, "masks", None)):
        if obj is None:
            continue
        meta = getattr(obj, "meta", None)
        src = getattr(obj, "source", None) or (meta.get("source") if isinstance(meta, dict) else None)
        src = src or getattr(obj, "filename", None) or getattr(getattr(obj, "file", None), "filename", None)
        if isinstance(src, (str, Path)) and str(src):
            return Path(src)
    return None


def _describe(x: Any) -> str:
    """The input as the header shows it: its absolute path when it came from disk, else what it is."""
    src = _file_of(x)
    if src is not None:
        return H.esc(os.path.abspath(src))
    name = getattr(x, "name", None)
    named = isinstance(name, str) and name not in ("", "movie")
    return H.esc(type(x).__name__ + (f" '{name}'" if named else "") + " (in memory)")


def _document(title: str, res: Tracking, mov: Movie, ref: Tracking | None, result_arg: Any, movie_arg: Any,
              gt_arg: Any, folder: Path, renderer: FrameRenderer, poster: np.ndarray | None, divisions: pd.DataFrame,
              stats: Any, plots: dict[str, Path], trees: list[Path], gt_trees: list[Path],
              scores: dict[str, Any] | None, score_error: str | None, errs: ErrorReport | None,
              snapshots: list[tuple[int, Path]], embed_limit_mb: float, seconds: float,
              suspects: pd.DataFrame | None = None) -> str:
    from celltrace import __version__

    T, Hh, W = res.shape
    header = [f"result: <code>{_describe(result_arg)}</code> · movie: <code>{_describe(movie_arg)}</code>"
              + (f" · ground truth: <code>{_describe(gt_arg)}</code>" if gt_arg is not None else ""),
              f"{T} frames of {Hh} × {W} px{_scale_text(stats.units)} · {res.n_tracks} tracks · {len(divisions)} division"
              f"{'' if len(divisions) == 1 else 's'} · "
              f"celltrace {__version__} · {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} · built in {seconds:.0f} s"]
    sections: list[tuple[str, str, str]] = []

    # movie
    dh, dw = renderer.out_shape
    body = [H.video(folder / "overlay.mp4", folder / "overlay.gif",
                    H.png_bytes(poster) if poster is not None else None, width=dw, embed_limit_mb=embed_limit_mb,
                    n_frames=T),
            '<p class="note">Raw frames (shown at ' f"{dw} × {dh} px) with the contour of every cell in its track's "
            "colour (the same colour in every frame and in the lineage trees); a white ring around the daughters "
            "marks a division for the first frames after it.</p>",
            H.files(["overlay.mp4", "overlay.gif"])]
    sections.append(("movie", "Overlay movie", "\n".join(body)))

    # metrics and errors
    if ref is not None:
        if scores is not None:
            head = [k for k in HEADLINE if k in scores]
            df = pd.DataFrame([(k, scores[k], METRIC_NOTES.get(k, "")) for k in head],
                              columns=["metric", "value", "meaning"])
            everything = pd.DataFrame([(k, v) for k, v in scores.items()], columns=["metric", "value"])
            body = [H.table(df, id="metrics-table"),
                    f"<details><summary>All {len(everything)} numbers</summary>"
                    + H.table(everything, id="metrics-all") + "</details>",
                    '<p class="note">From <code>celltrace.metrics.evaluate</code> (CTC TRA/DET/LNK/SEG, '
                    "biological CT/TF/BC/CCA, MOT, divisions); 1 is perfect for the accuracies.</p>",
                    H.files(["metrics.json"])]
        else:
            body = [f'<p id="metrics-table" class="bad">No scores: {H.esc(score_error)}</p>']
        sections.append(("metrics", "Scores against the ground truth", "\n".join(body)))
        assert errs is not None
        n = len(errs.events)
        body = [f"<p>{n} disagreements between the result and the ground truth "
                "(GT cell R matched by result region S iff |R∩S| &gt; ½|R|). "
                "Start with the frames with most errors; each error names the GT and result labels.</p>",
                H.table(errs.counts(), id="error-counts"),
                '<div class="grid">' + H.img(folder / "errors_per_frame.png", id="errors-per-frame",
                                             alt="errors per frame") + "</div>"]
        if snapshots:
            figs = [H.img(p, cls="error-frame", alt=f"errors in frame {t}",
                          caption=f"frame {t}: {int(errs.per_frame.loc[t, 'total'])} errors. Result contours in "
                                  "track colours, GT markers in white; FN missed cell, FP extra region, M merge, "
                                  "S split, L−/L+ missing/extra link, D−/D+ missed/false division.")
                    for t, p in snapshots]
            body.append("<h3>Frames with most errors</h3><div class=\"grid\">" + "".join(figs) + "</div>")
        body.append("<h3>All errors</h3>" + H.table(errs.events.round({"y": 1, "x": 1}), id="errors-table",
                                                  max_rows=300, collapse_over=COLLAPSE_ROWS,
                                                  what="disagreements", csv="errors.csv"))
        body.append(H.files(["errors.csv", "errors_per_frame.csv"]))
        sections.append(("errors", "Where the result disagrees", "\n".join(body)))

    if suspects is not None:
        sections.append(_suspects_section(suspects))

    # lineage
    body = ['<p class="note">Time runs left to right; one tree per founder cell; a division branches the '
            "mother's line into its daughters (●); ✕ marks a track that ends before the last frame without "
            "dividing; a dashed connector joins a track continued after a gap. Colours as in the movie.</p>"]
    body += [H.img(p, id=f"lineage-tree-{k}", cls="lineage-tree", alt="lineage trees") for k, p in enumerate(trees)]
    if gt_trees:
        body.append("<details><summary>Ground-truth lineage trees</summary>"
                    + "".join(H.img(p, cls="lineage-tree-gt", alt="ground-truth lineage trees") for p in gt_trees)
                    + "</details>")
    sections.append(("lineage", "Lineage trees", "\n".join(body)))

    # statistics
    caps = {"counts": ("Cells per frame (result; GT dashed), divisions and lost tracks" if ref is not None
                       else "Cells per frame, divisions and lost tracks"),
            "track_lengths": "Frames per track (CTC label segment)",
            "speeds": "Centroid displacement per frame; steps and per-track means",
            "msd": "Mean-squared displacement vs. lag, with diffusive and ballistic guides",
            "division_times": "When cells divide, and complete cell cycles (birth to division)"}
    figs = "".join(H.img(plots[k], id=f"plot-{k}", cls="stat-plot", alt=caps[k], caption=H.esc(caps[k]))
                   for k in ["counts", "track_lengths", "speeds", "msd", "division_times"] if k in plots)
    tracks_view = stats.tracks.copy()
    body = [H.table(stats.summary(), id="statistics-table"), f'<div class="grid">{figs}</div>',
            f"<details><summary>Tracks ({len(tracks_view)})</summary>"
            + H.table(tracks_view, id="tracks-table", max_rows=500, csv="tracks.csv") + "</details>",
            f"<details><summary>Divisions ({len(stats.divisions)})</summary>"
            + H.table(stats.divisions.assign(daughters=stats.divisions["daughters"].map(
                lambda d: " ".join(map(str, d)))) if len(stats.divisions) else stats.divisions,
                      id="divisions-table", max_rows=500, csv="divisions.csv") + "</details>",
            "<details><summary>Mean-squared displacement</summary>" + H.table(stats.msd, id="msd-table") + "</details>",
            f'<p class="note">{H.esc(_units_note(stats.units))} Every table is also a CSV file beside this page.</p>',
            H.files(["cells.csv", "tracks.csv", "steps.csv", "msd.csv", "divisions.csv", "counts.csv"])]
    sections.append(("statistics", "Track statistics", "\n".join(body)))
    return H.page(title, header, sections)
