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


# ---------------------------------------------------------------------- track
def cmd_track(args: argparse.Namespace) -> int:
    import time
    from datetime import datetime

    import celltrace
    from celltrace import tempdirs
    from celltrace.io.atomic import atomic_dir, check_output
    from celltrace.io.ctc import write_ctc_files
    from celltrace.io.runinfo import run_record, write_run
    from celltrace.io.suspects import write_suspects

    # refuse before hours of work, not after: an output that exists or overlaps an input
    out = check_output(args.out, overwrite=args.overwrite, inputs=[("movie", args.input), ("masks", args.masks)])
    tempdirs.sweep_scratch_once()  # scratch folders that killed runs left in the temp folder
    date = datetime.now().astimezone().isoformat(timespec="seconds")
    t0 = time.perf_counter()
    movie = celltrace.open_movie(args.input)
    params = _parse_params(args.param)
    result = celltrace.track(movie, method=args.method, masks=args.masks, progress=not args.quiet,
                             device=args.device, min_track_length=args.min_track_length, **params)
    t1 = time.perf_counter()
    with atomic_dir(out, overwrite=args.overwrite, checked=True) as tmp:  # one there now appeared meanwhile
        write_ctc_files(result, tmp, kind="res")
        result.cell_table(movie).to_csv(tmp / "cells.csv", index=False)
        if result.meta.get("suspects") is not None:  # the method's own suspect links (io.suspects)
            write_suspects(result.meta["suspects"], tmp)
        timings = {**result.meta.get("timing", {}), "track_s": t1 - t0, "write_s": time.perf_counter() - t1}
        write_run(tmp, run_record(result.meta, method=args.method, input=args.input, masks=args.masks,
                                  n_frames=result.n_frames, frame_shape=result.shape[1:], date=date,
                                  timings=timings, overrides=params, min_track_length=args.min_track_length,
                                  command=_command(args)))
    _say(args, f"{result.n_tracks} tracks, {len(result.divisions())} divisions in {result.n_frames} frames "
               f"({args.method}) → {out} (CTC RES: mask*.tif + res_track.txt; table: cells.csv; run.json"
               + ("; suspects.csv" if result.meta.get("suspects") is not None else "") + ")")
    return 0


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


# ---------------------------------------------------------------------- info
def cmd_info(args: argparse.Namespace) -> int:
    from celltrace.io.ctc import locate_ctc, read_ctc, seg_files
    from celltrace.io.runinfo import describe_run, read_run
    from celltrace.movie import open_movie

    path = Path(args.input)
    try:
        kind, _, _ = locate_ctc(path)
    except InputError:
        kind = None
    if kind:
        tr = read_ctc(path)
        problems = tr.problems(max_problems=5)
        lines = [f"{path}: CTC {kind.upper()} folder",
                 f"  frames     {tr.n_frames}", f"  size       {tr.shape[1]} × {tr.shape[2]} (H × W)",
                 f"  tracks     {tr.n_tracks}", f"  divisions  {len(tr.divisions())}"]
        if kind == "gt":
            lines.append(f"  SEG frames {len(seg_files(path))}")
        lines.append("  CTC rules  " + ("valid" if not problems else f"BROKEN: {problems[0]}"))
        record = read_run(path)
        if record is not None:
            lines += describe_run(record)
    else:
        m = open_movie(path)
        lines = [f"{path}: movie", f"  frames  {len(m)}", f"  size    {m.shape[1]} × {m.shape[2]} (H × W)",
                 f"  dtype   {m.dtype}"]
    print("\n".join(lines))
    return 0


# ---------------------------------------------------------------------- convert
CONVERT_TARGETS = ("ctc-res", "ctc-gt", "csv", "geff", "napari", "tiff", "ctc-seq")
# target -> extensions of its output (the first is added when the name has none); folder targets have none
CONVERT_EXTENSIONS = {"csv": (".csv",), "geff": (".geff", ".zarr"), "napari": (".npz",), "tiff": (".tif", ".tiff")}
FILE_TARGETS = ("csv", "napari", "tiff")


def convert_output(path: str | Path, to: str) -> Path:
    """The output path of ``convert --to TO``: the format's extension added when the name has none
    of a known format; an extension of another format is refused (one line)."""
    path = Path(path)
    suffix = path.suffix.lower()
    known = {e: t for t, exts in CONVERT_EXTENSIONS.items() for e in exts}
    wanted = CONVERT_EXTENSIONS.get(to, ())
    if suffix in wanted:
        return path
    if suffix in known:
        expected = f"a name ending in {' or '.join(wanted)}" if wanted else "a folder name without it"
        raise InputError(path, f"the extension {path.suffix} is that of --to {known[suffix]}, not --to {to} "
                               f"(use {expected})")
    return path.with_name(path.name + wanted[0]) if wanted else path


def cmd_convert(args: argparse.Namespace) -> int:
    import numpy as np

    from celltrace.io.atomic import atomic_file, check_output
    from celltrace.io.ctc import locate_ctc, read_ctc, write_ctc, write_ctc_sequence
    from celltrace.io.tiff import write_movie_tiff
    from celltrace.movie import open_movie

    src, to = Path(args.input), args.to
    dst = convert_output(args.output, to)
    if to in FILE_TARGETS and dst.is_dir():
        raise InputError(dst, f"is a folder; --to {to} writes a file")
    what = "movie" if to in ("tiff", "ctc-seq") else "tracking"
    check_output(dst, overwrite=args.overwrite, inputs=[(what, src), ("movie", args.movie)])
    if to in ("tiff", "ctc-seq"):
        movie = open_movie(src, finite=False)  # converting changes no pixel
        if to == "tiff":
            with atomic_file(dst, overwrite=args.overwrite) as tmp:
                write_movie_tiff(movie.frames, tmp, progress=not args.quiet)
        else:
            write_ctc_sequence(movie.frames, dst, overwrite=args.overwrite)
    else:
        locate_ctc(src)
        tr = read_ctc(src).validate()
        if to in ("ctc-res", "ctc-gt"):
            write_ctc(tr, dst, kind=to.split("-")[1], overwrite=args.overwrite)
        elif to == "csv":
            movie = open_movie(args.movie) if args.movie else None
            tr.to_csv(dst, movie, overwrite=args.overwrite)
        elif to == "geff":
            tr.to_geff(dst, overwrite=args.overwrite)
        elif to == "napari":
            data, graph = tr.to_napari_tracks()
            with atomic_file(dst, overwrite=args.overwrite) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, data=data, graph=np.array([(c, p[0]) for c, p in graph.items()], dtype=np.int64).reshape(-1, 2))
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
    path = write_report(args.result, args.movie, args.out, gt=args.gt, progress=not args.quiet,
                        overwrite=args.overwrite, show_labels=args.labels, max_size=args.max_size,
                        fps=args.fps, max_frames_gif=args.gif_frames)
    _say(args, str(path))
    return 0


# ---------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from celltrace.methods.base import resolve_device
    from celltrace.train import trainer

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
    p.add_argument("input", help="CTC sequence folder, folder of frames, multi-page TIFF or zarr")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=available_methods(),
                   help=f"tracking method (default: {DEFAULT_METHOD}; see 'celltrace methods')")
    p.add_argument("--out", required=True,
                   help="output folder (CTC RES layout: mask*.tif, res_track.txt; plus cells.csv and run.json)")
    p.add_argument("--masks", help="link these label images (one per frame) instead of segmenting")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="override a method parameter (repeatable; 'celltrace methods' lists them)")
    p.add_argument("--device", default="cpu", metavar="{cpu,cuda,cuda:N,auto}",
                   help="where a learned method runs (default: cpu; auto: cuda when a GPU is usable)")
    p.add_argument("--min-track-length", type=int, metavar="N",
                   help="drop tracks present in fewer than N frames (default: keep all)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    _add_common(p)
    p.set_defaults(func=cmd_track)

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
    _add_common(p)
    p.set_defaults(func=cmd_report)

    from celltrace.train import TRAINERS

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

    p = sub.add_parser("info", help="what a movie, CTC GT or RES folder holds (and how a result was made)")
    p.add_argument("input", help="a movie, or a CTC GT/RES folder (a RES folder's run.json is shown)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="convert between formats")
    p.add_argument("input", help="a CTC GT/RES folder (tracks) or a movie (frames)")
    p.add_argument("output", help="output file or folder (the format's extension is added when missing)")
    p.add_argument("--to", required=True, choices=CONVERT_TARGETS,
                   help="tracks: ctc-res, ctc-gt (folders), csv (.csv), geff (.geff/.zarr), napari (.npz); "
                        "movies: tiff (.tif), ctc-seq (folder)")
    p.add_argument("--movie", help="raw movie, for mean intensities in csv")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
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
