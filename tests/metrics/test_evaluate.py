"""The public interface: evaluate(), evaluate_folders(), format_results(), write_json(), validation,
and the families without a reference implementation (DistNet2D lineage, Caliban classes, points)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from celltrace.errors import TrackingError
from celltrace.io.ctc import read_seg, write_ctc
from celltrace.io.tiff import write_frame
from celltrace.metrics import evaluate, evaluate_folders, format_results, write_json
from celltrace.metrics.points import evaluate_points
from celltrace.tracking import Tracking

from conftest import ctc_gt
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
