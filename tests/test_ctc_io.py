"""CTC folders: round trip of the real GT, the CTC rules, and every kind of corrupted input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

from celltrace import InputError, Tracking, TrackingError
from celltrace.errors import OutputExistsError
from celltrace.io.ctc import read_ctc, read_lineage, write_ctc
from celltrace.tracking import make_lineage
from conftest import DATASETS, ctc_gt


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("kind", ["res", "gt"])
def test_real_gt_round_trip(dataset, kind, tmp_path):
    gt = Tracking.from_ctc(ctc_gt(dataset))
    assert gt.validate() is gt
    out = gt.to_ctc(tmp_path / "out", kind=kind)
    back = Tracking.from_ctc(out)
    back.validate()
    pd.testing.assert_frame_equal(back.lineage, gt.lineage)
    assert back.shape == gt.shape
    for t in range(gt.n_frames):
        np.testing.assert_array_equal(back.masks[t], gt.masks[t])
    raw = read_lineage(ctc_gt(dataset) / "TRA" / "man_track.txt")
    pd.testing.assert_frame_equal(raw, gt.lineage)


def test_real_gt_facts():
    sim = Tracking.from_ctc(ctc_gt("Fluo-N2DH-SIM+"))
    assert (sim.n_frames, sim.n_tracks, len(sim.divisions())) == (150, 107, 44)
    gowt1 = Tracking.from_ctc(ctc_gt("Fluo-N2DH-GOWT1") / "TRA")  # the TRA folder itself also opens
    div = gowt1.divisions()
    assert len(div) == 1 and div.iloc[0].parent == 22 and div.iloc[0].daughters == (24, 25)
    assert div.iloc[0].frame == 83


@pytest.fixture()
def sim_copy(tmp_path) -> Path:
    """A writable copy of the SIM+ 02 TRA ground truth."""
    dst = tmp_path / "GT" / "TRA"
    shutil.copytree(ctc_gt("Fluo-N2DH-SIM+") / "TRA", dst)
    return dst


def _edit_lineage(tra: Path, fn) -> None:
    lines = (tra / "man_track.txt").read_text().splitlines()
    (tra / "man_track.txt").write_text("\n".join(fn(lines)) + "\n")


def test_corrupt_masks_are_rejected_with_the_file_named(sim_copy):
    (sim_copy / "man_track007.tif").unlink()
    with pytest.raises(InputError, match=r"mask files missing for frames \[7\]"):
        read_ctc(sim_copy.parent)


def test_truncated_mask(sim_copy):
    f = sim_copy / "man_track010.tif"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(InputError, match=r"man_track010\.tif"):
        read_ctc(sim_copy.parent)


def test_mask_of_other_shape_or_rgb_or_float(sim_copy):
    tifffile.imwrite(sim_copy / "man_track011.tif", np.zeros((10, 10), np.uint16))
    with pytest.raises(InputError, match=r"man_track011\.tif: mask of shape \(10, 10\) differs"):
        read_ctc(sim_copy.parent)
    tifffile.imwrite(sim_copy / "man_track011.tif", np.zeros((773, 739, 3), np.uint8), photometric="rgb")
    with pytest.raises(InputError, match=r"man_track011\.tif: RGB"):
        read_ctc(sim_copy.parent)
    tifffile.imwrite(sim_copy / "man_track011.tif", np.zeros((773, 739), np.float32))
    with pytest.raises(InputError, match=r"man_track011\.tif: mask of dtype float32"):
        read_ctc(sim_copy.parent)


@pytest.mark.parametrize("edit, message", [
    (lambda ls: ls + ["1 2 3"], r"man_track\.txt: line 108: expected 4 integers"),
    (lambda ls: ls + ["a b c d"], r"man_track\.txt: line 108: expected 4 integers"),
    (lambda ls: ls + ["200 -1 3 0"], r"man_track\.txt: line 108: negative"),
])
def test_malformed_lineage_file(sim_copy, edit, message):
    _edit_lineage(sim_copy, edit)
    with pytest.raises(InputError, match=message):
        read_ctc(sim_copy.parent)


def test_missing_lineage_file(sim_copy):
    (sim_copy / "man_track.txt").unlink()
    with pytest.raises(InputError, match=r"man_track\.txt: lineage file not found"):
        read_ctc(sim_copy.parent)


@pytest.mark.parametrize("edit, message", [
    # label 3 lives in frames 0..14 and has no children; claim 0..20: it is missing from frame 15
    (lambda ls: [ln if not ln.startswith("3 ") else "3 0 20 0" for ln in ls],
     r"frame 15 \(man_track015\.tif\): label 3 is missing"),
    # claim 0..20: present in frame 21 outside its span
    (lambda ls: ["1 0 20 0"] + ls[1:], r"frame 21 \(man_track021\.tif\): label 1 is present but"),
    # drop label 3 entirely: in masks but not listed
    (lambda ls: [ln for ln in ls if not ln.startswith("3 ")], r"frame 0 \(man_track000\.tif\): label 3 is not listed"),
    # duplicate line
    (lambda ls: ls + [ls[0]], r"label 1 is listed more than once"),
    # end before begin
    (lambda ls: ["1 27 0 0"] + ls[1:], r"label 1 ends \(frame 0\) before it begins"),
    # unknown parent
    (lambda ls: ["1 0 27 999"] + ls[1:], r"label 1 has parent 999, which is not listed"),
    # a child that begins before its parent ends: label 17 (begins 28) given parent 4 (ends 46... )
    (lambda ls: [ln if not ln.startswith("17 ") else "17 28 " + ln.split()[2] + " 4" for ln in ls],
     r"label 17 begins at frame 28 but its parent 4 ends"),
])
def test_lineage_breaking_ctc_rules(sim_copy, edit, message):
    _edit_lineage(sim_copy, edit)
    tr = read_ctc(sim_copy.parent)
    found = tr.problems(max_problems=100)
    assert any(re.search(message, p) for p in found), found[:3]
    with pytest.raises(TrackingError, match=r"man_track"):
        tr.validate()


def test_ctc_rules_on_constructed_tracking():
    masks = np.zeros((3, 8, 8), np.uint16)
    masks[0, 1:3, 1:3] = 1
    masks[1, 1:3, 1:3] = 2
    masks[1, 5:7, 5:7] = 3
    masks[2, 5:7, 5:7] = 3
    ok = Tracking(masks, make_lineage([(1, 0, 0, 0), (2, 1, 1, 1), (3, 1, 2, 1)]))
    ok.validate()
    assert list(ok.divisions().parent) == [1]
    bad = Tracking(masks, make_lineage([(1, 0, 0, 0), (2, 1, 1, 1), (3, 0, 2, 1)]))
    with pytest.raises(TrackingError, match="label 3 begins at frame 0 but its parent 1 ends at frame 0"):
        bad.validate()
    zero = Tracking(masks, make_lineage([(0, 0, 0, 0), (2, 1, 1, 0), (3, 1, 2, 0)]))
    with pytest.raises(TrackingError, match="label 0 is < 1"):
        zero.validate()


def test_existing_output_is_refused_and_nothing_half_written(tmp_path):
    gt = Tracking.from_ctc(ctc_gt("Fluo-C2DL-MSC"))
    out = tmp_path / "res"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        gt.to_ctc(out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]

    class Boom(Exception):
        pass

    def exploding(t):
        if t == 5:
            raise Boom()
        return np.asarray(gt.masks[t])

    from celltrace.frames import LazyFrames
    broken = Tracking(LazyFrames(gt.n_frames, gt.shape[1:], gt.masks.dtype, exploding), gt.lineage)
    with pytest.raises(Boom):
        write_ctc(broken, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]  # no temporary folder left behind
    write_ctc(gt, out, overwrite=True)
    assert (out / "res_track.txt").exists() and not (out / "keep.txt").exists()


@pytest.mark.parametrize("line", ["200 0 3 9223372036854775808", "1099511627776 0 3 0", "200 0 100000000000000000000 0",
                                  "18446744073709551617 0 1 0"])
def test_lineage_values_beyond_uint32_are_refused(sim_copy, line):
    _edit_lineage(sim_copy, lambda ls: ls + [line])
    with pytest.raises(InputError, match=r"man_track\.txt: line 108: value \d+ exceeds 4294967295"):
        read_ctc(sim_copy.parent)


@pytest.mark.parametrize("parents, message", [
    ({"3": "3"}, r"label 3 is its own parent"),
    ({"3": "17", "17": "3"}, r"parent cycle: label 3's parent is 17, whose parent is 3"),
    ({"3": "17", "17": "21", "21": "3"}, r"parent cycle: label 3's parent is 17, whose parent is 21, whose parent is 3"),
])
def test_parent_cycles_are_named(sim_copy, parents, message):
    def edit(ls):
        out = []
        for ln in ls:
            lab, b, e, p = ln.split()
            out.append(f"{lab} {b} {e} {parents.get(lab, p)}")
        return out

    _edit_lineage(sim_copy, edit)
    found = read_ctc(sim_copy.parent).problems(max_problems=100)
    assert any(re.search(message, p) for p in found), found[:3]


def test_a_frame_of_another_dtype_keeps_its_labels(sim_copy):
    # frame 0 is uint16; a negative label in an int16 frame must not wrap to 65535, nor a uint64
    # label be cut to 16 bits
    m = tifffile.imread(sim_copy / "man_track004.tif").astype(np.int16)
    m[m == 3] = -1
    tifffile.imwrite(sim_copy / "man_track004.tif", m)
    m = tifffile.imread(sim_copy / "man_track006.tif").astype(np.uint64)
    m[:2, :2] = 2**40 + 3
    tifffile.imwrite(sim_copy / "man_track006.tif", m)
    tr = read_ctc(sim_copy.parent)
    found = tr.problems(max_problems=100)
    assert any(re.search(r"frame 4 \(man_track004\.tif\): negative label -1", p) for p in found), found[:3]
    assert any(re.search(r"frame 6 \(man_track006\.tif\): label 1099511627779 exceeds 4294967295", p)
               for p in found), found[:3]


@pytest.mark.filterwarnings("ignore:.*zero-size array")
def test_zero_width_mask_is_refused(sim_copy):
    tifffile.imwrite(sim_copy / "man_track000.tif", np.zeros((773, 0), np.uint16))
    with pytest.raises(InputError, match=r"man_track000\.tif: image of shape \(773, 0\) has no pixels"):
        read_ctc(sim_copy.parent)


def test_seg_frames_are_checked_and_named(tmp_path):
    from celltrace.io.ctc import read_seg

    seg = tmp_path / "GT" / "SEG"
    seg.mkdir(parents=True)
    tifffile.imwrite(seg / "man_seg002.tif", np.ones((8, 9), np.uint16))
    assert set(read_seg(tmp_path / "GT", frame_shape=(8, 9), n_frames=3)) == {2}
    assert read_seg(tmp_path / "GT", frames=range(0, 2)) == {}
    with pytest.raises(InputError, match=r"man_seg002\.tif: SEG frame 2 is beyond the movie's 2 frames"):
        read_seg(tmp_path / "GT", n_frames=2)
    with pytest.raises(InputError, match=r"man_seg002\.tif: SEG frame of shape \(8, 9\); the movie's frames are \(9, 8\)"):
        read_seg(tmp_path / "GT", frame_shape=(9, 8))
    tifffile.imwrite(seg / "man_seg002.tif", -np.ones((8, 9), np.int16))
    with pytest.raises(InputError, match=r"man_seg002\.tif: negative label -1"):
        read_seg(tmp_path / "GT")
    tifffile.imwrite(seg / "man_seg002.tif", np.ones((8, 9), np.float32))
    with pytest.raises(InputError, match=r"man_seg002\.tif: labels of dtype float32"):
        read_seg(tmp_path / "GT")
