"""Seeded fuzzing of ``celltrace evaluate`` and ``celltrace info`` on damaged CTC folders.

A small real ground truth (Fluo-N2DH-SIM+ 02, a few frames of one window, with SEG) and a result
made from its TRA masks are copied a few hundred times; each copy gets one or two kinds of damage
(lineage text, mask files, SEG files). Every run must end with exit 0, or exit 2 and exactly one
stderr line ``celltrace: error: …`` — never a traceback, never a hang.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import resource
import shutil
import signal
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from conftest import ctc_gt

FRAMES = range(12, 20)                       # cell 3 divides at frame 15
WINDOW = (slice(500, 628), slice(300, 428))  # cells 3 and 7 and their neighbours' edges
N_GT, N_RES = 150, 150
CASE_SECONDS = 10                            # a case running longer is a hang
MEMORY_LIMIT = 3 * 2**30                     # address space per worker: a runaway allocation fails


# ----------------------------------------------------------------------------------------- base data
def make_base(root: Path) -> tuple[Path, Path]:
    """Write the cropped GT (TRA + SEG) and a RES equal to its TRA masks under ``root``."""
    src = ctc_gt("Fluo-N2DH-SIM+")
    masks = np.stack([tifffile.imread(src / "TRA" / f"man_track{t:03d}.tif")[WINDOW] for t in FRAMES])
    segs = [tifffile.imread(src / "SEG" / f"man_seg{t:03d}.tif")[WINDOW] for t in FRAMES]
    parents = {}
    for line in (src / "TRA" / "man_track.txt").read_text().split("\n"):
        if line.strip():
            lab, _, _, par = map(int, line.split())
            parents[lab] = par
    rows = {}
    for lab in np.unique(masks)[1:]:
        present = np.flatnonzero((masks == lab).any(axis=(1, 2)))
        if present[-1] - present[0] + 1 != present.size:    # a label leaving and re-entering the window
            masks[masks == lab] = 0
            continue
        rows[int(lab)] = [int(present[0]), int(present[-1]), parents.get(int(lab), 0)]
    for lab, row in rows.items():
        if row[2] not in rows or rows[row[2]][1] >= row[0]:
            row[2] = 0
    assert len(rows) >= 4 and any(r[2] for r in rows.values()), "the crop must hold cells and a division"
    lineage = "".join(f"{lab} {b} {e} {p}\n" for lab, (b, e, p) in sorted(rows.items()))
    gt, res = root / "GT", root / "RES"
    (gt / "TRA").mkdir(parents=True)
    (gt / "SEG").mkdir()
    res.mkdir()
    for t in range(len(masks)):
        tifffile.imwrite(gt / "TRA" / f"man_track{t:03d}.tif", masks[t])
        tifffile.imwrite(res / f"mask{t:03d}.tif", masks[t])
        tifffile.imwrite(gt / "SEG" / f"man_seg{t:03d}.tif", segs[t])
    (gt / "TRA" / "man_track.txt").write_text(lineage)
    (res / "res_track.txt").write_text(lineage)
    return gt, res


# ------------------------------------------------------------------------------------- the damages
def _lines(path: Path) -> list[list[int]]:
    return [list(map(int, x.split())) for x in path.read_text().splitlines() if x.strip()]


def _write_lines(path: Path, rows: list[list[int]]) -> None:
    path.write_text("".join(" ".join(map(str, r)) + "\n" for r in rows))


def _set_label(rows: list[list[int]], masks: list[Path], rng: np.random.Generator, new: int) -> None:
    """Rename one label to ``new`` in the lineage file (rows) and in every mask (as uint64)."""
    i = int(rng.integers(len(rows)))
    old = rows[i][0]
    for r in rows:
        r[0] = new if r[0] == old else r[0]
        r[3] = new if r[3] == old else r[3]
    for p in masks:
        m = tifffile.imread(p).astype(np.uint64)
        m[m == old] = new
        tifffile.imwrite(p, m)


def damage(folder: Path, rng: np.random.Generator) -> str:
    """Apply one randomly chosen damage to the CTC folder ``folder`` (GT or RES); return its name."""
    gt = (folder / "TRA").is_dir()
    mdir = folder / "TRA" if gt else folder
    track = mdir / ("man_track.txt" if gt else "res_track.txt")
    masks = sorted(mdir.glob("man_track*.tif" if gt else "mask*.tif"))
    segs = sorted((folder / "SEG").glob("man_seg*.tif")) if gt else []
    try:
        rows = _lines(track) or [[1, 0, 0, 0]]
    except (OSError, ValueError):             # damaged before
        rows = [[1, 0, 0, 0]]
    T = len(masks)
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    kind = pick(LINEAGE_KINDS + (MASK_KINDS if masks else []) + (SEG_KINDS if segs else []))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")           # tifffile on zero-size arrays
            _apply(kind, folder, gt, mdir, track, masks, segs, rows, T, rng)
    except Exception:  # noqa: BLE001 — a file an earlier damage already broke
        return kind + "(skipped)"
    return kind


def _apply(kind: str, folder: Path, gt: bool, mdir: Path, track: Path, masks: list[Path], segs: list[Path],
           rows: list[list[int]], T: int, rng: np.random.Generator) -> None:
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    i = int(rng.integers(len(rows)))
    frame = pick(masks) if masks else None
    if kind == "garbage_line":
        track.write_text(track.read_text() + pick(["hello world\n", "1 2 3\n", "1 2 3 4 5\n", "1.5 0 1 0\n",
                                                   "0x10 0 1 0\n", "\x00\x00\n", "- - - -\n"]))
    elif kind == "binary_lineage":
        track.write_bytes(rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
    elif kind == "huge_label_text":
        rows[i][pick([0, 3])] = pick([2**63, 2**64 + 1, 2**40, 10**30, 2**32])
        _write_lines(track, rows)
    elif kind == "huge_frame_text":
        rows[i][pick([1, 2])] = pick([2**63, 2**40, 10**20, 2**31])
        _write_lines(track, rows)
    elif kind == "negative_text":
        rows[i][int(rng.integers(4))] = -int(rng.integers(1, 5))
        _write_lines(track, rows)
    elif kind == "duplicate_line":
        _write_lines(track, rows + [list(rows[i])])
    elif kind == "duplicate_label":
        _write_lines(track, rows + [[rows[i][0], 0, T - 1, 0]])
    elif kind == "begin_after_end":
        rows[i][1], rows[i][2] = rows[i][2] + 1 + int(rng.integers(3)), rows[i][1]
        _write_lines(track, rows)
    elif kind == "cycle":
        k = min(len(rows), pick([1, 2, 3]))
        labs = [rows[j][0] for j in rng.choice(len(rows), k, replace=False)]
        for j, lab in enumerate(labs):
            for r in rows:
                if r[0] == lab:
                    r[3] = labs[(j + 1) % k]
        _write_lines(track, rows)
    elif kind == "unknown_parent":
        rows[i][3] = max(r[0] for r in rows) + 7
        _write_lines(track, rows)
    elif kind == "end_beyond_movie":
        rows[i][2] = T + int(rng.integers(0, 5))
        _write_lines(track, rows)
    elif kind == "drop_line":
        _write_lines(track, rows[:i] + rows[i + 1:])
    elif kind == "empty_lineage":
        track.write_text(pick(["", "\n\n", "   \n"]))
    elif kind == "missing_lineage":
        track.unlink(missing_ok=True)
    elif kind == "lineage_is_folder":
        track.unlink(missing_ok=True)
        track.mkdir()
    elif kind == "crlf_shuffled":                     # still valid
        order = rng.permutation(len(rows))
        track.write_bytes("".join(" ".join(map(str, rows[j])) + "\r\n" for j in order).encode())
    elif kind == "huge_label_consistent":             # masks and lineage agree on a huge label
        _set_label(rows, masks, rng, pick([2**31 + 3, 2**32 - 1, 2**40, 2**63 + 5]))
        _write_lines(track, rows)
    elif kind == "mask_wrong_shape":
        m = tifffile.imread(frame)
        tifffile.imwrite(frame, pick([m[:-1], m[:, :5], m[:, :0], m[:0, :0], np.pad(m, ((0, 3), (0, 0)))]))
    elif kind == "mask_3d":
        m = tifffile.imread(frame)
        tifffile.imwrite(frame, pick([np.stack([m, m]), np.stack([m, m, m], axis=-1)]))
    elif kind == "mask_dtype":
        m = tifffile.imread(frame)
        tifffile.imwrite(frame, m.astype(pick([np.float32, np.float64, bool, np.int8, np.complex64])))
    elif kind == "mask_negative":
        m = tifffile.imread(frame).astype(pick([np.int16, np.int32, np.int64]))
        m[m == m.max()] = -pick([1, 5, 2**15 - 1])
        tifffile.imwrite(frame, m)
    elif kind == "mask_huge_label":
        m = tifffile.imread(frame).astype(np.uint64)
        m[:4, :4] = pick([2**40, 2**63 + 1, 2**64 - 1, 2**32])
        tifffile.imwrite(frame, m)
    elif kind == "mask_truncated":
        data = frame.read_bytes()
        frame.write_bytes(data[:int(rng.integers(0, len(data)))])
    elif kind == "mask_garbage":
        frame.write_bytes(rng.integers(0, 256, int(rng.integers(0, 2000)), dtype=np.uint8).tobytes())
    elif kind == "mask_missing":
        frame.unlink()
    elif kind == "mask_extra":
        shutil.copy(masks[-1], mdir / masks[-1].name.replace(f"{T - 1:03d}", f"{T + pick([0, 3]):03d}"))
    elif kind == "mask_blank":
        tifffile.imwrite(frame, np.zeros_like(tifffile.imread(frame)))
    elif kind == "all_blank_empty_lineage":            # valid: nothing at all
        for p in masks:
            tifffile.imwrite(p, np.zeros_like(tifffile.imread(p)))
        track.write_text("")
    elif kind.startswith("seg_"):
        s = pick(segs)
        m = tifffile.imread(s)
        if kind == "seg_wrong_shape":
            tifffile.imwrite(s, pick([m[:-2], m[:, :0], np.stack([m, m])]))
        elif kind == "seg_negative":
            m = m.astype(np.int32)
            m[m == m.max()] = -3
            tifffile.imwrite(s, m)
        elif kind == "seg_float":
            tifffile.imwrite(s, m.astype(np.float32))
        elif kind == "seg_huge":
            m = m.astype(np.uint64)
            m[:3, :3] = pick([2**40, 2**63 + 1])
            tifffile.imwrite(s, m)
        elif kind == "seg_truncated":
            data = s.read_bytes()
            s.write_bytes(data[:len(data) // 2])
        elif kind == "seg_beyond_movie":
            shutil.copy(s, folder / "SEG" / f"man_seg{T + 5:03d}.tif")


LINEAGE_KINDS = ["garbage_line", "binary_lineage", "huge_label_text", "huge_frame_text", "negative_text",
                 "duplicate_line", "duplicate_label", "begin_after_end", "cycle", "cycle", "unknown_parent",
                 "end_beyond_movie", "drop_line", "empty_lineage", "missing_lineage", "lineage_is_folder",
                 "crlf_shuffled", "huge_label_consistent"]
MASK_KINDS = ["mask_wrong_shape", "mask_3d", "mask_dtype", "mask_negative", "mask_huge_label", "mask_truncated",
              "mask_garbage", "mask_missing", "mask_extra", "mask_blank", "all_blank_empty_lineage"]
SEG_KINDS = ["seg_wrong_shape", "seg_negative", "seg_float", "seg_huge", "seg_truncated", "seg_beyond_movie"]


# ------------------------------------------------------------------------------------ one case
class _Hang(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise _Hang()


def _init_worker() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _alarm)
    import celltrace.cli  # noqa: F401  (import once, not inside a case's time bound)
    import celltrace.metrics.biological, celltrace.metrics.ctc, celltrace.metrics.divisions  # noqa: E401,F401
    import celltrace.metrics.mot  # noqa: F401


def _run(argv: list[str]) -> tuple[str, str]:
    """Run the CLI in-process: (outcome, detail); outcome is ok, clean, traceback, hang or bad_stderr."""
    from celltrace.cli import main

    err = io.StringIO()
    signal.alarm(CASE_SECONDS)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except _Hang:
        return "hang", " ".join(argv)
    except BaseException as exc:  # noqa: BLE001 — anything escaping main is a traceback
        signal.alarm(0)
        return "traceback", f"{' '.join(argv)}\n{''.join(traceback.format_exception(exc))[-1500:]}"
    finally:
        signal.alarm(0)
    lines = err.getvalue().splitlines()
    if code == 0 and not lines:
        return "ok", ""
    if code == 2 and len(lines) == 1 and lines[0].startswith("celltrace: error: "):
        return "clean", lines[0]
    return "bad_stderr", f"{' '.join(argv)}: exit {code}, stderr {err.getvalue()!r}"


def digest(folder: Path) -> str:
    """SHA-256 over the names and bytes of every file under ``folder`` (to prove nothing was changed)."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def run_case(base: str, which: str, seed: int) -> list[tuple[str, str, str]]:
    """Damage a copy of the base GT (``which='gt'``) or RES and run evaluate and info on it; an
    input folder that changed during the runs is the outcome ``modified``."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        src = Path(base) / which.upper()
        bad = Path(tmp) / src.name
        shutil.copytree(src, bad)
        kinds = [damage(bad, rng) for _ in range(1 + int(rng.random() < 0.3))]
        other = Path(base) / ("RES" if which == "gt" else "GT")
        pred, gt = (other, bad) if which == "gt" else (bad, other)
        tag = f"{which} seed {seed} {'+'.join(kinds)}"
        before = (digest(bad), digest(other))
        out = [(tag, *_run(["evaluate", "--pred", str(pred), "--gt", str(gt)])),
               (tag, *_run(["info", str(bad)]))]
        if (digest(bad), digest(other)) != before:
            out.append((tag, "modified", "an input folder changed"))
        return out


# ------------------------------------------------------------------------------------ the test
@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-base")
    make_base(root)
    return root


def test_base_is_valid_and_scores_perfectly(base, capsys):
    from celltrace.cli import main

    assert main(["evaluate", "--pred", str(base / "RES"), "--gt", str(base / "GT")]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["TRA", "1.0000"] for line in out.splitlines()), out
    assert any(line.split()[:2] == ["SEG", "1.0000"] for line in out.splitlines()), out


def test_fuzz_damaged_folders(base):
    start = time.monotonic()
    ctx = multiprocessing.get_context("spawn")
    cases = [("gt", 1000 + i) for i in range(N_GT)] + [("res", 5000 + i) for i in range(N_RES)]
    results: list[tuple[str, str, str]] = []
    with ctx.Pool(2, initializer=_init_worker) as pool:
        pending = [(c, pool.apply_async(run_case, (str(base), *c))) for c in cases]
        for (which, seed), job in pending:
            try:
                results += job.get(timeout=3 * CASE_SECONDS + 30)
            except multiprocessing.TimeoutError:
                results.append((f"{which} seed {seed}", "hang", "worker did not return"))
        pool.terminate()
    counts = {k: sum(1 for r in results if r[1] == k)
              for k in ("ok", "clean", "traceback", "hang", "bad_stderr", "modified")}
    kinds: dict[str, int] = {}
    for tag, _, _ in results:
        for k in tag.split()[-1].split("+"):
            kinds[k] = kinds.get(k, 0) + 1
    print(f"\nfuzz: {len(cases)} damaged folders ({N_GT} GT, {N_RES} RES), {len(results)} runs "
          f"(evaluate + info): {counts['ok']} exit 0, {counts['clean']} clean one-line errors, "
          f"{counts['traceback']} tracebacks, {counts['hang']} hangs, {counts['bad_stderr']} other stderr, "
          f"{counts['modified']} inputs modified; "
          f"{time.monotonic() - start:.1f} s")
    print(f"fuzz: {len(kinds)} damage kinds used: {dict(sorted(kinds.items()))}")
    bad = [r for r in results if r[1] not in ("ok", "clean")]
    for tag, outcome, detail in bad[:10]:
        print(f"--- {outcome}: {tag}\n{detail}")
    assert not bad, f"{len(bad)} runs failed: {[(t, o) for t, o, _ in bad[:20]]}"
    assert counts["clean"] > len(cases) // 2 and counts["ok"] > 0
