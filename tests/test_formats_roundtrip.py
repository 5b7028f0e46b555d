"""CTC → each result format → Tracking on the three real 02_GT folders.

* Formats without masks (CSV, GEFF, TrackMate XML, MOT, napari npz): the full lineage of every
  folder comes back identical, with the stored positions; the markers drawn as masks obey the CTC
  rules (checked on the first frames).
* Formats with masks (OME-Zarr, DeepCell .trk): identical masks and lineage — OME-Zarr on all 48
  frames of MSC and the first 12 of GOWT1 and SIM+; .trk on the first 6 frames of each (the masks
  of all frames take too long for the test suite; `Tracking.window` cuts them).
The GT is read once per folder and its cell table computed once (it is the slow part of the writers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATASETS, ctc_gt

from celltrace.io.ctc import read_ctc
from celltrace.io.geff import read_geff, write_geff
from celltrace.io.mot import mot_rows, read_mot, write_mot
from celltrace.io.napari_tracks import read_napari_tracks
from celltrace.io.omezarr import read_omezarr, write_omezarr
from celltrace.io.table import read_cell_table
from celltrace.io.trackmate import read_trackmate, write_trackmate
from celltrace.io.trk import read_trk, write_trk
from celltrace.tracking import Tracking

UNITS = {"pixel_size_um": (0.3, 0.25), "frame_interval_s": 600.0}
MASK_WINDOW = {"Fluo-C2DL-MSC": 48, "Fluo-N2DH-GOWT1": 12, "Fluo-N2DH-SIM+": 12}
TRK_WINDOW = 6


@pytest.fixture(scope="module", params=DATASETS)
def real(request) -> tuple[str, Tracking, pd.DataFrame]:
    """(dataset, GT with masks in memory and known units, its cell table)."""
    gt = read_ctc(ctc_gt(request.param))
    tracking = Tracking(masks=np.asarray(gt.masks), lineage=gt.lineage, meta=dict(UNITS))
    return request.param, tracking, tracking.cell_table()


def _same_positions(back: Tracking, cells: pd.DataFrame) -> None:
    pts = back.points.sort_values(["frame", "label"]).reset_index(drop=True)
    ref = cells.sort_values(["frame", "label"]).reset_index(drop=True)
    assert np.array_equal(pts["frame"], ref["frame"]) and np.array_equal(pts["label"], ref["label"])
    np.testing.assert_allclose(pts["y"], ref["centroid_y"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(pts["x"], ref["centroid_x"], rtol=1e-9, atol=1e-9)


def test_formats_without_masks_give_back_the_full_lineage(real, tmp_path):
    dataset, gt, cells = real
    cells.to_csv(tmp_path / "cells.csv", index=False)          # what Tracking.to_csv writes
    np.savez(tmp_path / "tracks.npz", data=cells[["label", "frame", "centroid_y", "centroid_x"]].to_numpy(float),
             graph=gt.lineage.loc[gt.lineage.parent > 0, ["label", "parent"]].to_numpy())
    backs = {
        "csv": read_cell_table(tmp_path / "cells.csv", shape=gt.shape),
        "geff": read_geff(write_geff(gt, tmp_path / "g.geff", cells=cells)),
        "trackmate": read_trackmate(write_trackmate(gt, tmp_path / "t.xml", cells=cells)),
        "mot": read_mot(write_mot(gt, tmp_path / "m.txt", cells=cells), frame_shape=gt.shape[1:], n_frames=gt.n_frames),
        "napari": read_napari_tracks(tmp_path / "tracks.npz", shape=gt.shape),
    }
    for name, back in backs.items():
        assert back.shape == gt.shape, name
        assert back.lineage.equals(gt.lineage), f"{dataset} {name}: lineage differs"
        assert back.window(0, 3).problems() == [], name
        if name != "mot":
            _same_positions(back, cells)
    for name in ("geff", "trackmate"):                     # formats that store units give them back
        assert backs[name].meta["pixel_size_um"] == pytest.approx(UNITS["pixel_size_um"])
        assert backs[name].meta["frame_interval_s"] == pytest.approx(UNITS["frame_interval_s"])
    rows = mot_rows(gt, cells=cells).sort_values(["frame", "id"]).reset_index(drop=True)
    assert np.array_equal(backs["mot"].points["box_w"], rows["w"]) and np.array_equal(backs["mot"].points["box_left"], rows["x"])


def test_formats_with_masks_give_back_identical_masks(real, tmp_path):
    dataset, gt, _ = real
    window = gt.window(0, MASK_WINDOW[dataset])
    back = read_omezarr(write_omezarr(window, tmp_path / "r.ome.zarr"))
    assert back.lineage.equals(window.lineage)
    assert np.array_equal(np.asarray(back.masks), np.asarray(window.masks))
    assert back.meta["pixel_size_um"] == UNITS["pixel_size_um"] and back.meta["frame_interval_s"] == 600.0
    window = gt.window(0, TRK_WINDOW)
    back = read_trk(write_trk(window, tmp_path / "r.trk"))
    assert back.lineage.equals(window.lineage)
    assert np.array_equal(np.asarray(back.masks), np.asarray(window.masks))
