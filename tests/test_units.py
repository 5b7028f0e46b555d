"""Physical units: parsing the options, the scale on Movie and Tracking, the cell table's unit
columns, the report's statistics in µm, minutes and hours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from celltrace import Movie, Tracking, track
from celltrace.errors import UsageError
from celltrace.io.runinfo import run_record
from celltrace.movie import with_scale
from celltrace.report import write_report
from celltrace.report.statistics import track_statistics
from celltrace.synth import synthetic_movie
from celltrace.units import UNIT_COLUMNS, add_unit_columns, parse_interval, parse_pixel_size


@pytest.mark.parametrize("text, expected", [("0.65", (0.65, 0.65)), ("650nm", (0.65, 0.65)),
                                            ("0.65 um", (0.65, 0.65)), ("0.3,0.25", (0.3, 0.25)),
                                            ("1 mm", (1000.0, 1000.0))])
def test_parse_pixel_size(text, expected):
    assert parse_pixel_size(text) == pytest.approx(expected)


@pytest.mark.parametrize("text, seconds", [("300", 300.0), ("300s", 300.0), ("5min", 300.0), ("0.5 h", 1800.0),
                                           ("250 ms", 0.25)])
def test_parse_interval(text, seconds):
    assert parse_interval(text) == pytest.approx(seconds)


@pytest.mark.parametrize("parse, text, problem", [(parse_pixel_size, "0", "must be positive"),
                                                  (parse_pixel_size, "5 min", "expected a number with an optional unit"),
                                                  (parse_pixel_size, "1,2,3", "expected one size or 'Y,X'"),
                                                  (parse_interval, "5 um", "expected a number with an optional unit"),
                                                  (parse_interval, "fast", "expected a number"),
                                                  (parse_interval, "-3", "must be positive")])
def test_bad_scale_options_are_one_line(parse, text, problem):
    with pytest.raises(UsageError, match=problem):
        parse(text)


def test_movie_scale_is_checked_and_overrides_are_recorded():
    frames = np.zeros((3, 8, 8), np.uint8)
    assert Movie(frames, pixel_size_um=0.5).pixel_size_um == (0.5, 0.5)
    with pytest.raises(ValueError, match="pixel size"):
        Movie(frames, pixel_size_um=(0.5, 0))
    with pytest.raises(ValueError, match="frame interval"):
        Movie(frames, frame_interval_s=float("nan"))
    movie = Movie(frames, pixel_size_um=(0.2, 0.2), frame_interval_s=60)
    movie.meta["scale_from"] = {"pixel_size_um": "file", "frame_interval_s": "file"}
    with_scale(movie, pixel_size_um=0.5)
    assert movie.pixel_size_um == (0.5, 0.5) and movie.frame_interval_s == 60
    assert movie.meta["scale_from"] == {"pixel_size_um": "given (the file says 0.2 µm)", "frame_interval_s": "file"}
    assert movie.scale_meta() == {"pixel_size_um": (0.5, 0.5), "frame_interval_s": 60.0,
                                  "scale_from": movie.meta["scale_from"]}
    assert Movie(frames).scale_meta() == {}


def test_track_carries_the_scale_into_meta_cells_and_run_record():
    movie, _ = synthetic_movie(n_frames=5, shape=(96, 96), n_cells=6, seed=3)
    movie = Movie(movie.frames, pixel_size_um=(0.5, 0.25), frame_interval_s=120.0)
    result = track(movie, method="classic", progress=False)
    assert result.meta["pixel_size_um"] == (0.5, 0.25) and result.meta["frame_interval_s"] == 120.0
    cells = result.cell_table(movie)
    assert list(cells.columns[-4:]) == list(UNIT_COLUMNS)
    np.testing.assert_allclose(cells["y_um"], cells["centroid_y"] * 0.5)
    np.testing.assert_allclose(cells["x_um"], cells["centroid_x"] * 0.25)
    np.testing.assert_allclose(cells["area_um2"], cells["area"] * 0.125)
    np.testing.assert_allclose(cells["time_s"], cells["frame"] * 120.0)
    # without a movie the table takes the scale from meta; without any scale there are no unit columns
    pd.testing.assert_frame_equal(result.cell_table()[list(UNIT_COLUMNS)], cells[list(UNIT_COLUMNS)])
    bare = Tracking(result.masks, result.lineage)
    assert not set(UNIT_COLUMNS) & set(bare.cell_table().columns)
    record = run_record(result.meta, method="classic", input="movie.tif", n_frames=5, frame_shape=(96, 96),
                        date="2026-01-01T00:00:00+00:00", timings={})
    assert record["pixel_size_um"] == [0.5, 0.25] and record["frame_interval_s"] == 120.0
    unknown = run_record({}, method="classic", input="m.tif", n_frames=5, frame_shape=(96, 96), date="", timings={})
    assert unknown["pixel_size_um"] is None and unknown["frame_interval_s"] is None


def test_add_unit_columns_with_one_scale_known():
    cells = pd.DataFrame({"frame": [0, 2], "centroid_y": [1.0, 3.0], "centroid_x": [2.0, 4.0], "area": [10, 20]})
    only_time = add_unit_columns(cells, None, 30.0)
    assert list(only_time.columns) == [*cells.columns, "time_s"] and only_time["time_s"].tolist() == [0.0, 60.0]
    only_space = add_unit_columns(cells, (2.0, 2.0), None)
    assert "time_s" not in only_space and only_space["area_um2"].tolist() == [40.0, 80.0]
    assert add_unit_columns(cells, None, None) is cells


def _walker_cells() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Label 1 moves 3 px in x per frame for frames 0..3 and divides into 2 and 3 (frames 4..7);
    label 3 divides again at frame 8 into 4 and 5 (frames 8..9)."""
    rows = [(t, 1, 10.0, 10.0 + 3 * t, 20) for t in range(4)]
    rows += [(t, 2, 5.0, 20.0, 10) for t in range(4, 8)] + [(t, 3, 15.0, 20.0, 10) for t in range(4, 8)]
    rows += [(t, lab, 15.0, 20.0, 5) for t in (8, 9) for lab in (4, 5)]
    cells = pd.DataFrame(rows, columns=["frame", "label", "centroid_y", "centroid_x", "area"])
    lineage = pd.DataFrame([(1, 0, 3, 0), (2, 4, 7, 1), (3, 4, 7, 1), (4, 8, 9, 3), (5, 8, 9, 3)],
                           columns=["label", "begin", "end", "parent"])
    return cells, lineage


def test_statistics_in_physical_units():
    cells, lineage = _walker_cells()
    plain = track_statistics(cells, lineage, 10)
    st = track_statistics(cells, lineage, 10, pixel_size_um=(0.5, 2.0), frame_interval_s=30.0)
    tracks = st.tracks.set_index("label")
    # 3 px along x per frame, x pixels 2 µm wide, a frame every 30 s: 6 µm per 0.5 min = 12 µm/min
    assert tracks.loc[1, "mean_speed_um_per_min"] == pytest.approx(12.0)
    assert tracks.loc[1, "mean_speed"] == pytest.approx(3.0)                     # the px/frame column stays
    assert tracks.loc[1, "path_length_um"] == pytest.approx(18.0)
    assert tracks.loc[1, "net_displacement_um"] == pytest.approx(18.0)
    assert tracks.loc[1, "mean_area_um2"] == pytest.approx(20.0)                 # 20 px of 1 µm²
    assert tracks.loc[1, "duration_h"] == pytest.approx(4 * 30 / 3600)
    msd = st.msd.set_index("lag")  # lag 2: two pairs of label 1 (12 µm apart), four of the resting 2 and 3
    assert msd.loc[2, "msd_um2"] == pytest.approx(2 * 144.0 / 6) and msd.loc[2, "lag_min"] == pytest.approx(1.0)
    div = st.divisions.set_index("parent")
    assert div.loc[1, "time_h"] == pytest.approx(4 * 30 / 3600)
    assert div.loc[3, "parent_cycle_length_h"] == pytest.approx(4 * 30 / 3600)   # born at 4, divides after 7
    summary = dict(zip(st.summary()["quantity"], st.summary()["value"]))
    assert summary["speed, mean [µm/min]"] == "3.27"            # 3 steps of 12 µm/min among 11 steps
    assert summary["MSD at lag 0.5 min [µm²]"] == "9.82"        # 3 steps of (6 µm)² among 11
    assert summary["cell-cycle length, median [h]"] == "0.0333"
    plain_summary = dict(zip(plain.summary()["quantity"], plain.summary()["value"]))
    assert plain_summary["speed, mean [px/frame]"] == "0.818" and "msd_um2" not in plain.msd
    only_pixels = track_statistics(cells, lineage, 10, pixel_size_um=(0.5, 2.0))
    assert only_pixels.tracks.set_index("label").loc[1, "mean_speed_um_per_frame"] == pytest.approx(6.0)


def test_report_uses_the_movie_scale(tmp_path):
    movie, gt = synthetic_movie(n_frames=6, shape=(64, 64), n_cells=4, seed=1)
    movie = Movie(movie.frames, name="scaled", pixel_size_um=0.4, frame_interval_s=600.0)
    page = write_report(gt, movie, tmp_path / "report", progress=False, metrics=False)
    html = page.read_text()
    assert "speed, mean [µm/min]" in html and "Units: µm and minutes / hours" in html
    assert "pixel 0.4 µm, every 600 s (10 min)" in html
    cells = pd.read_csv(tmp_path / "report" / "cells.csv")
    np.testing.assert_allclose(cells["time_s"], cells["frame"] * 600.0)
    assert {"msd_um2", "lag_min"} <= set(pd.read_csv(tmp_path / "report" / "msd.csv").columns)
