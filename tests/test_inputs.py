"""Trust on any input: NaN/inf pixels, bad label images, bad --param values and damaged TIFFs are
repaired with one warning line or refused with one error line (exit code 2), never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from celltrace import InputError, Tracking
from celltrace.cli import main
from celltrace.errors import CelltraceWarning
from celltrace.movie import Movie
from conftest import REPO, ctc_gt, ctc_sequence

SIM = "Fluo-N2DH-SIM+"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def real_stack(n: int = 12) -> np.ndarray:
    """The first ``n`` frames of SIM+ 02 as float32."""
    return np.stack([tifffile.imread(ctc_sequence(SIM) / f"t{t:03d}.tif") for t in range(n)]).astype(np.float32)


# ---------------------------------------------------------------------- damaged TIFFs
def _cli(*argv: str) -> subprocess.CompletedProcess:
    """The installed command in a fresh process: its stderr is what a user sees (no pytest log capture)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "celltrace.cli", *argv], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("how", ["ctc-file", "rewritten"])
def test_truncated_tiff_gives_exactly_one_line(tmp_path, how):
    seq = tmp_path / "seq"
    seq.mkdir()
    for t in range(3):
        shutil.copy(ctc_sequence(SIM) / f"t{t:03d}.tif", seq / f"t{t:03d}.tif")
    damaged = seq / "t001.tif"
    if how == "rewritten":  # pixel data after the header: the header alone reads fine
        frame = tifffile.imread(damaged)
        damaged.unlink()
        tifffile.imwrite(damaged, frame, compression="zlib")
    raw = damaged.read_bytes()
    damaged.unlink()  # the copies are read-only, like the originals
    damaged.write_bytes(raw[: len(raw) // 2])
    for argv in (["info", str(seq)], ["track", str(seq), "--method", "classic", "--out", str(tmp_path / "R")]):
        proc = _cli(*argv)
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith(f"celltrace: error: {damaged}: ")
        assert ("truncated TIFF" if how == "rewritten" else "damaged or truncated file?") in proc.stderr
    assert not (tmp_path / "R").exists()


# ---------------------------------------------------------------------- NaN / inf pixels
def test_nan_and_inf_patches_are_filled_and_reported_once(tmp_path, capsys):
    clean = real_stack()
    patchy = clean.copy()
    patchy[2, 300:360, 200:260] = np.nan
    patchy[5, 40:100, 500:560] = np.nan
    patchy[7, 100:140, 300:360] = np.inf
    patchy[7, 500:520, 10:40] = -np.inf
    patchy[9][np.random.default_rng(0).random(patchy[9].shape) < 0.01] = np.nan  # scattered pixels
    tifffile.imwrite(tmp_path / "clean.tif", clean, photometric="minisblack")
    tifffile.imwrite(tmp_path / "patchy.tif", patchy, photometric="minisblack")
    code, _, err = run(capsys, "track", str(tmp_path / "clean.tif"), "--method", "classic", "--out", str(tmp_path / "C"), "-q")
    assert code == 0 and err == ""
    code, _, err = run(capsys, "track", str(tmp_path / "patchy.tif"), "--method", "classic", "--out", str(tmp_path / "P"), "-q")
    assert code == 0, err
    n_clean, n_patchy = Tracking.from_ctc(tmp_path / "C").n_tracks, Tracking.from_ctc(tmp_path / "P").n_tracks
    assert n_clean > 0 and abs(n_patchy - n_clean) <= 1  # unrepaired, the patches made 13 tracks of 8
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"celltrace: warning: {tmp_path / 'patchy.tif'}: NaN/inf")
    n9 = int(np.isnan(patchy[9]).sum())
    for part in ("4 frame(s)", "frame 2: 3600 px", "frame 5: 3600 px", "frame 7: 3000 px", f"frame 9: {n9} px"):
        assert part in lines[0]


def test_all_nan_movie_is_refused_in_one_line(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "nan.tif", np.full_like(real_stack(3), np.nan), photometric="minisblack")
    for method in ("classic", "caliban"):
        code, _, err = run(capsys, "track", str(tmp_path / "nan.tif"), "--method", method, "--out", str(tmp_path / "R"), "-q")
        assert code == 2 and err.count("\n") == 1
        assert err == f"celltrace: error: {tmp_path / 'nan.tif'}: frame 0: every pixel is NaN or infinite; nothing to track\n"
        assert not (tmp_path / "R").exists()
    # in a folder of frames, the error names the frame's file
    folder = tmp_path / "frames"
    folder.mkdir()
    stack = real_stack(4)
    stack[2] = np.inf
    for t, f in enumerate(stack):
        tifffile.imwrite(folder / f"frame{t}.tif", f)
    code, _, err = run(capsys, "track", str(folder), "--method", "classic", "--out", str(tmp_path / "R"), "-q")
    assert code == 2 and err == f"celltrace: error: {folder / 'frame2.tif'}: frame 2: every pixel is NaN or infinite; nothing to track\n"


def test_movie_frames_are_finite_for_every_reader():
    stack = real_stack(3)
    stack[1, :10, :10] = np.nan
    before = stack.copy()
    movie = Movie(frames=stack)
    frame = movie[1]
    assert np.isfinite(frame).all() and np.all(frame[:10, :10] == np.median(before[1][np.isfinite(before[1])]))
    assert np.isfinite(np.asarray(movie.frames[0:3])).all()  # also through .frames, as caliban's linker reads it
    np.testing.assert_array_equal(stack, before)  # the caller's array is untouched
    assert movie.nonfinite == {1: 100}
    with pytest.warns(CelltraceWarning, match=r"frame 1: 100 px"):
        movie.warn_nonfinite()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        movie.warn_nonfinite()  # once


def test_convert_keeps_nan_pixels(tmp_path, capsys):
    stack = real_stack(2)
    stack[1, 5:9, 5:9] = np.nan
    tifffile.imwrite(tmp_path / "m.tif", stack, photometric="minisblack")
    code, _, err = run(capsys, "convert", str(tmp_path / "m.tif"), str(tmp_path / "back.tif"), "--to", "tiff", "-q")
    assert code == 0 and err == ""
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "back.tif"), stack)  # NaN == NaN here


# ---------------------------------------------------------------------- label images
def _masks_and_movie(tmp_path: Path, n: int = 6) -> tuple[Path, Path, list[np.ndarray]]:
    gt = Tracking.from_ctc(ctc_gt(SIM))
    seq = tmp_path / "seq"
    seq.mkdir()
    for t in range(n):
        shutil.copy(ctc_sequence(SIM) / f"t{t:03d}.tif", seq / f"t{t:03d}.tif")
    masks = tmp_path / "masks"
    masks.mkdir()
    return seq, masks, [np.asarray(gt.masks[t]).astype(np.int32) for t in range(n)]


def test_negative_labels_are_refused_naming_the_mask_file(tmp_path, capsys):
    seq, masks, frames = _masks_and_movie(tmp_path)
    frames[3] = np.where(frames[3] == frames[3].max(), -5, frames[3])
    for t, f in enumerate(frames):
        tifffile.imwrite(masks / f"seg_{t:03d}.tif", f)
    code, _, err = run(capsys, "track", str(seq), "--masks", str(masks), "--method", "classic", "--out", str(tmp_path / "R"), "-q")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"celltrace: error: {masks / 'seg_003.tif'}: label image 3 holds negative labels")
    assert not (tmp_path / "R").exists()


def test_float_masks_need_whole_numbers(tmp_path, capsys):
    seq, masks, frames = _masks_and_movie(tmp_path)
    for t, f in enumerate(frames):  # float32 label images holding whole numbers: linked as integers
        tifffile.imwrite(masks / f"seg_{t:03d}.tif", f.astype(np.float32))
    code, _, err = run(capsys, "track", str(seq), "--masks", str(masks), "--method", "classic", "--out", str(tmp_path / "R"), "-q")
    assert code == 0, err
    res = Tracking.from_ctc(tmp_path / "R")
    for t, f in enumerate(frames):
        np.testing.assert_array_equal(np.asarray(res.masks[t]) > 0, f > 0)
    bad = frames[4].astype(np.float32)
    bad[bad == bad.max()] = 2.5
    tifffile.imwrite(masks / "seg_004.tif", bad)
    code, _, err = run(capsys, "track", str(seq), "--masks", str(masks), "--method", "classic", "--out", str(tmp_path / "R2"), "-q")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"celltrace: error: {masks / 'seg_004.tif'}: label image 4 holds non-integer values (e.g. 2.5)")
    bad[0, 0] = np.nan  # NaN is not a label either, and is not "repaired" like a movie's pixels
    bad[bad == 2.5] = 1
    tifffile.imwrite(masks / "seg_004.tif", bad)
    code, _, err = run(capsys, "track", str(seq), "--masks", str(masks), "--method", "classic", "--out", str(tmp_path / "R2"), "-q")
    assert code == 2 and "seg_004.tif: label image 4 holds non-integer values (e.g. nan)" in err


def test_label_arrays_are_checked_in_the_python_api():
    import celltrace

    stack = real_stack(3)
    masks = np.zeros(stack.shape, np.int16)
    masks[1, 10:20, 10:20] = -1
    with pytest.raises(InputError, match=r"^masks: label image 1 holds negative labels"):
        celltrace.track(stack, method="classic", masks=masks, progress=False)


# ---------------------------------------------------------------------- --param values
@pytest.mark.parametrize("method, param, expected", [
    ("classic", "cell_radius=abc", "--param cell_radius: expected a positive number or null, got 'abc'"),
    ("classic", "cell_radius=NaN", "--param cell_radius: expected a positive number or null, got nan"),
    ("classic", "cell_radius=-3", "--param cell_radius: expected a positive number or null, got -3"),
    ("classic", "radius_frames=1.5", "--param radius_frames: expected an integer ≥ 1, got 1.5"),
    ("classic", "max_gap=Infinity", "--param max_gap: expected a non-negative integer, got inf"),
    ("classic", "divisions=maybe", "--param divisions: expected true or false, got 'maybe'"),
    ("classic", "threshold_method=best", "--param threshold_method: expected one of otsu, li, triangle, mean, got 'best'"),
    ("caliban", "cell_radius=abc", "--param cell_radius: expected a positive number or null, got 'abc'"),
    ("caliban", "percentiles=[1, 99, 5]", "--param percentiles: expected 2 values, each a number in [0, 100], got [1, 99, 5]"),
    ("caliban", "division_probability=2", "--param division_probability: expected a number in [0, 1], got 2"),
    ("embedtrack", "seed_threshold=NaN", "--param seed_threshold: expected a number in [0, 1], got nan"),
])
def test_bad_param_values_are_one_line(tmp_path, capsys, method, param, expected):
    movie = tmp_path / "m.tif"
    tifffile.imwrite(movie, real_stack(2), photometric="minisblack")
    code, _, err = run(capsys, "track", str(movie), "--method", method, "--param", param, "--out", str(tmp_path / "R"), "-q")
    assert (code, err) == (2, f"celltrace: error: {expected}\n")


def test_good_param_values_still_work(tmp_path, capsys):
    seq = tmp_path / "seq"
    seq.mkdir()
    for t in range(4):
        shutil.copy(ctc_sequence(SIM) / f"t{t:03d}.tif", seq / f"t{t:03d}.tif")
    code, _, err = run(capsys, "track", str(seq), "--method", "classic", "--param", "cell_radius=12",
                       "--param", "max_gap=1.0", "--param", "threshold_method=otsu", "--out", str(tmp_path / "R"), "-q")
    assert code == 0, err
    assert Tracking.from_ctc(tmp_path / "R").n_tracks > 0
