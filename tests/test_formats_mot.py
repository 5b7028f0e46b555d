"""MOT / CTMC text: round trips on the real 02_GT folders, plain MOTChallenge files, bad files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATASETS, ctc_gt

from celltrace.errors import InputError
from celltrace.io.ctc import read_ctc
from celltrace.io.mot import mot_rows, read_mot, write_mot
from celltrace.synth import synthetic_movie


@pytest.mark.parametrize("dataset", DATASETS)
def test_real_gt_round_trip_keeps_lineage_and_boxes(dataset, tmp_path):
    gt = read_ctc(ctc_gt(dataset))
    path = write_mot(gt, tmp_path / "gt.txt")
    back = read_mot(path, frame_shape=gt.shape[1:])
    assert back.shape == gt.shape
    assert back.lineage.equals(gt.lineage)
    rows = mot_rows(gt).sort_values(["frame", "id"]).reset_index(drop=True)
    pts = back.points
    assert np.array_equal(pts["frame"] + 1, rows["frame"]) and np.array_equal(pts["label"], rows["id"])
    for ours, theirs in (("box_left", "x"), ("box_top", "y"), ("box_w", "w"), ("box_h", "h")):
        assert np.array_equal(pts[ours], rows[theirs])
    # boxes drawn as masks: every label in exactly its frames (CTC rules) on a window of frames
    assert back.window(0, 8).problems() == []


def test_file_layout_is_motchallenge_with_trailing_parent(tmp_path):
    _, gt = synthetic_movie(n_frames=12, shape=(96, 96), n_cells=4, seed=0)
    assert len(gt.divisions()), "the synthetic movie should divide"
    path = write_mot(gt, tmp_path / "res.txt", scores={(0, int(gt.lineage["label"][0])): 0.25})
    lines = path.read_text().splitlines()
    first = lines[0].split(",")
    assert len(first) == 11 and first[0] == "1" and first[7:10] == ["-1", "-1", "-1"]
    assert first[6] == ("0.25" if int(first[1]) == int(gt.lineage["label"][0]) else "1")
    frames = [int(line.split(",")[0]) for line in lines]
    assert frames == sorted(frames) and min(frames) == 1 and max(frames) == gt.n_frames
    mothers = {int(line.split(",")[10]) for line in lines} - {0}
    assert mothers == set(gt.divisions()["parent"])
    back = read_mot(path, frame_shape=gt.shape[1:])
    assert back.lineage.equals(gt.lineage)
    assert back.meta["mot_scores"][(0, int(gt.lineage["label"][0]))] == 0.25
    assert write_mot(back, tmp_path / "again.txt").read_text() != ""   # scores carried in meta
    assert back.validate() is back


def test_plain_mot_without_parents_splits_gaps_and_reads_seqinfo(tmp_path):
    seq = tmp_path / "CTMC-01"
    (seq / "gt").mkdir(parents=True)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=CTMC-01\nseqLength=5\nimWidth=40\nimHeight=30\n")
    # MOT17 ground-truth layout (9 columns); track 7 is occluded in frame 3
    rows = ["1,7,2,3,5,4,1,1,1", "2,7,3,3,5,4,1,1,1", "4,7,5,3,5,4,1,1,1",
            "1,9,20,10,6,6,1,1,1", "2,9,21,10,6,6,1,1,1"]
    (seq / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    tr = read_mot(seq / "gt" / "gt.txt")
    assert tr.shape == (5, 30, 40)
    lin = tr.lineage.set_index("label")
    assert lin.loc[7, ["begin", "end", "parent"]].tolist() == [0, 1, 0]
    assert lin.loc[10, ["begin", "end", "parent"]].tolist() == [3, 3, 7]   # the segment after the gap
    assert lin.loc[9, ["begin", "end", "parent"]].tolist() == [0, 1, 0]
    assert tr.validate() is tr
    frame = tr.masks[0]
    assert (frame[3:7, 2:7] == 7).all() and (frame[10:16, 20:26] == 9).all()
    assert (frame == 7).sum() == 20


def test_whitespace_separated_and_overlapping_boxes_keep_every_label(tmp_path):
    path = tmp_path / "det.txt"
    # a small box inside a big one, and two boxes with the same centre: all three stay visible
    path.write_text("1 1 0 0 20 20 1 -1 -1 -1\n1 2 5 5 4 4 1 -1 -1 -1\n1 3 5 5 4 4 1 -1 -1 -1\n")
    tr = read_mot(path)
    assert set(np.unique(tr.masks[0])) == {0, 1, 2, 3} - ({0} if tr.masks[0].min() else set())
    assert tr.validate() is tr


@pytest.mark.parametrize("text, says", [
    ("1,2,3\n", "line 1: expected at least 6 values"),
    ("1,1,0,0,4,4\n1,1,0,0,4\n", "line 2"),
    ("0,1,0,0,4,4\n", "MOT frames start at 1"),
    ("1,-1,0,0,4,4\n", "rows without a track id"),
    ("1,1,0,0,0,4\n", "width or height"),
    ("1,1,a,0,4,4\n", "line 1: not numbers"),
    ("1,1,0,0,4,4\n1,1,3,0,4,4\n", "track 1 has two cells in frame 0"),
    ("1,1,0,0,4,4,1,-1,-1,-1,0\n2,2,0,0,4,4,1,-1,-1,-1,1\n2,2,0,0,4,4,1,-1,-1,-1,3\n", "two parents"),
])
def test_bad_files_give_one_line_naming_the_file(tmp_path, text, says):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_mot(path)
    assert says in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)
