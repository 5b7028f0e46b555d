"""Frame order from file names: numeric, not alphabetical; ambiguous names refused in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from celltrace import InputError, Tracking, open_movie
from celltrace.cli import main
from celltrace.io.names import frame_order
from conftest import ctc_gt, ctc_sequence

SIM = "Fluo-N2DH-SIM+"


def _copy_unpadded(tmp_path: Path, stem: str, n: int = 12) -> Path:
    """The first ``n`` real frames of SIM+ 02 as ``<stem>0.tif`` … ``<stem>{n-1}.tif``."""
    folder = tmp_path / f"{stem}_frames"
    folder.mkdir()
    for t in range(n):
        shutil.copy(ctc_sequence(SIM) / f"t{t:03d}.tif", folder / f"{stem}{t}.tif")
    return folder


@pytest.mark.parametrize("stem", ["frame", "t"])  # a folder of images, and an unpadded CTC sequence
def test_unpadded_names_are_read_in_numeric_order(tmp_path, stem):
    folder = _copy_unpadded(tmp_path, stem)
    movie = open_movie(folder)
    assert len(movie) == 12
    for k in range(12):
        np.testing.assert_array_equal(movie[k], tifffile.imread(ctc_sequence(SIM) / f"t{k:03d}.tif"))


def test_unpadded_mask_names_are_linked_in_numeric_order(tmp_path, capsys):
    gt = Tracking.from_ctc(ctc_gt(SIM))
    masks = tmp_path / "masks"
    masks.mkdir()
    for t in range(12):
        tifffile.imwrite(masks / f"seg{t}.tif", np.asarray(gt.masks[t]))
    movie = _copy_unpadded(tmp_path, "frame")
    code = main(["track", str(movie), "--masks", str(masks), "--method", "classic", "--out", str(tmp_path / "R"), "-q"])
    assert code == 0, capsys.readouterr().err
    res = Tracking.from_ctc(tmp_path / "R")
    for t in range(12):
        np.testing.assert_array_equal(np.asarray(res.masks[t]) > 0, np.asarray(gt.masks[t]) > 0)


@pytest.mark.parametrize("names, problem", [
    (["t1.tif", "t01.tif", "t2.tif"], "both have frame number 1"),
    (["a1.tif", "b1.tif"], "differ in more than a frame number"),
    (["img1.tif", "img2.tif", "mask3.tif"], "differ in more than a frame number"),
    (["s1_t1.tif", "s2_t2.tif"], "more than one number changes"),
    (["a.tif", "b.tif"], "differ in more than a frame number"),
    (["frame1.tif", "frame1.tiff"], "both have frame number 1"),
])
def test_ambiguous_names_are_refused_in_one_line(tmp_path, capsys, names, problem):
    frame = tifffile.imread(ctc_sequence(SIM) / "t000.tif")
    folder = tmp_path / "movie"
    folder.mkdir()
    for name in names:
        tifffile.imwrite(folder / name, frame)
    with pytest.raises(InputError, match=problem) as err:
        open_movie(folder)
    assert err.value.path == folder
    code = main(["info", str(folder)])
    err_text = capsys.readouterr().err
    assert code == 2 and err_text.count("\n") == 1
    assert err_text.startswith(f"celltrace: error: {folder}: cannot tell the frame order")


def test_frame_order_keeps_text_and_single_files():
    names = [Path(f"exp3_frame{t}.png") for t in (10, 2, 0, 1, 100)]
    assert [t for t, _ in frame_order("x", names)] == [0, 1, 2, 10, 100]
    assert [p.name for _, p in frame_order("x", names)][:3] == ["exp3_frame0.png", "exp3_frame1.png", "exp3_frame2.png"]
    assert frame_order("x", [Path("movie.tif")]) == [(0, Path("movie.tif"))]
    assert frame_order("x", []) == []
