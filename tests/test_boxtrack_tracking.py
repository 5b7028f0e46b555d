"""BoxTrack end to end with the shipped weights: box prompts from a CSV and from a label image give
the same first-frame objects, a planted division becomes two daughters, no boxes means the default
detector's first-frame cells, and ``celltrace track --method boxtrack --boxes`` writes a valid RES
plus the MOT text file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage as ndi

import celltrace
from celltrace.cli import main
from celltrace.io.boxes import boxes_from_labels, write_boxes
from celltrace.io.ctc import read_ctc
from celltrace.io.mot import parse_mot
from celltrace.io.tiff import read_frame
from celltrace.methods.boxtrack.tracker import DEFAULT_WEIGHTS
from celltrace.methods.classic.tracker import ClassicTracker
from celltrace.napari._boxes import shapes_to_boxes

from conftest import crop_sequence, ctc_gt

BOX = (300, 300, 192, 192)  # y, x, h, w of the GOWT1 crop


@pytest.fixture(scope="module")
def gowt1(tmp_path_factory):
    """Four frames of a GOWT1 02 crop, and its first frame's TRA markers as a label image."""
    folder = crop_sequence("Fluo-N2DH-GOWT1", tmp_path_factory.mktemp("gowt1") / "02", frames=4, box=BOX)
    y, x, h, w = BOX
    markers = read_frame(ctc_gt("Fluo-N2DH-GOWT1") / "TRA" / "man_track000.tif")[y:y + h, x:x + w]
    assert len(np.unique(markers)) > 2
    return folder, markers


def test_shipped_weights_and_manifest():
    manifest = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert manifest["method"] == "boxtrack" and manifest["region"] == "0:0.6"
    assert manifest["steps"] > 0 and DEFAULT_WEIGHTS.stat().st_size < 5e6


def test_csv_and_label_image_prompts_give_the_same_first_frame(gowt1, tmp_path):
    folder, markers = gowt1
    label_image = tmp_path / "first.tif"
    tifffile.imwrite(label_image, markers)
    csv = write_boxes(boxes_from_labels(markers), tmp_path / "boxes.csv")
    movie = celltrace.open_movie(folder)
    a = celltrace.track(movie, method="boxtrack", boxes=str(csv), detect_new=False, progress=False)
    b = celltrace.track(movie, method="boxtrack", boxes=str(label_image), detect_new=False, progress=False)
    first_a, first_b = np.asarray(a.masks[0]), np.asarray(b.masks[0])
    assert np.array_equal(first_a, first_b)
    ids = set(np.unique(markers)) - {0}
    found = set(np.unique(first_a)) - {0}
    assert found <= ids and len(found) >= 0.8 * len(ids)  # the box ids are the track labels
    for label in found:  # each mask covers its cell's marker
        assert (first_a[markers == label] == label).mean() > 0.5


def _planted_division(T: int = 8, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A nucleus drifting right for 4 frames, then two daughters side by side."""
    yy, xx = np.mgrid[:size, :size]
    frames, truth = [], []
    for t in range(T):
        lab = np.zeros((size, size), np.uint16)
        if t < 4:
            lab[(yy - 48) ** 2 + (xx - 46 - t) ** 2 <= 9 ** 2] = 1
        else:
            lab[(yy - 48) ** 2 + (xx - 41) ** 2 <= 6.5 ** 2] = 2
            lab[(yy - 48) ** 2 + (xx - 57) ** 2 <= 6.5 ** 2] = 3
        img = 100 + 900 * ndi.gaussian_filter((lab > 0).astype(float), 1.0)
        img += np.random.default_rng(t).normal(0, 10, img.shape)
        frames.append(img.astype(np.uint16))
        truth.append(lab)
    return np.stack(frames), np.stack(truth)


def test_planted_division_becomes_two_daughters():
    frames, truth = _planted_division()
    result = celltrace.track(frames, method="boxtrack", boxes=boxes_from_labels(truth[0]), progress=False)
    divisions = result.divisions()
    assert len(divisions) == 1
    mother = int(divisions["parent"].iloc[0])
    assert int(divisions["frame"].iloc[0]) == 4
    lin = result.lineage.set_index("label")
    assert lin.loc[mother, "begin"] == 0 and lin.loc[mother, "end"] == 3
    daughters = divisions["daughters"].iloc[0]
    last = np.asarray(result.masks[7])
    for d, cell in zip(sorted(daughters, key=lambda d: ndi.center_of_mass(last == d)[1]), (2, 3)):
        assert lin.loc[d, "end"] == 7
        inter = ((last == d) & (truth[7] == cell)).sum()
        assert inter / ((last == d) | (truth[7] == cell)).sum() > 0.5


def test_without_boxes_the_default_detector_prompts(gowt1):
    folder, _ = gowt1
    movie = celltrace.open_movie(folder)
    result = celltrace.track(movie, method="boxtrack", progress=False)
    detector = ClassicTracker()
    first = detector.segment(np.asarray(movie[0]), detector.estimate_radius(movie))
    assert np.array_equal(np.asarray(result.masks[0]) > 0, first > 0)
    assert len(np.unique(result.masks[0])) == len(np.unique(first))


def test_napari_shapes_become_boxes():
    table = shapes_to_boxes([np.array([[0, 2.0, 3], [0, 2, 8], [0, 9, 8], [0, 9, 3]]),
                             np.array([[2.2, 10.0, 10.0], [2.2, 20.0, 20.0]])])
    assert table[["frame", "x0", "y0", "x1", "y1"]].values.tolist() == [[0, 3, 2, 9, 10], [2, 10, 10, 21, 21]]


def test_cli_track_with_boxes_writes_res_and_mot(gowt1, tmp_path):
    folder, markers = gowt1
    csv = write_boxes(boxes_from_labels(markers), tmp_path / "B.csv")
    out = tmp_path / "R"
    assert main(["track", str(folder), "--method", "boxtrack", "--boxes", str(csv), "--out", str(out), "-q"]) == 0
    res = read_ctc(out).validate()
    mot = parse_mot(out / "mot.txt").rename(columns={0: "frame", 1: "id", 2: "x", 3: "y", 6: "score"})
    cells = res.cell_table()
    assert len(mot) == len(cells) > 0
    assert sorted(mot["frame"].unique()) == [1, 2, 3, 4]  # MOT frames are 1-based
    assert ((mot["score"] > 0) & (mot["score"] <= 1)).all() and (mot["score"] < 1).any()
    merged = mot[["frame", "id", "x", "y"]].merge(pd.DataFrame({"frame": cells["frame"] + 1, "id": cells["label"],
                                     "x": cells["bbox_min_x"], "y": cells["bbox_min_y"]}), on=["frame", "id"])
    assert len(merged) == len(mot) and (merged["x_x"] == merged["x_y"]).all()
    run = json.loads((out / "run.json").read_text())
    assert run["method"] == "boxtrack"
    # --boxes with another method is one clear error line
    assert main(["track", str(folder), "--method", "classic", "--boxes", str(csv), "--out", str(tmp_path / "C"),
                 "-q"]) != 0
