"""celltrace.report: overlay movie, lineage trees, statistics, error view, self-contained HTML.

Real data: Fluo-N2DH-SIM+ 02 (first 36 frames, 5 divisions) with its GT used as the "result";
against that GT, a damaged copy (a track deleted, a track broken, a false region, two cells merged,
a division unlinked) makes every kind of error appear in the error view. The page is then rendered
in headless Chromium and the screenshot checked.
"""

from __future__ import annotations

import html.parser
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import celltrace
from celltrace import Movie, Tracking
from celltrace.report import (find_errors, label_colors, layout_trees, plot_lineage, track_statistics,
                              write_report)
from celltrace.report.errors import ErrorFinder, error_labels, error_snapshot, place_labels
from celltrace.report.html import table as html_table
from celltrace.report.overlay import FrameRenderer, OverlayWriter, contour_mask, display_shape, intensity_limits

from conftest import ctc_gt, ctc_sequence

DATASET = "Fluo-N2DH-SIM+"
N_FRAMES = 36


# ------------------------------------------------------------------------------ helpers
def first_frames(tr: Tracking, T: int) -> Tracking:
    """The first T frames of a tracking (lineage clipped accordingly)."""
    lin = tr.lineage[tr.lineage["begin"] < T].copy()
    lin["end"] = lin["end"].clip(upper=T - 1)
    return Tracking(masks=tr.masks[:T], lineage=lin, meta={"source": None})


def damage(gt: Tracking) -> tuple[Tracking, dict]:
    """A copy of ``gt`` with known errors, still valid under the CTC rules."""
    T = gt.n_frames
    lin = gt.lineage.copy()
    kids = gt.children()
    divs = gt.divisions()
    full = lin[(lin["begin"] == 0) & (lin["end"] == T - 1) & ~lin["label"].isin(list(kids))]["label"].tolist()
    div_parents = set(divs["parent"])
    delete, broken = full[0], full[1]
    alive = lin[(lin["begin"] <= T - 4) & (lin["end"] == T - 1) & ~lin["label"].isin(list(kids))
                & ~lin["label"].isin([delete, broken])]["label"].tolist()
    a, b = alive[0], alive[-1]
    k = T // 2
    nxt = int(lin["label"].max()) + 1
    new_piece, fp_label = nxt, nxt + 1
    merge_from = T - 3
    div = divs.iloc[0]

    lin = lin[lin["label"] != delete]
    lin.loc[lin["label"] == broken, "end"] = k - 1
    lin.loc[lin["label"] == b, "end"] = merge_from - 1
    lin.loc[lin["label"].isin(div["daughters"]), "parent"] = 0
    lin = pd.concat([lin, pd.DataFrame([(new_piece, k, T - 1, 0), (fp_label, 5, 10, 0)],
                                       columns=["label", "begin", "end", "parent"])])

    # an empty 8×8 spot for the false positive
    f5 = np.asarray(gt.masks[5])
    free = np.argwhere(np.lib.stride_tricks.sliding_window_view(f5 == 0, (12, 12)).all(axis=(2, 3)))
    fy, fx = free[len(free) // 2] + 2

    def fn(t: int, frame: np.ndarray) -> np.ndarray:
        out = frame.copy()
        out[out == delete] = 0
        if t >= k:
            out[out == broken] = new_piece
        if t >= merge_from:
            out[out == b] = a
        if 5 <= t <= 10:
            out[fy:fy + 8, fx:fx + 8] = fp_label
        return out

    res = Tracking(masks=gt.masks.map(fn), lineage=lin)
    assert res.problems() == [], res.problems()
    return res, {"delete": delete, "broken": broken, "k": k, "merge": (a, b), "merge_from": merge_from,
                 "fp": fp_label, "division": (int(div["parent"]), int(div["frame"])), "div_parents": div_parents}


@pytest.fixture(scope="module")
def sim() -> tuple[Movie, Tracking]:
    movie = celltrace.open_movie(ctc_sequence(DATASET))
    gt = Tracking.from_ctc(ctc_gt(DATASET))
    return Movie(frames=movie.frames[:N_FRAMES], name="SIM+ 02"), first_frames(gt, N_FRAMES)


@pytest.fixture(scope="module")
def damaged_report(sim, tmp_path_factory) -> tuple[Path, dict]:
    movie, gt = sim
    res, info = damage(gt)
    out = tmp_path_factory.mktemp("report") / "report"
    path = write_report(res, movie, out, gt=gt, progress=False, max_frames_gif=12)
    return path, info


class _Elements(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        self.tags.append((tag, dict(attrs)))


def elements(path: Path) -> list[tuple[str, dict]]:
    p = _Elements()
    p.feed(path.read_text(encoding="utf-8"))
    return p.tags


# ------------------------------------------------------------------------------ units
def test_label_colours_are_stable_and_distinct():
    c = label_colors(np.arange(0, 200))
    assert c.dtype == np.uint8 and c.shape == (200, 3)
    assert (c[0] == 0).all()
    assert np.array_equal(c, label_colors(np.arange(0, 200)))  # a pure function of the label
    assert np.array_equal(label_colors(np.array([37]))[0], c[37])
    assert len({tuple(x) for x in c[1:]}) == 199
    assert (c[1:].max(axis=1) >= 200).all()  # bright on a dark image


def test_display_shape_and_contours():
    assert display_shape((1024, 1024)) == (512, 512)
    assert display_shape((773, 739)) == (512, 490)
    assert display_shape((100, 51)) == (100, 52)  # even for H.264, never enlarged
    lab = np.zeros((9, 9), int)
    lab[2:7, 2:7] = 3
    edge = contour_mask(lab)
    assert edge[2, 2:7].all() and edge[2:7, 2].all() and not edge[4, 4] and not edge[0].any()


def test_render_frame_colours_each_track():
    raw = np.random.default_rng(0).integers(0, 100, (64, 80)).astype(np.uint16)
    lab = np.zeros((64, 80), np.uint16)
    lab[10:30, 10:30] = 5
    lab[35:60, 40:70] = 9
    r = FrameRenderer((64, 80), (0.0, 100.0), divisions=[(1, 3, (5, 9))])
    rgb = r.render(raw, lab, 0)
    assert rgb.shape == (64, 80, 3) and rgb.dtype == np.uint8
    assert (rgb[10, 15] == label_colors(np.array([5]))[0]).all()
    assert (rgb[35, 50] == label_colors(np.array([9]))[0]).all()
    ring = r.render(raw, lab, 3)  # the division ring is drawn in white from the division frame on
    assert ((ring == 255).all(axis=2) & ~(rgb == 255).all(axis=2)).sum() > 20


def test_statistics_on_a_hand_made_lineage():
    # label 1: frames 0..3 moving 1 px/frame in x, divides into 2 and 3 (frames 4..5); 4 lost at 1
    rows = [(t, 1, 10.0, 10.0 + t) for t in range(4)] + [(t, 2, 5.0, 14.0) for t in (4, 5)] + \
           [(4, 3, 20.0, 14.0), (5, 3, 23.0, 18.0)] + [(0, 4, 50.0, 50.0), (1, 4, 50.0, 50.0)]
    cells = pd.DataFrame(rows, columns=["frame", "label", "centroid_y", "centroid_x"]).assign(area=10)
    lin = pd.DataFrame([(1, 0, 3, 0), (2, 4, 5, 1), (3, 4, 5, 1), (4, 0, 1, 0)],
                       columns=["label", "begin", "end", "parent"])
    st = track_statistics(cells, lin, n_frames=6)
    tr = st.tracks.set_index("label")
    assert tr.loc[1, "fate"] == "divided" and tr.loc[4, "fate"] == "lost" and tr.loc[2, "fate"] == "to end"
    assert tr.loc[1, "length"] == 4 and tr.loc[1, "mean_speed"] == pytest.approx(1.0)
    assert tr.loc[3, "mean_speed"] == pytest.approx(5.0)
    assert st.msd.set_index("lag").loc[3, "msd"] == pytest.approx(9.0)  # only label 1 spans 3 frames
    assert st.msd.set_index("lag").loc[1, "n_pairs"] == 3 + 1 + 1 + 1
    assert list(st.divisions["frame"]) == [4] and st.divisions["daughters"][0] == (2, 3)
    assert list(st.counts["n_cells"]) == [2, 2, 1, 1, 2, 2]
    assert list(st.counts["n_track_ends"]) == [0, 1, 0, 0, 0, 0]


def test_tree_layout_centres_mothers():
    lin = pd.DataFrame([(1, 0, 3, 0), (2, 4, 9, 1), (3, 4, 6, 1), (4, 7, 9, 3), (5, 7, 9, 3), (6, 2, 9, 0),
                        (7, 0, 1, 0), (8, 5, 9, 7)], columns=["label", "begin", "end", "parent"])
    lay = layout_trees(lin)
    assert lay.founders == [1, 7, 6]
    assert lay.y[3] == pytest.approx((lay.y[4] + lay.y[5]) / 2)
    assert lay.y[1] == pytest.approx((lay.y[2] + lay.y[3]) / 2)
    assert lay.y[7] == lay.y[8]  # a gap continuation stays on its mother's row
    assert lay.rows == {1: 3, 7: 1, 6: 1}


def test_error_finder_on_hand_made_frames():
    gt = [np.zeros((20, 20), int) for _ in range(3)]
    pr = [np.zeros((20, 20), int) for _ in range(3)]
    for t in range(3):
        gt[t][2:6, 2:6] = 1
        gt[t][10:14, 10:14] = 2
    pr[0][2:6, 2:6] = 7                        # frame 0: 1 matched, 2 missed (FN)
    pr[1][2:6, 2:6] = 7
    pr[1][10:14, 10:14] = 8                    # frame 1: both matched
    pr[1][16:19, 16:19] = 9                    # … and a false positive
    pr[2][2:14, 2:14] = 7                      # frame 2: one region over both (merge)
    f = ErrorFinder()
    for t in range(3):
        f.add(t, gt[t], pr[t])
    gl = pd.DataFrame([(1, 0, 2, 0), (2, 0, 2, 0)], columns=["label", "begin", "end", "parent"])
    pl = pd.DataFrame([(7, 0, 2, 0), (8, 1, 1, 0), (9, 1, 1, 0)], columns=["label", "begin", "end", "parent"])
    rep = f.finish(gl, pl)
    ev = rep.events
    got = set(zip(ev["frame"], ev["kind"]))
    assert (0, "FN") in got and (1, "FP") in got and (2, "merge") in got
    fn = ev[ev["kind"] == "FN"].iloc[0]
    assert fn["gt_label"] == 2 and fn["y"] == pytest.approx(11.5)
    assert rep.per_frame["total"].tolist() == [1, 1, 1]


def test_lineage_plot_pages(tmp_path):
    lin = pd.DataFrame([(i, 0, 5, 0) for i in range(1, 131)], columns=["label", "begin", "end", "parent"])
    paths = plot_lineage(lin, 6, tmp_path, rows_per_page=60)
    assert len(paths) == 3 and all(p.stat().st_size > 1000 for p in paths)


# ------------------------------------------------------------------------------ real data
def test_report_on_real_data_with_errors(damaged_report, sim):
    path, info = damaged_report
    out = path.parent
    assert path.name == "report.html" and path.exists()
    for name in ["overlay.mp4", "overlay.gif", "lineage_0.png", "cells.csv", "tracks.csv", "steps.csv",
                 "msd.csv", "divisions.csv", "counts.csv", "counts.png", "msd.png", "speeds.png",
                 "track_lengths.png", "division_times.png", "errors.csv", "errors_per_frame.csv",
                 "errors_per_frame.png", "metrics.json"]:
        assert (out / name).stat().st_size > 0, name
    assert not list(out.parent.glob(".report.tmp-*"))  # written atomically

    import imageio.v2 as imageio

    with imageio.get_reader(out / "overlay.mp4") as r:
        assert r.count_frames() == N_FRAMES
        frame = r.get_data(0)
    assert frame.shape == (512, 490, 3)
    from PIL import Image

    with Image.open(out / "overlay.gif") as g:  # the preview is as large as the movie: cells are visible
        assert g.n_frames == 12 and g.size == (490, 512)
    assert (out / "overlay.gif").stat().st_size <= 4 * 2**20

    errors = pd.read_csv(out / "errors.csv")
    kinds = set(errors["kind"])
    assert {"FN", "FP", "merge", "missing link", "missed division"} <= kinds, kinds
    assert set(errors[errors["kind"] == "FN"]["gt_label"]) == {info["delete"]}
    assert len(errors[errors["kind"] == "FN"]) == N_FRAMES
    assert set(errors[errors["kind"] == "FP"]["frame"]) == set(range(5, 11))
    assert set(errors[errors["kind"] == "merge"]["frame"]) == set(range(info["merge_from"], N_FRAMES))
    broken = errors[(errors["kind"] == "missing link") & (errors["gt_label"] == info["broken"])]
    assert list(broken["frame"]) == [info["k"]]
    parent, dframe = info["division"]
    missed = errors[errors["kind"] == "missed division"]
    assert list(zip(missed["gt_label"], missed["frame"])) == [(parent, dframe)]
    assert "false division" not in kinds

    tracks = pd.read_csv(out / "tracks.csv")
    assert {"label", "length", "fate", "mean_speed"} <= set(tracks.columns)
    counts = pd.read_csv(out / "counts.csv")
    assert len(counts) == N_FRAMES and (counts["n_cells_gt"] >= 1).all()
    divisions = pd.read_csv(out / "divisions.csv")
    assert len(divisions) == len(sim[1].divisions()) - 1

    tags = elements(path)
    ids = {a.get("id") for _, a in tags}
    assert {"overlay-video", "overlay-gif", "metrics-table", "errors-table", "statistics-table",
            "lineage-tree-0", "error-counts"} <= ids
    video = [a for t, a in tags if t == "source"]
    assert video and video[0]["src"].startswith("data:video/mp4;base64,")
    # self-contained: every image is a data URI, nothing is fetched
    assert all(a["src"].startswith("data:") for t, a in tags if t in ("img", "source"))
    assert not [a for t, a in tags if t in ("script", "link") and (a.get("src") or a.get("href"))]
    assert len([1 for t, a in tags if t == "img" and "error-frame" in a.get("class", "")]) == 4
    text = path.read_text(encoding="utf-8")
    assert "TRA" in text and "missed division" in text
    assert f"GIF preview (12 of {N_FRAMES} frames, 490 × 512 px" in text
    assert "GT dashed" in text  # the counts plot has the GT line
    # the long list of disagreements is folded; its summary line gives the count
    m = re.search(r'<details class="long-table"><summary>([^<]*)</summary><table id="errors-table">', text)
    assert m and m.group(1).startswith(f"{len(errors)} disagreements"), m and m.group(1)
    assert len(errors) > 20
    short = re.search(r'<table id="error-counts">', text)
    assert short and not text[:short.start()].endswith("</summary>")  # the 8-row count table stays open


def test_report_without_gt_from_paths_and_overwrite(tmp_path):
    """MSC (1200 px wide, uint16, no divisions) from folders, as the CLI calls it."""
    import tifffile

    gt = Tracking.from_ctc(ctc_gt("Fluo-C2DL-MSC"))
    short = first_frames(gt, 6)
    res_dir = tmp_path / "RES"
    short.to_ctc(res_dir)
    seq = tmp_path / "seq"
    seq.mkdir()
    movie = celltrace.open_movie(ctc_sequence("Fluo-C2DL-MSC"))
    for t in range(6):
        tifffile.imwrite(seq / f"t{t:03d}.tif", movie[t])
    out = tmp_path / "rep"
    path = write_report(res_dir, seq, out, progress=False, show_labels=True)
    assert path == out / "report.html"
    ids = {a.get("id") for _, a in elements(path)}
    assert "overlay-video" in ids and "lineage-tree-0" in ids and "metrics-table" not in ids
    assert not (out / "errors.csv").exists()
    text = path.read_text(encoding="utf-8")
    assert "GT dashed" not in text and "ground truth:" not in text  # no GT: no caption promising a GT line
    assert f"result: <code>{res_dir}</code>" in text and f"movie: <code>{seq}</code>" in text
    from celltrace.errors import OutputExistsError

    with pytest.raises(OutputExistsError):
        write_report(res_dir, seq, out, progress=False)
    before = path.stat().st_mtime_ns
    # inputs that are files on disk, passed as objects: the header names their paths, not "(in memory)"
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.stack([movie[t] for t in range(6)]))
    mm = tifffile.memmap(stack)
    assert isinstance(mm, np.memmap)
    write_report(Tracking.from_ctc(res_dir), mm, out, progress=False, overwrite=True)
    assert path.stat().st_mtime_ns != before
    text = path.read_text(encoding="utf-8")
    assert "in memory" not in text
    assert f"result: <code>{res_dir}</code>" in text and f"movie: <code>{stack}</code>" in text
    with pytest.raises(celltrace.CelltraceError, match="frames"):
        write_report(res_dir, celltrace.open_movie(ctc_sequence("Fluo-C2DL-MSC")), tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_long_tables_fold_with_their_count():
    df = pd.DataFrame({"frame": np.arange(500), "kind": ["FN"] * 500})
    long = html_table(df, id="t", max_rows=300, collapse_over=20, what="disagreements", csv="errors.csv")
    assert long.startswith('<details class="long-table"><summary>500 disagreements (the first 300 shown')
    assert long.count("<tr>") == 301 and "200 more rows in <code>errors.csv</code>" in long
    short = html_table(df.head(20), id="t", max_rows=300, collapse_over=20, what="disagreements")
    assert short.startswith("<table") and "<details" not in short


def test_gif_preview_of_a_1024_movie_is_large_and_within_budget(tmp_path):
    """GOWT1 frames are 1024²: the GIF is drawn at 512 px like the MP4 (at 256 px the nuclei were a
    few pixels), ~130 kB a frame; over its size budget it keeps fewer frames rather than growing."""
    from PIL import Image

    movie = celltrace.open_movie(ctc_sequence("Fluo-N2DH-GOWT1"))
    gt = Tracking.from_ctc(ctc_gt("Fluo-N2DH-GOWT1"))
    assert movie.frame_shape == (1024, 1024)
    T = 12
    r = FrameRenderer(movie.frame_shape, intensity_limits(movie))
    frames = [r.render(movie[t], np.asarray(gt.masks[t]), t) for t in range(T)]
    got = {}
    for name, budget in (("roomy", 4.0), ("tight", 0.6)):
        gif = tmp_path / f"{name}.gif"
        with OverlayWriter(tmp_path / f"{name}.mp4", gif, T, gif_max_mb=budget) as w:
            for f in frames:
                w.append(f)
        with Image.open(gif) as g:
            got[name] = (g.n_frames, g.size, gif.stat().st_size, w.gif_frames)
        assert got[name][2] <= budget * 2**20, got
        assert got[name][1] == (512, 512) and got[name][0] == got[name][3], got
    assert got["roomy"][0] == T and got["roomy"][2] > 0.6 * 2**20, got  # a few MB for 12 frames
    assert 1 < got["tight"][0] < T, got  # frames dropped, not pixels


def _crowded_gowt1_frame() -> tuple[pd.DataFrame, FrameRenderer]:
    """Errors of a real crowded frame: GOWT1 (1024², shown at 512) with the identities of all cells
    swapped round in frame 2, so every cell there carries two tags (missing link, extra link)."""
    gt = first_frames(Tracking.from_ctc(ctc_gt("Fluo-N2DH-GOWT1")), 4)
    lin = gt.lineage
    alive = np.sort(lin[(lin["begin"] <= 1) & (lin["end"] >= 3)]["label"].to_numpy())
    lut = np.arange(int(lin["label"].max()) + 1)
    lut[alive] = np.roll(alive, 1)
    res = Tracking(masks=gt.masks.map(lambda t, f: lut[f].astype(f.dtype) if t == 2 else f), lineage=lin.copy())
    assert res.problems() == []
    rep = find_errors(res, gt)
    ev = rep.events[rep.events["frame"] == 2]
    return ev, FrameRenderer(tuple(gt.shape[1:]), (0.0, 1.0))


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_error_labels_do_not_overlap_in_a_crowded_real_frame():
    from PIL import Image, ImageDraw

    ev, renderer = _crowded_gowt1_frame()
    assert len(ev) >= 30 and set(ev["kind"]) == {"missing link", "extra link"}
    labels = error_labels(ev, renderer)
    assert len(labels) == len(ev)
    W = H = 512
    # the old rule (right of the circle, level with its top) piles the two tags of a cell on each other
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    old = []
    for lab in labels:
        x, y, r = lab.marker
        _, _, w, h = draw.textbbox((0, 0), lab.text, font=renderer._font, stroke_width=1)
        x0 = x + r + 2 if x + r + 2 + w <= W else max(0, x - r - 2 - w)
        old.append((x0, max(0, y - r), x0 + w, max(0, y - r) + h))
    assert sum(_overlap(a, b) for i, a in enumerate(old) for b in old[:i]) >= len(ev) // 2
    boxes = [lab.box for lab in labels]
    clashes = [(a, b) for i, a in enumerate(boxes) for b in boxes[:i] if _overlap(a, b)]
    assert not clashes, clashes[:5]
    assert all(0 <= x0 and 0 <= y0 and x1 <= W and y1 <= H for x0, y0, x1, y1 in boxes)  # all fit in the frame
    # …and stay near their cells: most tags within a circle's diameter of it
    def gap(lab):  # noqa: ANN001, ANN202
        x, y, r = lab.marker
        x0, y0, x1, y1 = lab.box
        return np.hypot(min(max(x, x0), x1) - x, min(max(y, y0), y1) - y) - r
    gaps = np.array([gap(lab) for lab in labels])
    assert np.median(gaps) < 2 * labels[0].marker[2], np.sort(gaps)
    raw = np.zeros((1024, 1024), np.uint16)
    pic = error_snapshot(raw, np.zeros_like(raw), np.zeros_like(raw), ev, renderer, 2)
    assert pic.shape == (512, 512, 3)


def test_error_labels_without_room_go_below_the_frame():
    renderer = FrameRenderer((64, 64), (0.0, 1.0))
    ev = pd.DataFrame([(0, "FN", k + 1, 0, 32.0, 32.0, "") for k in range(12)],
                      columns=["frame", "kind", "gt_label", "pred_label", "y", "x", "detail"])
    labels = error_labels(ev, renderer)
    boxes = [lab.box for lab in labels]
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[:i] if _overlap(a, b)]
    below = [lab for lab in labels if lab.box[1] >= 64]
    assert below and all("at x=32, y=32" in lab.text for lab in below)
    pic = error_snapshot(np.zeros((64, 64)), np.zeros((64, 64), int), np.zeros((64, 64), int), ev, renderer, 0)
    assert pic.shape[0] >= max(b[3] for b in boxes) and pic.shape[1] == 64
    assert place_labels([(5.0, 5.0, 3.0)], [(200, 10)], (64, 64)) == [None]  # wider than the frame


def test_find_errors_of_gt_against_itself_is_empty(sim):
    _, gt = sim
    rep = find_errors(first_frames(gt, 8), first_frames(gt, 8))
    assert len(rep.events) == 0 and rep.per_frame["total"].sum() == 0


# ------------------------------------------------------------------------------ as a person sees it
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def test_report_renders_in_headless_chromium(damaged_report, tmp_path):
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install -y chromium); CI must run this test")
        pytest.skip("chromium is not installed (apt-get install -y chromium): cannot render the report")
    path, _ = damaged_report
    shot = tmp_path / "report.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1280,2400", path.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.exists(), f"no screenshot (rc {proc.returncode}): {proc.stderr[-2000:]}"
    keep = os.environ.get("CELLTRACE_SCREENSHOT")
    if keep:  # let a person look at it
        shutil.copy(shot, keep)
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 2400)
        rgb = np.asarray(im.convert("RGB"))
    assert rgb.std() > 20
    assert len(np.unique(rgb.reshape(-1, 3)[::7], axis=0)) > 500  # text, plots, the movie: not a blank page
    # the movie sits near the top: a large, mostly dark block whose pixels include track colours
    top = rgb[150:800, 30:600]
    dark = (top.max(axis=2) < 40).mean()
    coloured = ((top.max(axis=2).astype(int) - top.min(axis=2)) > 80).mean()
    assert dark > 0.3 and coloured > 0.001, (dark, coloured)
    # the header bar is the dark blue of the page style
    assert (np.abs(rgb[5, 640].astype(int) - (0x1d, 0x23, 0x30)) < 12).all()


# ------------------------------------------------------------------------------ command line
def test_cli_report(tmp_path, capfd):
    from celltrace.cli import main

    gt = first_frames(Tracking.from_ctc(ctc_gt("Fluo-N2DH-GOWT1")), 5)
    gt.to_ctc(tmp_path / "RES")
    import tifffile

    movie = celltrace.open_movie(ctc_sequence("Fluo-N2DH-GOWT1"))
    seq = tmp_path / "seq"
    seq.mkdir()
    for t in range(5):
        tifffile.imwrite(seq / f"t{t:03d}.tif", movie[t])
    gt.to_ctc(tmp_path / "GT", kind="gt")
    capfd.readouterr()
    rc = main(["report", str(tmp_path / "RES"), "--movie", str(seq), "--gt", str(tmp_path / "GT"),
               "--out", str(tmp_path / "rep"), "--quiet"])
    assert rc == 0
    assert capfd.readouterr() == ("", "")  # -q: nothing at all; the exit status says it worked
    assert (tmp_path / "rep" / "metrics.json").exists()
    rc = main(["report", str(tmp_path / "RES"), "--movie", str(seq), "--out", str(tmp_path / "rep2")])
    assert rc == 0 and str(tmp_path / "rep2" / "report.html") in capfd.readouterr().out
    assert main(["report", str(tmp_path / "RES"), "--movie", str(seq), "--out", str(tmp_path / "rep")]) == 2
