"""The public interface: evaluate(), evaluate_folders(), format_results(), write_json(), validation,
and the families without a reference implementation (DistNet2D lineage, Caliban classes, points)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from celltrace.errors import TrackingError
from celltrace.io.ctc import read_seg, write_ctc
from celltrace.io.tiff import write_frame
from celltrace.metrics import evaluate, evaluate_folders, format_results, write_json
from celltrace.metrics.points import evaluate_points
from celltrace.tracking import Tracking

from conftest import ctc_gt, extra
from .damage import add_spurious_cell, break_links, delete_cells, merge_cells, split_cell

N = 20


@pytest.fixture(scope="module")
def sim() -> tuple[Tracking, dict]:
    """SIM+ 02 cropped to its first 20 frames (GT markers equal the SEG masks there)."""
    folder = ctc_gt("Fluo-N2DH-SIM+")
    gt = Tracking.from_ctc(folder)
    lin = gt.lineage[gt.lineage["begin"] < N].copy()
    lin["end"] = lin["end"].clip(upper=N - 1)
    lin.loc[~lin["parent"].isin(lin["label"]), "parent"] = 0
    seg = {t: s for t, s in read_seg(folder).items() if t < N}
    return Tracking(masks=np.asarray(gt.masks[:N]), lineage=lin), seg


@pytest.fixture(scope="module")
def dataset_folders(tmp_path_factory, sim):
    gt, seg = sim
    root = tmp_path_factory.mktemp("ds")
    for name, pred in [("01", gt), ("02", Tracking(*break_links(np.asarray(gt.masks), gt.lineage, 3)))]:
        write_ctc(pred, root / "RES" / f"{name}_RES")
        g = write_ctc(gt, root / "GT" / f"{name}_GT", kind="gt")
        (g / "SEG").mkdir()
        for t, s in seg.items():
            write_frame(g / "SEG" / f"man_seg{t:03d}.tif", s)
    return root


def test_public_entry_point(sim) -> None:
    gt, seg = sim
    r = evaluate(gt, gt, seg=seg)
    for key in ["TRA", "DET", "SEG", "LNK", "CT", "TF", "BC(0)", "BC(3)", "CCA", "CHOTA", "MOTA", "IDF1",
                "IDS", "MT", "ML", "MBC", "AOGM_NS", "AOGM_FN", "AOGM_FP", "AOGM_ED", "AOGM_EA", "AOGM_EC"]:
        assert key in r, key
    assert r["TRA"] == r["DET"] == r["LNK"] == r["SEG"] == r["CHOTA"] == r["IDF1"] == 1.0
    assert r["AOGM"] == 0 and r["IDS"] == 0


def test_metric_selection(sim) -> None:
    gt, _ = sim
    r = evaluate(gt, gt, metrics=["TRA"])
    assert "TRA" in r and "CHOTA" not in r and "MBC" not in r
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(gt, gt, metrics=["nope"])


def test_invalid_result_is_refused_with_label_and_frame(sim) -> None:
    gt, _ = sim
    masks = np.asarray(gt.masks).copy()
    lab = int(gt.lineage["label"].iloc[0])
    masks[3][masks[3] == lab] = 0                      # label missing from a frame of its span
    bad = Tracking(masks=masks, lineage=gt.lineage)
    with pytest.raises(TrackingError, match=rf"frame 3.*label {lab} is missing"):
        evaluate(bad, gt)


def test_invalid_res_folder_is_refused(tmp_path, sim) -> None:
    gt, _ = sim
    lin = gt.lineage.copy()
    lin.loc[0, "end"] = lin.loc[0, "end"] + 0 if lin.loc[0, "end"] < N - 1 else lin.loc[0, "end"]
    masks = np.asarray(gt.masks).copy()
    masks[5][10:14, 10:14] = 999                        # a label not in res_track.txt
    write_ctc(Tracking(masks=masks, lineage=lin), tmp_path / "01_RES")
    with pytest.raises(TrackingError, match=r"label 999 is not listed"):
        evaluate(tmp_path / "01_RES", gt)


def test_damage_is_seen(sim) -> None:
    gt, seg = sim
    m = np.asarray(gt.masks)
    r = evaluate(Tracking(*merge_cells(m, gt.lineage)), gt, seg=seg)
    assert r["AOGM_NS"] > 0 and r["SEGCLS_merge" if "SEGCLS_merge" in r else "AOGM_NS"] > 0
    r = evaluate(Tracking(*delete_cells(m, gt.lineage, 2)), gt, seg=seg, metrics="all")
    assert r["AOGM_FN"] > 0 and r["LIN_FN"] > 0 and r["SEGCLS_FN"] > 0 and r["MT"] < 1
    r = evaluate(Tracking(*split_cell(m, gt.lineage)), gt, seg=seg, metrics="all")
    assert r["SEGCLS_split"] > 0 and r["LIN_over"] > 0
    r = evaluate(Tracking(*merge_cells(m, gt.lineage)), gt, seg=seg, metrics="all")
    assert r["SEGCLS_merge"] > 0 and r["LIN_under"] > 0 and r["LIN_incomplete"] > 0
    r = evaluate(Tracking(*break_links(m, gt.lineage, 2)), gt, seg=seg, metrics="all")
    assert r["LIN_FN_links"] == 2 and r["LIN_FN"] == 0 and r["IDS"] == 2 and r["IDF1"] < 1
    r = evaluate(Tracking(*add_spurious_cell(m, gt.lineage)), gt, seg=seg, metrics="all")
    assert r["AOGM_FP"] == 10 and r["LIN_FP"] == 10


def test_border_exclusion(sim) -> None:
    gt, _ = sim
    r0 = evaluate(gt, gt, metrics=["lineage"])
    r1 = evaluate(gt, gt, metrics=["lineage"], exclude_border=True)
    assert r1["LIN_cells"] <= r0["LIN_cells"]


def test_points_match_the_marker_they_fall_in(sim) -> None:
    gt, _ = sim
    table = gt.cell_table()
    pts = table[["frame", "label", "centroid_y", "centroid_x"]].rename(columns={"centroid_y": "y", "centroid_x": "x"})
    inside = [np.asarray(gt.masks[int(f)])[int(round(y)), int(round(x))] == lab
              for f, lab, y, x in pts.itertuples(index=False)]
    pts = pts[inside]   # centroids of concave cells may fall outside them
    pred = Tracking(masks=np.zeros_like(np.asarray(gt.masks)), lineage=gt.lineage, points=pts)
    keep = set(pts.itertuples(index=False, name=None))
    r = evaluate_points(pred, gt, validate=False)
    assert r["AOGM_FP"] == 0 and r["AOGM_NS"] == 0
    assert r["AOGM_FN"] == sum(1 for t in range(N) for _ in np.unique(np.asarray(gt.masks[t]))[1:]) - len(keep)
    if len(keep) == len(table):
        assert r["TRA"] == 1.0


def test_folders_one_sequence_and_dataset(dataset_folders, tmp_path) -> None:
    root = dataset_folders
    one = evaluate_folders(root / "RES" / "01_RES", root / "GT" / "01_GT")
    assert list(one["sequences"]) == ["01"] and one["pooled"]["TRA"] == 1.0
    both = evaluate_folders(root / "RES", root / "GT")
    s1, s2, pooled = both["sequences"]["01"], both["sequences"]["02"], both["pooled"]
    assert s2["AOGM_EA"] > 0
    # pooled CTC measures from summed counts and normalisers
    aogm = sum(s["AOGM"] for s in (s1, s2))
    aogm0 = sum(s["AOGM_0"] for s in (s1, s2))
    assert pooled["TRA"] == pytest.approx(1 - aogm / aogm0)
    assert pooled["AOGM_EA"] == s1["AOGM_EA"] + s2["AOGM_EA"]
    assert pooled["SEG"] == pytest.approx(1.0)
    table = format_results(both)
    head = table.splitlines()[0].split()
    assert head == ["measure", "01", "02", "pooled"]
    assert any(line.startswith("TRA ") for line in table.splitlines())
    write_json(one, tmp_path / "one.json")
    flat = json.loads((tmp_path / "one.json").read_text())
    assert flat["TRA"] == 1.0 and "BC(0)" in flat and "AOGM_EA" in flat and "sequences" not in flat
    write_json(both, tmp_path / "both.json")
    nested = json.loads((tmp_path / "both.json").read_text())
    assert set(nested) == {"sequences", "pooled"}


def test_folder_errors_name_the_sequence(dataset_folders, tmp_path) -> None:
    import shutil

    res = tmp_path / "RES"
    shutil.copytree(dataset_folders / "RES", res)
    track = res / "02_RES" / "res_track.txt"
    lines = track.read_text().splitlines()
    lab, b, e, p = map(int, lines[0].split())
    lines[0] = f"{lab} {b} {e} 4242"
    track.write_text("\n".join(lines) + "\n")
    with pytest.raises(TrackingError, match=r"02_RES.*parent 4242"):
        evaluate_folders(res, dataset_folders / "GT")


# ------------------------------------------------------------------ the ground truth is checked too
@pytest.fixture()
def gt_copy(dataset_folders, tmp_path):
    """A writable copy of the 20-frame SIM+ GT folder (TRA + SEG) and its RES."""
    import shutil

    gt = shutil.copytree(dataset_folders / "GT" / "01_GT", tmp_path / "01_GT")
    return dataset_folders / "RES" / "01_RES", gt


def _edit_gt_lineage(gt, fn) -> None:
    track = gt / "TRA" / "man_track.txt"
    rows = [list(map(int, line.split())) for line in track.read_text().splitlines()]
    track.write_text("".join(" ".join(map(str, r)) + "\n" for r in fn(rows)))


def _in_time(fn, seconds: int = 5):
    """Run fn() or fail after ``seconds`` (a metric looping on a broken lineage never returns)."""
    import signal

    def stop(*_):
        raise AssertionError(f"did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        return fn()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _set_parents(parents: dict[int, int]):
    return lambda rows: [[r[0], r[1], r[2], parents.get(r[0], r[3])] for r in rows]


@pytest.mark.parametrize("cycle, message", [
    ({1: 1}, r"label 1 is its own parent"),
    ({1: 2, 2: 1}, r"parent cycle: label 1's parent is 2, whose parent is 1"),
    ({1: 2, 2: 4, 4: 1}, r"parent cycle: label 1's parent is 2, whose parent is 4, whose parent is 1"),
])
def test_gt_parent_cycle_is_refused_naming_the_gt(gt_copy, cycle, message):
    res, gt = gt_copy
    _edit_gt_lineage(gt, _set_parents(cycle))
    with pytest.raises(TrackingError, match=rf"01_GT.*{message}"):
        _in_time(lambda: evaluate_folders(res, gt))


@pytest.mark.parametrize("edit, message", [
    (lambda rows: [], r"01_GT.*label \d+ is not listed"),                              # empty man_track.txt
    (lambda rows: rows + [rows[0]], r"man_track\.txt: label 1 is listed more than once"),
    (lambda rows: [[rows[0][0], rows[0][2] + 1, rows[0][1], 0]] + rows[1:], r"label 1 ends \(frame \d+\) before it begins"),
])
def test_broken_gt_lineage_is_refused_before_any_metric(gt_copy, edit, message):
    res, gt = gt_copy
    _edit_gt_lineage(gt, edit)
    with pytest.raises(TrackingError, match=message):
        _in_time(lambda: evaluate(res, gt, metrics="all"))


def test_negative_label_in_gt_seg_names_the_seg_file(gt_copy):
    from celltrace.errors import InputError

    res, gt = gt_copy
    seg = gt / "SEG" / "man_seg004.tif"
    s = tifffile.imread(seg).astype(np.int32)
    s[s == s.max()] = -2
    tifffile.imwrite(seg, s)
    with pytest.raises(InputError, match=r"01_GT/SEG/man_seg004\.tif: negative label -2") as info:
        evaluate_folders(res, gt)
    assert "01_RES" not in str(info.value)
    tifffile.imwrite(seg, s[:-1].clip(0))
    with pytest.raises(InputError, match=r"man_seg004\.tif: SEG frame of shape \(\d+, \d+\); the movie's frames"):
        evaluate_folders(res, gt)


def test_huge_labels_are_scored_without_a_table_as_long_as_the_largest(sim, tmp_path):
    import tracemalloc

    gt, _ = sim
    masks = np.asarray(gt.masks).astype(np.uint32)
    lin = gt.lineage.copy()
    big = {int(lin["label"].iloc[0]): 2**32 - 1, int(lin["label"].iloc[1]): 2**31 + 3}
    for old, new in big.items():
        masks[masks == old] = new
    lin["label"] = lin["label"].replace(big)
    lin["parent"] = lin["parent"].replace(big)
    huge = Tracking(masks, lin)
    tracemalloc.start()
    try:
        r = evaluate(huge, huge, metrics="all")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r["TRA"] == 1.0 and r["IDF1"] == 1.0 and r["CHOTA"] == 1.0
    assert peak < 2**30, f"peak {peak / 2**30:.1f} GiB"


def test_unknown_metric_names_the_families(sim):
    from celltrace.errors import CelltraceError

    gt, _ = sim
    with pytest.raises(CelltraceError, match=r"unknown metric 'bogus'; the metric families are ctc, bio, mot, "
                                             r"divisions, lineage, segmentation"):
        evaluate(gt, gt, metrics="bogus")


# ------------------------------------------------------------------ a window of frames
def test_frames_window_scores_only_those_frames(dataset_folders, sim):
    gt, seg = sim
    res_dir, gt_dir = dataset_folders / "RES" / "02_RES", dataset_folders / "GT" / "02_GT"
    res = Tracking.from_ctc(res_dir)
    full = evaluate(res_dir, gt_dir)
    assert full["AOGM_EA"] > 0                        # 02_RES has broken links
    w = evaluate(res_dir, gt_dir, frames="0:6")
    direct = evaluate(res.window(0, 6), gt.window(0, 6), seg={t: s for t, s in seg.items() if t < 6})
    assert w == direct
    assert w["AOGM_VR"] == sum(np.unique(np.asarray(gt.masks[t])).size - 1 for t in range(6))
    assert w["SEG_objects"] == sum(np.unique(seg[t]).size - 1 for t in range(6))
    assert evaluate(res_dir, gt_dir, frames="-5:") == evaluate(res_dir, gt_dir, frames=slice(15, 20))
    assert evaluate(res_dir, gt_dir, frames=":") == full


@pytest.mark.parametrize("frames, message", [
    ("5:5", r"frames 5:5 select frames 5\.\.4, not a non-empty part of its 20 frames"),
    ("0:21", r"02_RES: frames 0:21 select frames 0\.\.20"),
    ("-30:", r"frames -30: select"),
    ("a:b", r"frames 'a:b': expected A:B"),
    ("3", r"frames '3': expected A:B"),
    ("1:5:2", r"expected A:B"),
])
def test_bad_frame_ranges_are_one_line(dataset_folders, frames, message):
    from celltrace.errors import CelltraceError

    with pytest.raises(CelltraceError, match=message):
        evaluate(dataset_folders / "RES" / "02_RES", dataset_folders / "GT" / "02_GT", frames=frames)


# ------------------------------------------------------------------ segmentation-only truth
@pytest.fixture(scope="module")
def psc_res(tmp_path_factory):
    """A RES of the first 12 PhC-C2DL-PSC 02 frames whose objects are the silver-truth SEG objects
    (each a one-frame track), and one with every fourth object of each frame removed."""
    st = extra("PhC-C2DL-PSC") / "02_ST"
    root = tmp_path_factory.mktemp("psc")
    segs = [tifffile.imread(st / "SEG" / f"man_seg{t:03d}.tif") for t in range(12)]
    out = {}
    for name, drop in [("same", False), ("fewer", True)]:
        masks, rows, removed = np.zeros((12, *segs[0].shape), np.uint32), [], 0
        for t, s in enumerate(segs):
            for i, lab in enumerate(np.unique(s)[1:]):
                if drop and i % 4 == 0:
                    removed += 1
                    continue
                masks[t][s == lab] = t * 1000 + i + 1
                rows.append((t * 1000 + i + 1, t, t, 0))
        out[name] = write_ctc(Tracking(masks, rows), root / name)
        out[f"{name}_removed"] = removed
    out["objects"] = sum(np.unique(s).size - 1 for s in segs)
    return st, out


def test_segmentation_only_truth_gives_seg_and_detection(psc_res):
    st, res = psc_res
    r = evaluate(res["same"], st, frames="0:12")
    assert r["SEG"] == pytest.approx(1.0) and r["DET_F1"] == 1.0 and r["DET_precision"] == 1.0
    assert r["SEG_frames"] == 12 and r["SEG_objects"] == r["DET_TP"] == res["objects"]
    assert "TRA" not in r
    r = evaluate_folders(res["fewer"], st, frames="0:12")["pooled"]
    assert r["DET_FN"] == res["fewer_removed"] and r["DET_FP"] == 0 and r["DET_precision"] == 1.0
    assert r["DET_recall"] == pytest.approx(1 - res["fewer_removed"] / res["objects"])
    assert r["SEG"] == pytest.approx(r["DET_recall"])
    # the 12-frame result does not cover the 50 SEG frames unless a window says which part to score
    from celltrace.errors import InputError

    with pytest.raises(InputError, match=r"02_ST/SEG/man_seg012\.tif: SEG frame beyond the 12 frames"):
        evaluate(res["same"], st)
    with pytest.raises(ValueError, match=r"segmentation truth only .* not mot"):
        evaluate(res["same"], st, metrics="mot", frames="0:12")
