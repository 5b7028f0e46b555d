"""Microscope formats: OME-TIFF (tifffile's OME writer), OME-Zarr (ome-zarr's writer) and ImageJ
hyperstacks made from a real crop of Fluo-N2DH-GOWT1/02, read with their units; scene, channel
and z choices; bad files get one line each. ND2, CZI and LIF go through the same bioio plumbing
(io/bioformats.py) but no sample files can be written here."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from celltrace import InputError, open_movie
from celltrace.cli import main
from celltrace.frames import LazyFrames
from conftest import ctc_sequence

# the CTC's published scale of Fluo-N2DH-GOWT1, written in other units than µm and s on purpose
PIXEL_NM, INTERVAL_MIN = 240.0, 5.0
PIXEL_UM, INTERVAL_S = 0.24, 300.0


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """10 frames of GOWT1/02, cropped to 256 × 256 (uint8)."""
    src = ctc_sequence("Fluo-N2DH-GOWT1")
    return np.stack([tifffile.imread(src / f"t{t:03d}.tif")[300:556, 300:556] for t in range(10)])


def write_ome_tiff(path, stack, axes="TYX", **extra):
    tifffile.imwrite(path, stack, metadata={"axes": axes, "PhysicalSizeX": PIXEL_NM, "PhysicalSizeXUnit": "nm",
                                            "PhysicalSizeY": PIXEL_NM, "PhysicalSizeYUnit": "nm",
                                            "TimeIncrement": INTERVAL_MIN, "TimeIncrementUnit": "min", **extra})
    return path


def five_d(crop: np.ndarray) -> np.ndarray:
    """(T, C, Z, Y, X): channel 0 the nuclei on 3 planes whose maximum is the crop, channel 1 dark."""
    planes = np.stack([crop // 2, crop, crop // 3], axis=1)            # (T, Z, Y, X), max over z = crop
    return np.stack([planes, np.zeros_like(planes)], axis=1)           # (T, C, Z, Y, X)


def write_ome_zarr(path, data, axes="tczyx"):
    import zarr
    from ome_zarr.writer import write_image

    root = zarr.open_group(str(path), mode="w")
    scale = {"t": INTERVAL_MIN, "y": PIXEL_UM, "x": PIXEL_UM, "z": 1.0, "c": 1.0}
    units = {"t": "minute", "y": "micrometer", "x": "micrometer", "z": "micrometer"}
    write_image(data, root, scale_factors=[], axes=axes, scale={a: scale[a] for a in axes},
                axes_units={a: units[a] for a in axes if a in units})
    root.attrs["omero"] = {"channels": [{"label": "H2B-GFP"}, {"label": "empty"}]}
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ome_tiff_units_reach_cells_csv_run_json_and_info(tmp_path, crop, capsys):
    movie_file = write_ome_tiff(tmp_path / "gowt1.ome.tif", crop)
    movie = open_movie(movie_file)
    assert isinstance(movie.frames, LazyFrames) and movie.name == "gowt1"
    assert movie.pixel_size_um == pytest.approx((PIXEL_UM, PIXEL_UM))      # 240 nm
    assert movie.frame_interval_s == pytest.approx(INTERVAL_S)              # 5 min
    np.testing.assert_array_equal(movie[7], crop[7])

    code, out, _ = run_cli(capsys, "track", str(movie_file), "--out", str(tmp_path / "res"), "--method", "classic")
    assert code == 0 and "pixel size 0.24 µm (file), interval 300 s (5 min) (file)" in out
    cells = pd.read_csv(tmp_path / "res" / "cells.csv")
    assert len(cells) > 10 and cells["frame"].max() == 9
    np.testing.assert_allclose(cells["y_um"], cells["centroid_y"] * PIXEL_UM)
    np.testing.assert_allclose(cells["x_um"], cells["centroid_x"] * PIXEL_UM)
    np.testing.assert_allclose(cells["area_um2"], cells["area"] * PIXEL_UM ** 2)
    np.testing.assert_allclose(cells["time_s"], cells["frame"] * INTERVAL_S)
    run = json.loads((tmp_path / "res" / "run.json").read_text())
    assert run["pixel_size_um"] == pytest.approx([PIXEL_UM, PIXEL_UM]) and run["frame_interval_s"] == INTERVAL_S
    assert run["scale_from"] == {"pixel_size_um": "file", "frame_interval_s": "file"}

    code, out, _ = run_cli(capsys, "info", str(tmp_path / "res"))
    assert code == 0 and "pixel size 0.24 µm (file)" in out and "interval   300 s (5 min) (file)" in out
    code, out, _ = run_cli(capsys, "info", str(movie_file))
    assert code == 0 and "frames     10" in out and "pixel size 0.24 µm" in out


@pytest.mark.filterwarnings("ignore:Call to deprecated class Scaler:DeprecationWarning")
def test_ome_zarr_movie_is_tracked_with_channel_and_max_projection(tmp_path, crop, capsys):
    store = write_ome_zarr(tmp_path / "gowt1.ome.zarr", five_d(crop))
    code, out, _ = run_cli(capsys, "info", str(store))
    assert code == 0 and "H2B-GFP, empty" in out and "z-planes   3" in out and "pixel size 0.24 µm" in out

    movie = open_movie(store, channel="H2B-GFP", z="max")
    assert movie.shape == crop.shape and movie.dtype == crop.dtype
    assert isinstance(movie.frames, LazyFrames)
    np.testing.assert_array_equal(movie[4], crop[4])                  # the maximum over z
    np.testing.assert_array_equal(open_movie(store, channel=0, z=1)[2], crop[2])
    assert movie.pixel_size_um == pytest.approx((PIXEL_UM, PIXEL_UM)) and movie.frame_interval_s == INTERVAL_S

    res = tmp_path / "res"
    code, out, _ = run_cli(capsys, "track", str(store), "--out", str(res), "--method", "classic", "-q",
                           "--channel", "H2B-GFP", "--z", "max", "--interval", "10min")
    assert code == 0
    run = json.loads((res / "run.json").read_text())
    assert run["selection"] == {"scene": "image", "channel": "H2B-GFP", "z": "max"}
    assert run["frame_interval_s"] == 600.0
    assert run["scale_from"]["frame_interval_s"] == "given (the file says 300 s (5 min))"
    cells = pd.read_csv(res / "cells.csv")
    np.testing.assert_allclose(cells["time_s"], cells["frame"] * 600.0)
    np.testing.assert_allclose(cells["area_um2"], cells["area"] * PIXEL_UM ** 2)
    assert cells["label"].nunique() >= 3


def test_scenes_channels_and_z_are_chosen_or_listed(tmp_path, crop):
    path = tmp_path / "two.ome.tif"
    data = five_d(crop[:3])
    with tifffile.TiffWriter(path, ome=True) as tw:  # two OME images = two scenes
        for series in (data, data[..., ::-1, :]):
            tw.write(series, metadata={"axes": "TCZYX", "Channel": {"Name": ["H2B-GFP", "empty"]},
                                       "PhysicalSizeX": PIXEL_UM, "PhysicalSizeY": PIXEL_UM})
    with pytest.raises(InputError, match=r"has 2 scenes \(Image:0, Image:1\): choose one with --scene"):
        open_movie(path)
    with pytest.raises(InputError, match=r"scene 'Pos3' not in the file: it has Image:0, Image:1"):
        open_movie(path, scene="Pos3", channel=0, z=0)
    with pytest.raises(InputError, match=r"has 2 channels \(H2B-GFP, empty\): choose one with --channel"):
        open_movie(path, scene=1)
    with pytest.raises(InputError, match=r"channel 'DAPI' not in the file: it has H2B-GFP, empty"):
        open_movie(path, scene=1, channel="DAPI")
    with pytest.raises(InputError, match=r"has 3 z-planes: choose one with --z 0\.\.2, or --z max"):
        open_movie(path, scene=1, channel="empty")
    with pytest.raises(InputError, match=r"z-plane '3' not in the file"):
        open_movie(path, scene=1, channel=0, z=3)
    second = open_movie(path, scene="Image:1", channel="H2B-GFP", z=1)
    np.testing.assert_array_equal(second[2], crop[2, ::-1])        # the second scene, not the first
    assert second.meta["selection"] == {"scene": "Image:1", "channel": "H2B-GFP", "z": 1}
    assert second.pixel_size_um == pytest.approx((PIXEL_UM, PIXEL_UM)) and second.frame_interval_s is None
    with pytest.raises(InputError, match="scene, channel and z choose within microscope files .*; this movie has one scene"):
        open_movie(ctc_sequence("Fluo-N2DH-GOWT1"), channel="GFP")


def test_imagej_hyperstack_scale_and_convert_keeps_units(tmp_path, crop, capsys):
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, five_d(crop[:4]).transpose(0, 2, 1, 3, 4), imagej=True,   # ImageJ order TZCYX
                     resolution=(1 / PIXEL_UM, 1 / PIXEL_UM), metadata={"axes": "TZCYX", "unit": "um",
                                                                        "finterval": INTERVAL_S})
    movie = open_movie(path, channel=0, z="max")
    np.testing.assert_array_equal(movie[3], crop[3])
    assert movie.pixel_size_um == pytest.approx((PIXEL_UM, PIXEL_UM)) and movie.frame_interval_s == INTERVAL_S

    out = tmp_path / "plane.tif"
    code, _, _ = run_cli(capsys, "convert", str(path), str(out), "--to", "tiff", "-q", "--channel", "0",
                         "--z", "max", "--pixel-size", "0.3,0.25")
    assert code == 0
    back = open_movie(out)                                             # an OME-TIFF now: the scale travels
    np.testing.assert_array_equal(back[1], crop[1])
    assert back.pixel_size_um == pytest.approx((0.3, 0.25)) and back.frame_interval_s == INTERVAL_S


def test_bad_files_get_one_line_each(tmp_path, crop, capsys):
    good = write_ome_tiff(tmp_path / "good.ome.tif", five_d(crop[:2]), axes="TCZYX")
    truncated = tmp_path / "truncated.ome.tif"
    truncated.write_bytes(good.read_bytes()[:20000])
    garbage = tmp_path / "garbage.nd2"
    garbage.write_bytes(b"not an nd2 file at all")
    broken_zarr = tmp_path / "broken.ome.zarr"
    broken_zarr.mkdir()
    (broken_zarr / "zarr.json").write_text("{ not json")
    cases = [(truncated, "truncated TIFF"), (garbage, "no installed bioio reader reads this file"),
             (broken_zarr, "no installed bioio reader reads this file (Could not parse a Zarr store"),
             (good, "channel 'RFP' not in the file: it has Channel:0:0, Channel:0:1"),
             (tmp_path / "missing.czi", "no such file or folder")]
    for path, problem in cases:
        code, out, err = run_cli(capsys, "track", str(path), "--out", str(tmp_path / f"res-{path.stem}"), "-q",
                                 "--channel", "RFP", "--z", "0")
        assert code == 2, path
        assert err.count("\n") == 1 and err.startswith(f"celltrace: error: {path}: ") and problem in err, err
    code, _, err = run_cli(capsys, "track", str(good), "--out", str(tmp_path / "r"), "--pixel-size", "-1")
    assert code == 2 and "pixel size '-1': must be positive" in err


@pytest.mark.filterwarnings("ignore:Call to deprecated class Scaler:DeprecationWarning")
def test_ngff_versions_and_axes_without_units(tmp_path, crop):
    import zarr
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    v04 = zarr.open_group(str(tmp_path / "plain_name"), mode="w", zarr_format=2)  # NGFF 0.4, no .ome.zarr suffix
    write_image(crop[:3], v04, scale_factors=[], axes="tyx", fmt=FormatV04(), scale={"t": 90.0, "y": 0.5, "x": 0.5},
                axes_units={"t": "second", "y": "micrometer", "x": "micrometer"})
    movie = open_movie(tmp_path / "plain_name")
    np.testing.assert_array_equal(movie[2], crop[2])
    assert movie.pixel_size_um == (0.5, 0.5) and movie.frame_interval_s == 90.0
    bare = zarr.open_group(str(tmp_path / "bare.ome.zarr"), mode="w")             # NGFF 0.5, scale 1, no units
    write_image(crop[:3], bare, scale_factors=[], axes="tyx")
    movie = open_movie(tmp_path / "bare.ome.zarr")
    np.testing.assert_array_equal(movie[1], crop[1])
    assert movie.pixel_size_um is None and movie.frame_interval_s is None           # unknown, not 1 µm / 1 s
