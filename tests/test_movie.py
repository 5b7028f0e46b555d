"""Movie opening: CTC folders, multi-page TIFFs, folders of images, zarr; lazy access; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from celltrace import InputError, open_movie
from celltrace.frames import LazyFrames
from conftest import DATASETS, ctc_sequence


@pytest.mark.parametrize("dataset", DATASETS)
def test_open_ctc_sequence_real(dataset):
    folder = ctc_sequence(dataset)
    movie = open_movie(folder)
    n = len(list(folder.glob("t*.tif")))
    assert len(movie) == n
    first = tifffile.imread(folder / "t000.tif")
    assert movie.frame_shape == first.shape and movie.dtype == first.dtype
    np.testing.assert_array_equal(movie[0], first)
    np.testing.assert_array_equal(movie[-1], tifffile.imread(sorted(folder.glob("t*.tif"))[-1]))
    assert isinstance(movie.frames, LazyFrames)  # nothing decoded up front


def test_four_digit_ctc_names_and_other_layouts(tmp_path):
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 4000, size=(4, 20, 30), dtype=np.uint16)
    seq = tmp_path / "seq"
    seq.mkdir()
    for t, f in enumerate(stack):
        tifffile.imwrite(seq / f"t{t:04d}.tif", f)
    np.testing.assert_array_equal(np.asarray(open_movie(seq).frames), stack)
    # multi-page TIFF
    tifffile.imwrite(tmp_path / "m.tif", stack, photometric="minisblack")
    m = open_movie(tmp_path / "m.tif")
    assert m.shape == (4, 20, 30)
    np.testing.assert_array_equal(m[2], stack[2])
    # folder of arbitrary image names, float frames
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for t, f in enumerate(stack.astype(np.float32)):
        tifffile.imwrite(imgs / f"frame_{t:02d}.tiff", f)
    m = open_movie(imgs)
    assert m.dtype == np.float32 and len(m) == 4
    np.testing.assert_array_equal(m[3], stack[3].astype(np.float32))
    # 8-bit, single 2D file = one-frame movie
    tifffile.imwrite(tmp_path / "one.tif", stack[0].astype(np.uint8))
    assert open_movie(tmp_path / "one.tif").shape == (1, 20, 30)


def test_zarr_movie(tmp_path):
    zarr = pytest.importorskip("zarr")
    stack = np.arange(3 * 8 * 9, dtype=np.uint16).reshape(3, 8, 9)
    z = zarr.open(str(tmp_path / "m.zarr"), mode="w", shape=stack.shape, dtype=stack.dtype)
    z[:] = stack
    np.testing.assert_array_equal(open_movie(tmp_path / "m.zarr")[1], stack[1])


def test_bad_movies_give_one_line_naming_the_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        open_movie(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no image frames"):
        open_movie(empty)
    seq = tmp_path / "seq"
    seq.mkdir()
    tifffile.imwrite(seq / "t000.tif", np.zeros((10, 10), np.uint8))
    tifffile.imwrite(seq / "t001.tif", np.zeros((10, 12), np.uint8))
    with pytest.raises(InputError, match=r"t001\.tif.*differs"):
        open_movie(seq)
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    tifffile.imwrite(rgb / "t000.tif", np.zeros((10, 10, 3), np.uint8), photometric="rgb")
    with pytest.raises(InputError, match=r"t000\.tif.*RGB"):
        open_movie(rgb)
    vol = tmp_path / "vol.tif"
    tifffile.imwrite(vol, np.zeros((2, 3, 10, 10), np.uint8), photometric="minisblack")
    with pytest.raises(InputError, match=r"vol\.tif"):
        open_movie(vol)
    gap = tmp_path / "gap"
    gap.mkdir()
    for t in (0, 2):
        tifffile.imwrite(gap / f"t00{t}.tif", np.zeros((5, 5), np.uint8))
    with pytest.raises(InputError, match=r"missing frames: \[1\]"):
        open_movie(gap)


def test_truncated_and_garbage_tiff(tmp_path):
    seq = tmp_path / "seq"
    seq.mkdir()
    data = np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8)
    tifffile.imwrite(seq / "t000.tif", data, compression="zlib")
    raw = (seq / "t000.tif").read_bytes()
    (seq / "t001.tif").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match=r"t001\.tif"):
        movie = open_movie(seq)
        movie[1]
    (seq / "t001.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(InputError, match=r"t001\.tif: not a readable TIFF"):
        open_movie(seq)
