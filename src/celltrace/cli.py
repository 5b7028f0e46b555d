"""The ``celltrace`` command: a thin layer over the Python API (see ``celltrace --help``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

from celltrace.errors import CelltraceError, CelltraceWarning, InputError
from celltrace.methods.config import ParameterError

DEMO_DIR = "celltrace-demo"
DEMO_LEARNED_METHOD = "caliban"


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or messages")


def _say(args: argparse.Namespace, *lines: str) -> None:
    if not getattr(args, "quiet", False):
        for line in lines:
            print(line)


# ---------------------------------------------------------------------- movie options
def _add_movie_options(p: argparse.ArgumentParser, what: str = "the movie") -> None:
    """--scene/--channel/--z (what to read from a microscope file) and --pixel-size/--interval."""
    g = p.add_argument_group(f"reading {what}", "choose within microscope files (OME-TIFF, OME-Zarr, ND2, CZI, "
                                                "LIF: celltrace[formats]); give or override the physical scale")
    g.add_argument("--scene", metavar="NAME|N", help="scene / position / series (name or index)")
    g.add_argument("--channel", metavar="NAME|N", help="channel (name or index)")
    g.add_argument("--z", metavar="N|max", help="z-plane index, or 'max' for the maximum projection over z")
    _add_scale_options(g)


def _movie_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`celltrace.open_movie` keywords of :func:`_add_movie_options`."""
    return {"scene": args.scene, "channel": args.channel, "z": args.z, **_scale_options(args)}


def _add_scale_options(p: Any) -> None:
    """--pixel-size/--interval on the parser or argument group ``p``: the physical scale, given or
    overriding the file's."""
    p.add_argument("--pixel-size", metavar="UM", help="pixel size in µm ('0.65', '0.65,0.5' for y,x, '650nm'); "
                                                      "overrides the file's")
    p.add_argument("--interval", metavar="T", help="time between frames ('300' s, '5min', '0.5h'); overrides the file's")


def _scale_options(args: argparse.Namespace) -> dict[str, Any]:
    """--pixel-size/--interval as ``pixel_size_um`` / ``frame_interval_s`` (None when not given)."""
    from celltrace.units import parse_interval, parse_pixel_size

    return {"pixel_size_um": parse_pixel_size(args.pixel_size) if args.pixel_size else None,
            "frame_interval_s": parse_interval(args.interval) if args.interval else None}


def _scale_line(scale: dict[str, Any]) -> str:
    """``pixel size 0.65 µm (file), interval 300 s (5 min) (given)`` for the messages of track/convert;
    ``scale``: :meth:`Movie.scale_meta` (the known keys of the scale, and ``scale_from``)."""
    from celltrace.units import format_interval, format_pixel_size

    came = scale.get("scale_from") or {}
    pixel, interval = scale.get("pixel_size_um"), scale.get("frame_interval_s")
    return (f"pixel size {format_pixel_size(pixel)}"
            + (f" ({came['pixel_size_um']})" if pixel else " (--pixel-size to give it)")
            + f", interval {format_interval(interval)}"
            + (f" ({came['frame_interval_s']})" if interval else " (--interval to give it)"))


# ---------------------------------------------------------------------- track
def cmd_track(args: argparse.Namespace) -> int:
    from celltrace.api import track_to_folder

    done = track_to_folder(args.input, args.out, method=args.method, masks=args.masks, overwrite=args.overwrite,
                           progress=not args.quiet, device=args.device, min_track_length=args.min_track_length,
                           command=_command(args), movie_options=_movie_options(args),
                           **_parse_params(args.param), **_box_prompts(args))
    _say(args, f"{done.n_tracks} tracks, {done.n_divisions} divisions in {done.n_frames} frames "
               f"({args.method}) → {done.out} (CTC RES: mask*.tif + res_track.txt; "
               + "; ".join(done.files + ("run.json",)) + ")",
         _scale_line(done.scale))
    return 0


def _box_prompts(args: argparse.Namespace) -> dict[str, Any]:
    """``--boxes FILE`` → the ``boxes`` parameter of a box-prompted method (boxtrack)."""
    if getattr(args, "boxes", None) is None:
        return {}
    if args.method != "boxtrack":
        raise CelltraceError(f"--boxes: method {args.method} takes no box prompts (use --method boxtrack)")
    return {"boxes": args.boxes}


# ---------------------------------------------------------------------- batch
def cmd_batch(args: argparse.Namespace) -> int:
    import celltrace
    from celltrace.batch import BATCH_FILE

    table = celltrace.batch(args.inputs, args.out, method=args.method, workers=args.workers,
                            scheduler=args.scheduler, threads=args.threads, overwrite=args.overwrite,
                            progress=not args.quiet, device=args.device, min_track_length=args.min_track_length,
                            command=_command(args), **_parse_params(args.param))
    counts = table["status"].value_counts()
    _say(args, f"{len(table)} movies: {counts.get('done', 0)} tracked, {counts.get('skipped', 0)} already done, "
               f"{counts.get('failed', 0)} failed → {Path(args.out) / BATCH_FILE}")
    for r in table[table["status"] == "failed"].itertuples():  # errors name their file; else say which movie
        print(f"celltrace: failed: {r.error if r.movie in r.error else f'{r.movie}: {r.error}'}", file=sys.stderr)
    return 1 if counts.get("failed", 0) else 0


def _command(args: argparse.Namespace) -> str:
    """The command line as given (for the provenance records)."""
    import shlex

    return " ".join(["celltrace", *map(shlex.quote, getattr(args, "argv", sys.argv[1:]))])


def _parse_params(items: list[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise CelltraceError(f"--param expects NAME=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


# ---------------------------------------------------------------------- watch
def cmd_watch(args: argparse.Namespace) -> int:
    from celltrace.live import Watcher

    def show(u) -> None:
        _say(args, f"frame {u.frame} ({u.file.name}): {u.n_cells} cells, {u.n_tracks} tracks so far; "
                   f"{args.out} updated {u.latency_s:.2f} s after the file was written")

    watcher = Watcher(args.folder, args.out, method=args.method, params=_parse_params(args.param),
                      poll_s=args.poll, sentinel=args.sentinel, idle_timeout_s=args.idle_timeout,
                      resume=args.resume, overwrite=args.overwrite, on_update=show, command=_command(args),
                      **_scale_options(args))
    delay = watcher.linker.delay if watcher.linker is not None else None
    _say(args, f"watching {args.folder} ({watcher.method}); ends when {Path(args.folder) / args.sentinel} appears"
               + (f", after {args.idle_timeout:g} s without a new frame" if args.idle_timeout is not None else "")
               + " or on Ctrl-C" + (f"; resuming after frame {watcher.linker.n_frames - 1}" if delay is not None else ""))
    summary = watcher.run()
    lat = summary.latencies_s
    ended = {"sentinel": f"{args.sentinel} appeared", "idle": "idle timeout", "interrupted": "stopped by Ctrl-C",
             "terminated": "terminated", "max_frames": "frame limit"}[summary.reason]
    _say(args, f"{ended}: {summary.new_frames} new frames, {summary.n_frames} in all, {summary.n_tracks} tracks → "
               f"{args.out} (CTC RES + cells.csv + run.json; --resume continues)"
               + (f"; latency mean {sum(lat) / len(lat):.2f} s, max {max(lat):.2f} s" if lat else ""))
    return 143 if summary.reason == "terminated" else 0


# ---------------------------------------------------------------------- info
def cmd_info(args: argparse.Namespace) -> int:
    from celltrace.io.ctc import seg_files
    from celltrace.io.formats import FORMATS, detect_format, read_result
    from celltrace.io.runinfo import describe_run, read_run

    path = Path(args.input)
    try:
        kind = detect_format(path)
    except InputError:
        kind = None
    if kind:
        tr = read_result(path)
        problems = tr.problems(max_problems=5)
        title = f"CTC {kind[4:].upper()} folder" if kind.startswith("ctc-") else FORMATS[kind].description
        lines = [f"{path}: {title}",
                 f"  frames     {tr.n_frames}", f"  size       {tr.shape[1]} × {tr.shape[2]} (H × W)",
                 f"  tracks     {tr.n_tracks}", f"  divisions  {len(tr.divisions())}"]
        if not FORMATS[kind].masks:
            lines.append("  masks      markers drawn at the stored positions (the format holds no masks)")
        if tr.meta.get("pixel_size_um"):
            lines.append(f"  pixel      {' × '.join(f'{v:g}' for v in tr.meta['pixel_size_um'])} µm (y × x)")
        if tr.meta.get("frame_interval_s"):
            lines.append(f"  interval   {tr.meta['frame_interval_s']:g} s")
        if kind == "ctc-gt":
            lines.append(f"  SEG frames {len(seg_files(path))}")
        lines.append("  CTC rules  " + ("valid" if not problems else f"BROKEN: {problems[0]}"))
        record = read_run(path) if path.is_dir() else None
        if record is not None:
            lines += describe_run(record)
    else:
        lines = _movie_info(path)
    print("\n".join(lines))
    return 0


def _movie_info(path: Path) -> list[str]:
    """``celltrace info`` of a movie: frames, size, dtype and scale; for a microscope file that
    holds several scenes, channels or z-planes, what it holds (the options that choose)."""
    from celltrace.io.bioformats import summarize
    from celltrace.io.runinfo import describe_scale
    from celltrace.movie import open_movie, reads_through_bioio

    if reads_through_bioio(path):
        s = summarize(path)
        lines = [f"{path}: microscope file (read by {s.reader})",
                 "  scenes     " + (f"{len(s.scenes)}: " if len(s.scenes) > 1 else "") + ", ".join(s.scenes[:20])
                 + (", …" if len(s.scenes) > 20 else "") + ("  (--scene; the first is shown)" if len(s.scenes) > 1 else ""),
                 "  dimensions " + " × ".join(f"{d} {n}" for d, n in s.sizes.items()),
                 "  channels   " + ", ".join(s.channels) + ("  (--channel)" if len(s.channels) > 1 else ""),
                 f"  dtype      {s.dtype}"]
        if s.sizes.get("Z", 1) > 1:
            lines.append(f"  z-planes   {s.sizes['Z']}  (--z N or --z max)")
        return lines + describe_scale(s.pixel_size_um, s.frame_interval_s, {"pixel_size_um": "file",
                                                                             "frame_interval_s": "file"})
    m = open_movie(path)
    return [f"{path}: movie", f"  frames     {len(m)}", f"  size       {m.shape[1]} × {m.shape[2]} (H × W)",
            f"  dtype      {m.dtype}"] + describe_scale(m.pixel_size_um, m.frame_interval_s, m.meta.get("scale_from"))


# ---------------------------------------------------------------------- convert
RESULT_TARGETS = ("ctc-res", "ctc-gt", "csv", "geff", "napari", "trackmate", "trk", "mot", "ome-zarr")
"""The result formats of :data:`celltrace.io.formats.FORMATS` (listed here so --help needs no import)."""
MOVIE_EXTENSIONS = {"tiff": (".tif", ".tiff"), "ctc-seq": ()}
CONVERT_TARGETS = RESULT_TARGETS + tuple(MOVIE_EXTENSIONS)


def convert_extensions() -> dict[str, tuple[str, ...]]:
    """--to target → extensions of its output (the first is added when the name has none); none
    for targets that write a plain folder."""
    from celltrace.io.formats import FORMATS

    return {**{name: f.extensions for name, f in FORMATS.items()}, **MOVIE_EXTENSIONS}


def convert_output(path: str | Path, to: str) -> Path:
    """The output path of ``convert --to TO``: the format's extension added when the name has none
    of a known format; an extension of another format is refused (one line)."""
    path = Path(path)
    name = path.name.lower()
    extensions = convert_extensions()
    wanted = extensions.get(to, ())
    if name.endswith(wanted) and wanted:
        return path
    known = sorted(((e, t) for t, exts in extensions.items() for e in exts), key=lambda et: -len(et[0]))
    other = next(((e, t) for e, t in known if name.endswith(e)), None)
    if other:
        expected = f"a name ending in {' or '.join(wanted)}" if wanted else "a folder name without it"
        raise InputError(path, f"the extension {path.name[-len(other[0]):]} is that of --to {other[1]}, not --to {to} "
                               f"(use {expected})")
    return path.with_name(path.name + wanted[0]) if wanted else path


def _scale_only(args: argparse.Namespace) -> dict[str, Any]:
    """--pixel-size/--interval as ``Tracking.meta`` keys (for the tracks ``convert`` writes)."""
    from celltrace.units import scale_meta

    opts = _movie_options(args)
    return scale_meta(opts["pixel_size_um"], opts["frame_interval_s"])


def cmd_convert(args: argparse.Namespace) -> int:
    from celltrace.io.atomic import atomic_file, check_output
    from celltrace.io.ctc import write_ctc_sequence
    from celltrace.io.formats import FORMATS, read_result, write_result
    from celltrace.io.tiff import write_movie_tiff
    from celltrace.movie import open_movie

    src, to = Path(args.input), args.to
    dst = convert_output(args.output, to)
    writes_file = to == "tiff" or (to in FORMATS and not FORMATS[to].folder)
    if writes_file and dst.is_dir():
        raise InputError(dst, f"is a folder; --to {to} writes a file")
    what = "movie" if to in MOVIE_EXTENSIONS else "tracking"
    check_output(dst, overwrite=args.overwrite, inputs=[(what, src), ("movie", args.movie)])
    if to in MOVIE_EXTENSIONS:
        movie = open_movie(src, finite=False, **_movie_options(args))  # converting changes no pixel
        if to == "tiff":
            with atomic_file(dst, overwrite=args.overwrite) as tmp:
                write_movie_tiff(movie.frames, tmp, progress=not args.quiet, pixel_size_um=movie.pixel_size_um,
                                 frame_interval_s=movie.frame_interval_s)
        else:
            write_ctc_sequence(movie.frames, dst, overwrite=args.overwrite)
    else:
        movie = open_movie(args.movie, **_movie_options(args)) if args.movie else None
        tracking = read_result(src, shape=movie.shape if movie is not None else None).validate()
        for key in ("pixel_size_um", "frame_interval_s"):   # the movie's units where the input has none
            if getattr(movie, key, None) and key not in tracking.meta:
                tracking.meta[key] = getattr(movie, key)
        tracking.meta.update(_scale_only(args))  # --pixel-size/--interval over the input's own
        write_result(tracking, dst, to, movie=movie, overwrite=args.overwrite)
    _say(args, f"{src} → {dst} ({to})")
    return 0


# ---------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    import time
    from datetime import datetime

    import celltrace
    from celltrace.io.atomic import atomic_dir, check_output
    from celltrace.io.ctc import write_ctc
    from celltrace.io.runinfo import run_record, write_run
    from celltrace.io.tiff import write_movie_tiff
    from celltrace.methods.base import DEFAULT_METHOD
    from celltrace.report import write_report
    from celltrace.synth import synthetic_movie

    out = check_output(args.out, overwrite=args.overwrite)
    method = args.method or DEFAULT_METHOD
    date = datetime.now().astimezone().isoformat(timespec="seconds")
    with atomic_dir(out, overwrite=args.overwrite) as tmp:
        movie, gt = synthetic_movie(n_frames=args.frames, shape=(args.size, args.size), n_cells=args.cells, seed=args.seed)
        _say(args, f"synthetic movie: {len(movie)} frames of {args.size}², ~{args.cells} cells, "
                   f"{gt.n_tracks} GT tracks, {len(gt.divisions())} divisions (seed {args.seed})")
        write_movie_tiff(movie.frames, tmp / "movie.tif")
        write_ctc(gt, tmp / "GT", kind="gt")
        t0 = time.perf_counter()
        result = celltrace.track(movie, method=method, progress=not args.quiet)
        write_ctc(result, tmp / "RES", kind="res")
        write_run(tmp / "RES", run_record(result.meta, method=method, input=out / "movie.tif", n_frames=len(movie),
                                          frame_shape=result.shape[1:], date=date, command=_command(args),
                                          timings={**result.meta.get("timing", {}),
                                                   "track_s": time.perf_counter() - t0}))
        result.cell_table(movie).to_csv(tmp / "cells.csv", index=False)
        scores = celltrace.evaluate(result, gt)
        (tmp / "scores.json").write_text(json.dumps(scores, indent=2))
        learned = None  # the default needs no weights: show the shipped learned model beside it
        if args.method is None and method != DEMO_LEARNED_METHOD:
            learned = celltrace.evaluate(celltrace.track(movie, method=DEMO_LEARNED_METHOD, progress=not args.quiet), gt)
            (tmp / f"scores-{DEMO_LEARNED_METHOD}.json").write_text(json.dumps(learned, indent=2))
        write_report(result, movie, tmp / "report", gt=gt, progress=not args.quiet, title="celltrace demo",
                     scores=scores)
    report = out / "report" / "report.html"
    lines = [f"tracked with '{method}': {result.n_tracks} tracks, {len(result.divisions())} divisions → {out}/"]
    keys = [k for k in ("TRA", "DET", "LNK", "SEG", "BC(2)") if scores.get(k) is not None]
    lines.append("scores vs. ground truth: " + ", ".join(f"{k} {scores[k]:.3f}" for k in keys))
    if learned is not None:
        lines.append(f"the shipped learned model ('{DEMO_LEARNED_METHOD}', --method {DEMO_LEARNED_METHOD}) on the same movie: "
                     + ", ".join(f"{k} {learned[k]:.3f}" for k in keys if learned.get(k) is not None))
    lines += ["look at it:",
              f"  {report}  (overlay movie, lineage trees, statistics, errors vs. GT; open in a browser)",
              f"  napari {out}/RES  (with celltrace[napari] installed)",
              f"  celltrace info {out}/RES",
              f"  {out}/cells.csv  (one row per cell per frame)",
              f"  python -c \"import napari, tifffile; v = napari.Viewer(); v.add_image(tifffile.imread('{out}/movie.tif')); "
              f"import celltrace; r = celltrace.Tracking.from_ctc('{out}/RES'); import numpy as np; "
              f"v.add_labels(np.asarray(r.masks)); v.add_tracks(r.to_napari_tracks()[0]); napari.run()\""]
    _say(args, *lines)
    if args.quiet:
        print(report)
    return 0


# ---------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    from celltrace.metrics import evaluate_folders, format_results, write_json

    metrics = args.metrics.split(",") if args.metrics else None
    results = evaluate_folders(Path(args.pred), Path(args.gt), metrics=metrics, frames=args.frames)
    print(format_results(results))
    if args.json:
        write_json(results, args.json)
    return 0


# ---------------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace) -> int:
    from celltrace.io.atomic import check_output
    from celltrace.report import write_report

    check_output(args.out, overwrite=args.overwrite,
                 inputs=[("result", args.result), ("movie", args.movie), ("ground truth", args.gt)])
    from celltrace.movie import open_movie

    movie = open_movie(args.movie, **_movie_options(args))
    path = write_report(args.result, movie, args.out, gt=args.gt, progress=not args.quiet,
                        overwrite=args.overwrite, show_labels=args.labels, max_size=args.max_size,
                        fps=args.fps, max_frames_gif=args.gif_frames)
    _say(args, str(path))
    return 0


# ---------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from celltrace.methods.base import resolve_device
    from celltrace.methods.trainers import trainer

    out = trainer(args.method)(args.data, args.out, steps=args.steps, seed=args.seed, crop=args.crop,
                               batch=args.batch, lr=args.lr, device=resolve_device(args.device),
                               progress=not args.quiet,
                               resume=not args.restart, command=_command(args),
                               **_parse_params(args.param))
    _say(args, f"weights → {out}; manifest → {Path(out).with_suffix('.json')}")
    return 0


# ---------------------------------------------------------------------- methods
def cmd_methods(args: argparse.Namespace) -> int:
    from celltrace.methods.base import available_methods, describe_method, tracker_class

    names = [args.method] if args.method else available_methods()
    lines: list[str] = []
    for name in names:
        d = describe_method(name)
        lines.append(f"{name}{' (default)' if d['default'] else ''}: {d['description']}")
        if not d["needs_weights"]:
            lines.append("  weights: none needed")
        else:
            shipped = tracker_class(name).default_weights
            lines.append("  weights: needed; " + (f"shipped ({shipped.name})" if d["weights_shipped"] else
                                                  "not shipped: train them (celltrace train) and pass "
                                                  "--param weights=PATH"))
        lines.append("  parameters (--param NAME=VALUE; default, meaning):")
        width = max((len(p[0]) for p in d["parameters"]), default=0)
        for pname, default, doc in d["parameters"]:
            shown = json.dumps(default, default=str)
            lines.append(f"    {pname:<{width}}  {shown:<10}  {doc}")
        lines.append("")
    print("\n".join(lines).rstrip())
    return 0


# ---------------------------------------------------------------------- parser
def _epilog() -> str:
    from celltrace.methods.base import DEFAULT_METHOD, available_methods
    from celltrace.metrics import DEFAULT_FAMILIES, FAMILIES

    return (f"default method: {DEFAULT_METHOD} (all: {', '.join(available_methods())}; "
            f"'celltrace methods' lists their weights and parameters)\n"
            f"metric families (evaluate --metrics): {', '.join(FAMILIES)} (default: {','.join(DEFAULT_FAMILIES)})")


def build_parser() -> argparse.ArgumentParser:
    from celltrace import __version__
    from celltrace.methods.base import DEFAULT_METHOD, available_methods
    from celltrace.metrics import DEFAULT_FAMILIES, FAMILIES

    parser = argparse.ArgumentParser(prog="celltrace", description="Segment, track and lineage-trace cells in 2D+time movies.",
                                     epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"celltrace {__version__}",
                        help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("track", help="track a movie and write a CTC RES folder + a CSV table + run.json")
    p.add_argument("input", help="CTC sequence folder, folder of frames, multi-page TIFF, zarr, or a microscope "
                                 "file (OME-TIFF, OME-Zarr, ND2, CZI, LIF; celltrace[formats])")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=available_methods(),
                   help=f"tracking method (default: {DEFAULT_METHOD}; see 'celltrace methods')")
    p.add_argument("--out", required=True,
                   help="output folder (CTC RES layout: mask*.tif, res_track.txt; plus cells.csv and run.json)")
    p.add_argument("--masks", help="link these label images (one per frame) instead of segmenting")
    p.add_argument("--boxes", help="box prompts for --method boxtrack: CSV/JSON (frame,x0,y0,x1,y1[,id]) or a label "
                                   "image of the first frame; writes mot.txt beside the RES files")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="override a method parameter (repeatable; 'celltrace methods' lists them)")
    p.add_argument("--device", default="cpu", metavar="{cpu,cuda,cuda:N,auto}",
                   help="where a learned method runs (default: cpu; auto: cuda when a GPU is usable)")
    p.add_argument("--min-track-length", type=int, metavar="N",
                   help="drop tracks present in fewer than N frames (default: keep all)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    _add_movie_options(p)
    _add_common(p)
    p.set_defaults(func=cmd_track)

    p = sub.add_parser("watch", help="track a folder while a microscope fills it: the output is a valid CTC RES "
                                     "folder after every frame")
    p.add_argument("folder", help="folder the frames appear in (tNNN.tif, or any image names with a frame number)")
    p.add_argument("--out", required=True, help="output folder (CTC RES + cells.csv + run.json), updated after each frame")
    p.add_argument("--method", default=None, choices=available_methods(),
                   help=f"tracking method (default: {DEFAULT_METHOD}; live tracking needs a method that segments "
                        f"frame by frame and links with the standard LAP linker: classic, caliban)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="override a method parameter (repeatable; 'celltrace methods' lists them)")
    p.add_argument("--poll", type=float, default=0.5, metavar="SECONDS",
                   help="seconds between looks at the folder (default 0.5)")
    p.add_argument("--sentinel", default="STOP", metavar="NAME",
                   help="the session ends when a file of this name appears in the folder (default: STOP)")
    p.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                   help="end after this many seconds without a new frame (default: wait)")
    p.add_argument("--resume", action="store_true", help="continue the stopped session in --out")
    _add_scale_options(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    _add_common(p)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("batch", help="track many movies on a dask cluster (local by default); resumable; "
                                     "a result folder per movie + batch.csv")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="movies; folders of movies (CTC dataset folders: their NN sequences); "
                        "or a CSV with rows movie,out[,masks]")
    p.add_argument("--out", required=True,
                   help="output folder: one result per movie (DATASET/NN_RES for a CTC sequence, else the movie's "
                        "name; as 'celltrace track' writes it) and batch.csv")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=available_methods(),
                   help=f"tracking method (default: {DEFAULT_METHOD})")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="override a method parameter (repeatable)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="worker processes of the local cluster (default: one per core, at most one per movie)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="use the dask cluster at this scheduler address (tcp://host:8786) instead of a local one")
    p.add_argument("--threads", type=int, metavar="N",
                   help="numerical (torch/BLAS) threads per worker (default: cores / workers locally, 1 on a cluster)")
    p.add_argument("--device", default="cpu", metavar="{cpu,cuda,cuda:N,auto}",
                   help="where a learned method runs on each worker (default: cpu)")
    p.add_argument("--min-track-length", type=int, metavar="N", help="drop tracks present in fewer than N frames")
    p.add_argument("--overwrite", action="store_true",
                   help="track every movie again, replacing its result (default: skip complete results)")
    _add_common(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("methods", help="list the tracking methods: description, weights, parameters")
    p.add_argument("method", nargs="?", choices=available_methods(), help="show only this method")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("demo", help="make a synthetic movie, track it, write and score the results")
    p.add_argument("--out", default=DEMO_DIR, help=f"output folder (default: {DEMO_DIR})")
    p.add_argument("--method", default=None, choices=available_methods(),
                   help=f"tracking method (default: {DEFAULT_METHOD})")
    p.add_argument("--frames", type=int, default=40, help="frames of the synthetic movie (default: 40)")
    p.add_argument("--size", type=int, default=256, help="frame side in pixels (default: 256)")
    p.add_argument("--cells", type=int, default=25, help="cells at the start (default: 25)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the synthetic movie (default: 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    _add_common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("report", help="overlay movie, lineage trees, track statistics (and errors vs. GT) "
                                      "as one self-contained HTML page")
    p.add_argument("result", help="CTC RES (or GT) folder to show")
    p.add_argument("--movie", required=True, help="the raw movie the result was computed on")
    p.add_argument("--gt", help="CTC GT folder: adds the scores and the error view")
    p.add_argument("--out", required=True, help="output folder: report.html + overlay.mp4/.gif, plots, CSV")
    p.add_argument("--labels", action="store_true", help="write each track's label in the movie")
    p.add_argument("--max-size", type=int, default=512, help="longer side of the movie in pixels (default 512)")
    p.add_argument("--fps", type=float, default=8.0, help="frames per second of the movie (default 8)")
    p.add_argument("--gif-frames", type=int, default=60, help="frames in the GIF preview (default 60)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    _add_movie_options(p, "--movie")
    _add_common(p)
    p.set_defaults(func=cmd_report)

    from celltrace.methods.trainers import TRAINERS

    p = sub.add_parser("train", help="train a learned method on CTC ground truth (train split of each sequence)")
    p.add_argument("method", choices=sorted(TRAINERS), help="what to train")
    p.add_argument("--data", nargs="+", required=True, help="CTC dataset folders (NN + NN_GT) or sequence folders")
    p.add_argument("--out", required=True, help="weights file (.pt); a .json manifest is written beside it")
    p.add_argument("--steps", type=int, default=2000, help="optimisation steps in total (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--crop", type=int, help="training crop size in pixels (default: the method's config)")
    p.add_argument("--batch", type=int, help="batch size (default: the method's config)")
    p.add_argument("--lr", type=float, help="learning rate (default: the method's config)")
    p.add_argument("--device", default="cpu", metavar="{cpu,cuda,cuda:N,auto}",
                   help="torch device (default: cpu; auto: cuda when a GPU is usable)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="override a config field")
    p.add_argument("--restart", action="store_true",
                   help="ignore an existing checkpoint and start over (a checkpoint resumes only with the same settings)")
    _add_common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("info", help="what a movie or a result (any convert format) holds (and how it was made)")
    p.add_argument("input", help="a movie, or a result: CTC GT/RES folder (its run.json is shown), csv, geff, "
                                 "napari, trackmate, trk, mot or ome-zarr")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="convert between formats")
    p.add_argument("input", help="a result in any --to format (tracks; its format is detected) or a movie (frames)")
    p.add_argument("output", help="output file or folder (the format's extension is added when missing)")
    p.add_argument("--to", required=True, choices=CONVERT_TARGETS,
                   help="tracks: ctc-res, ctc-gt (folders), csv (.csv), geff (.geff/.zarr), napari (.npz), "
                        "trackmate (.xml), trk (.trk), mot (.txt), ome-zarr (.ome.zarr); "
                        "movies: tiff (.tif), ctc-seq (folder)")
    p.add_argument("--movie", help="raw movie: mean intensities in csv, raw images in trk and ome-zarr, "
                                   "the frame size for inputs without one (csv, mot, napari), its pixel size "
                                   "and frame interval where the input has none")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    _add_movie_options(p, "the movie (the input, or --movie)")
    _add_common(p)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("evaluate", help="score a result against ground truth (CTC, MOT, division metrics)")
    p.add_argument("--pred", required=True, help="RES folder, or a dataset folder of NN_RES folders")
    p.add_argument("--gt", required=True, help="GT folder, or a dataset folder of NN_GT folders")
    p.add_argument("--metrics", help=f"comma-separated metric families ({', '.join(FAMILIES)}) or field names "
                                     f"(TRA, IDF1, ...); default: {','.join(DEFAULT_FAMILIES)}")
    p.add_argument("--json", help="write the scores to this JSON file")
    p.add_argument("--frames", metavar="A:B", help="score only frames A..B-1 of both (as a Python slice: 10:50, :50, --frames=-20:)")
    p.set_defaults(func=cmd_evaluate)
    return parser


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Show celltrace's own warnings as one ``celltrace: warning: ...`` line (others as usual)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", CelltraceWarning)
        show = warnings.showwarning

        def _show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, CelltraceWarning):
                print(f"celltrace: warning: {message}", file=sys.stderr)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = _show
        yield


def main(argv: list[str] | None = None) -> int:
    from celltrace.stopping import Terminated, exit_code, stop_on_signals

    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    func: Callable[[argparse.Namespace], int] = args.func
    target = getattr(args, "out", None) or getattr(args, "output", None)
    folders = [Path(target).absolute().parent] if target else []
    try:
        with stop_on_signals(folders=folders), _one_line_warnings():  # SIGTERM like Ctrl-C: clean up, exit 143
            return func(args)
    except ParameterError as exc:  # named as the user typed it
        print(f"celltrace: error: --param {exc.name}: {exc.problem}", file=sys.stderr)
        return 2
    except CelltraceError as exc:
        print(f"celltrace: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"celltrace: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"celltrace: {'terminated' if isinstance(exc, Terminated) else 'interrupted'}", file=sys.stderr)
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
