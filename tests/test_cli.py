"""The celltrace command: every subcommand on real or synthetic data; bad input → one line, exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import tifffile

from celltrace import Tracking
from celltrace.cli import main
from conftest import ctc_gt, ctc_sequence


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_info_on_real_gt_and_movie(capsys):
    code, out, _ = run(capsys, "info", str(ctc_gt("Fluo-N2DH-GOWT1")))
    assert code == 0
    assert "frames     92" in out and "tracks     50" in out and "divisions  1" in out and "valid" in out
    code, out, _ = run(capsys, "info", str(ctc_sequence("Fluo-C2DL-MSC")))
    assert code == 0 and "frames     48" in out and "782 × 1200" in out and "uint16" in out
    assert "pixel size unknown (give --pixel-size)" in out and "interval   unknown (give --interval)" in out


def test_bad_input_is_one_line_without_traceback(tmp_path, capsys):
    code, out, err = run(capsys, "info", str(tmp_path / "nope"))
    assert code == 2 and err.strip().count("\n") == 0 and "nope: no such file or folder" in err
    bad = tmp_path / "seq"
    bad.mkdir()
    (bad / "t000.tif").write_bytes(b"garbage")
    code, _, err = run(capsys, "track", str(bad), "--out", str(tmp_path / "r"), "--quiet")
    assert code == 2 and "t000.tif: not a readable TIFF" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()
    exists = tmp_path / "exists"
    exists.mkdir()
    code, _, err = run(capsys, "track", str(ctc_sequence("Fluo-C2DL-MSC")), "--out", str(exists), "--quiet")
    assert code == 2 and "already exists" in err and "--overwrite" in err


def test_convert_gt_to_every_track_format(tmp_path, capsys):
    src = ctc_gt("Fluo-C2DL-MSC")
    for to, name in [("ctc-res", "res"), ("ctc-gt", "gt"), ("csv", "cells.csv"), ("geff", "g.geff"), ("napari", "t.npz")]:
        code, _, err = run(capsys, "convert", str(src), str(tmp_path / name), "--to", to, "-q")
        assert code == 0, err
    a, b = Tracking.from_ctc(src), Tracking.from_ctc(tmp_path / "res")
    assert a.lineage.equals(b.lineage)
    assert Tracking.from_ctc(tmp_path / "gt").lineage.equals(a.lineage)
    npz = np.load(tmp_path / "t.npz")
    assert npz["data"].shape[1] == 4
    code, _, err = run(capsys, "convert", str(src), str(tmp_path / "res"), "--to", "ctc-res")
    assert code == 2 and "already exists" in err


def test_convert_movie_tiff_and_ctc_sequence(tmp_path, capsys):
    stack = np.random.default_rng(0).integers(0, 60000, (5, 16, 24), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "m.tif", stack, photometric="minisblack")
    assert run(capsys, "convert", str(tmp_path / "m.tif"), str(tmp_path / "seq"), "--to", "ctc-seq", "-q")[0] == 0
    assert sorted(p.name for p in (tmp_path / "seq").iterdir())[:2] == ["t000.tif", "t001.tif"]
    assert run(capsys, "convert", str(tmp_path / "seq"), str(tmp_path / "back.tif"), "--to", "tiff", "-q")[0] == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "back.tif"), stack)


def test_track_classic_on_real_sequence_subset(tmp_path, capsys):
    # the first 12 frames of MSC 02, as a sequence the project has never seen in this form
    seq = tmp_path / "MSC12"
    seq.mkdir()
    for t in range(12):
        shutil.copy(ctc_sequence("Fluo-C2DL-MSC") / f"t{t:03d}.tif", seq / f"t{t:03d}.tif")
    code, out, err = run(capsys, "track", str(seq), "--method", "classic", "--out", str(tmp_path / "R"), "-q")
    assert code == 0, err
    res = Tracking.from_ctc(tmp_path / "R").validate()
    assert res.n_frames == 12 and res.n_tracks > 0
    assert (tmp_path / "R" / "cells.csv").exists()


def test_track_links_user_masks_without_changing_them(tmp_path, capsys):
    gt = Tracking.from_ctc(ctc_gt("Fluo-N2DH-SIM+"))
    masks = tmp_path / "masks"
    masks.mkdir()
    for t in range(10):
        tifffile.imwrite(masks / f"seg_{t:03d}.tif", np.asarray(gt.masks[t]))
    seq = tmp_path / "seq"
    seq.mkdir()
    for t in range(10):
        shutil.copy(ctc_sequence("Fluo-N2DH-SIM+") / f"t{t:03d}.tif", seq / f"t{t:03d}.tif")
    before = {p.name: p.read_bytes() for p in masks.iterdir()}
    code, _, err = run(capsys, "track", str(seq), "--masks", str(masks), "--out", str(tmp_path / "R"), "-q")
    assert code == 0, err
    assert {p.name: p.read_bytes() for p in masks.iterdir()} == before  # the user's files untouched
    res = Tracking.from_ctc(tmp_path / "R").validate()
    for t in range(10):
        np.testing.assert_array_equal(np.asarray(res.masks[t]) > 0, np.asarray(gt.masks[t]) > 0)
    # wrong number of masks
    (masks / "seg_009.tif").unlink()
    code, _, err = run(capsys, "track", str(seq), "--masks", str(masks), "--out", str(tmp_path / "R2"), "-q")
    assert code == 2 and "9 label images for a movie of 10 frames" in err


def test_demo_and_installed_entry_point(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "celltrace.cli", "demo", "--out", str(out), "--frames", "12",
                           "--size", "128", "--cells", "8", "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (out / "movie.tif").exists() and (out / "cells.csv").exists()
    Tracking.from_ctc(out / "GT").validate()
    Tracking.from_ctc(out / "RES").validate()
    scores = json.loads((out / "scores.json").read_text())
    assert 0.0 <= scores["TRA"] <= 1.0
    # the report shows the same scores (computed once, not re-evaluated)
    assert json.loads((out / "report" / "metrics.json").read_text())["TRA"] == scores["TRA"]
    proc = subprocess.run([sys.executable, "-m", "celltrace.cli", "demo", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2 and "already exists" in proc.stderr


def _one_error_line(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("celltrace: error: "), (code, err)
    return lines[0]


def test_evaluate_options_and_broken_folders_are_one_line(tmp_path, capsys):
    from celltrace.io.ctc import write_ctc

    six = Tracking.from_ctc(ctc_gt("Fluo-N2DH-SIM+")).window(0, 6)
    gt, res = write_ctc(six, tmp_path / "GT", kind="gt"), write_ctc(six, tmp_path / "RES")
    code, out, err = run(capsys, "evaluate", "--pred", str(res), "--gt", str(gt), "--frames", "2:5")
    assert code == 0, err
    assert [ln.split()[1] for ln in out.splitlines() if ln.startswith("TRA ")] == ["1.0000"]
    line = _one_error_line(*run(capsys, "evaluate", "--pred", str(res), "--gt", str(gt), "--metrics", "bogus")[::2])
    assert "unknown metric 'bogus'" in line and "ctc, bio, mot, divisions, lineage, segmentation" in line
    line = _one_error_line(*run(capsys, "evaluate", "--pred", str(res), "--gt", str(gt), "--frames", "4:2")[::2])
    assert "frames 4:2" in line
    track = gt / "TRA" / "man_track.txt"
    good = track.read_text()
    track.write_text(good + f"{2**63} 0 1 0\n")
    for argv in (["evaluate", "--pred", str(res), "--gt", str(gt)], ["info", str(gt)]):
        line = _one_error_line(*run(capsys, *argv)[::2])
        assert "man_track.txt: line" in line and "exceeds 4294967295" in line
    first, rest = good.split("\n", 1)
    assert first == "1 0 5 0"
    track.write_text("1 0 5 1\n" + rest)                # label 1 its own parent
    line = _one_error_line(*run(capsys, "evaluate", "--pred", str(res), "--gt", str(gt))[::2])
    assert str(gt) in line and "label 1 is its own parent" in line


def test_evaluate_against_segmentation_only_truth(tmp_path, capsys):
    from conftest import extra

    st = extra("PhC-C2DL-PSC") / "02_ST"
    masks = np.stack([tifffile.imread(st / "SEG" / f"man_seg{t:03d}.tif") for t in range(2)]).astype(np.uint32)
    masks[1][masks[1] > 0] += 1000                      # each frame's objects: one-frame tracks
    labels = [(int(lab), t, t, 0) for t in range(2) for lab in np.unique(masks[t])[1:]]
    from celltrace.io.ctc import write_ctc

    res = write_ctc(Tracking(masks, labels), tmp_path / "RES")
    code, out, err = run(capsys, "evaluate", "--pred", str(res), "--gt", str(st), "--frames", "0:2")
    assert code == 0, err
    rows = {ln.split()[0]: ln.split()[1] for ln in out.splitlines()[2:]}
    assert rows["SEG"] == rows["DET_F1"] == rows["DET_precision"] == "1.0000" and "TRA" not in rows
    line = _one_error_line(*run(capsys, "evaluate", "--pred", str(res), "--gt", str(st))[::2])
    assert "man_seg002.tif: SEG frame beyond the 2 frames" in line
