"""Synthetic movies with ground truth (celltrace.synth)."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from celltrace import Movie, Tracking
from celltrace.synth import POINT_COLUMNS, SynthConfig, render, simulate_cells, synthetic_movie

EVENTFUL = dict(division_rate=0.05, death_rate=0.01, entry_rate=0.02, drift=(0.8, -0.5), motion_sigma=2.5)


def _stack(frames) -> np.ndarray:
    return np.stack([np.asarray(frames[t]) for t in range(len(frames))])


def test_same_seed_same_movie_other_seed_differs():
    a_movie, a_gt = synthetic_movie(12, (96, 96), 12, seed=5, **EVENTFUL)
    b_movie, b_gt = synthetic_movie(12, (96, 96), 12, seed=5, **EVENTFUL)
    np.testing.assert_array_equal(_stack(a_movie.frames), _stack(b_movie.frames))
    np.testing.assert_array_equal(_stack(a_gt.masks), _stack(b_gt.masks))
    pd.testing.assert_frame_equal(a_gt.lineage, b_gt.lineage)
    pd.testing.assert_frame_equal(a_gt.points, b_gt.points)
    c_movie, c_gt = synthetic_movie(12, (96, 96), 12, seed=6, **EVENTFUL)
    assert not np.array_equal(a_movie[0], c_movie[0])
    assert not np.array_equal(_stack(a_gt.masks), _stack(c_gt.masks))


def test_lazy_rendering_is_independent_of_access_order():
    m1, g1 = synthetic_movie(10, (80, 80), 10, seed=2, **EVENTFUL)
    m2, g2 = synthetic_movie(10, (80, 80), 10, seed=2, **EVENTFUL)
    assert isinstance(m1, Movie) and isinstance(g1, Tracking)
    late_first = [m1[7], g1.masks[7], g1.masks[3], m1[0], g1.masks[0]]
    in_order = _stack(m2.frames), _stack(g2.masks)
    np.testing.assert_array_equal(late_first[0], in_order[0][7])
    np.testing.assert_array_equal(late_first[1], in_order[1][7])
    np.testing.assert_array_equal(late_first[2], in_order[1][3])
    np.testing.assert_array_equal(late_first[3], in_order[0][0])
    np.testing.assert_array_equal(late_first[4], in_order[1][0])
    np.testing.assert_array_equal(m1[7], m1[7])  # re-rendering gives the same pixels (noise included)


@pytest.mark.parametrize("n_frames, shape, n_cells, kwargs", [
    (5, (64, 64), 3, {}),
    (40, (200, 260), 30, EVENTFUL),
    (30, (128, 128), 60, dict(EVENTFUL, radius=(3.0, 5.0), elongation=(1.0, 2.5), repulsion=0.1, spacing=0.6)),
])
def test_ground_truth_obeys_ctc_rules(n_frames, shape, n_cells, kwargs):
    movie, gt = synthetic_movie(n_frames, shape, n_cells, seed=1, **kwargs)
    gt.validate()
    assert movie.shape == gt.shape == (n_frames, *shape)
    # the table and the masks describe the same cells; each centre pixel carries its cell's label
    pts = gt.points
    for t in range(n_frames):
        mask = np.asarray(gt.masks[t])
        rows = pts[pts["frame"] == t]
        present = np.unique(mask)
        np.testing.assert_array_equal(present[present > 0], np.sort(rows["label"].to_numpy()))
        cy = np.floor(rows["y"].to_numpy(np.float64) + 0.5).astype(int)
        cx = np.floor(rows["x"].to_numpy(np.float64) + 0.5).astype(int)
        np.testing.assert_array_equal(mask[cy, cx], rows["label"].to_numpy())


def test_events_happen_entries_exits_deaths():
    _, gt = synthetic_movie(60, (160, 160), 25, seed=4, **EVENTFUL)
    lin = gt.lineage
    kids = gt.children()
    entries = lin[(lin["parent"] == 0) & (lin["begin"] > 0)]
    ended = lin[(lin["end"] < gt.n_frames - 1) & ~lin["label"].isin(list(kids))]
    assert len(entries) > 0  # cells entered at the border
    assert len(ended) > 0  # cells died or left
    # entering cells start near the border
    first = gt.points.merge(entries[["label", "begin"]], left_on=["label", "frame"], right_on=["label", "begin"])
    border = np.minimum.reduce([first["y"], first["x"], 159 - first["y"], 159 - first["x"]])
    assert (border < 12).all()


def test_divisions_follow_ctc_semantics():
    radius = (6.0, 10.0)
    _, gt = synthetic_movie(50, (200, 200), 25, seed=3, radius=radius, division_rate=0.05, death_rate=0.0)
    divs = gt.divisions()
    assert len(divs) >= 10
    lin = gt.lineage.set_index("label")
    pts = gt.points.set_index(["frame", "label"])
    assert set(gt.children()) == set(divs["parent"])  # every parent is a division (no gap links)
    gaps = []
    for parent, frame, daughters in divs.itertuples(index=False):
        assert len(daughters) == 2
        assert lin.loc[parent, "end"] == frame - 1
        assert all(lin.loc[d, "begin"] == frame and lin.loc[d, "parent"] == parent for d in daughters)
        mother = pts.loc[(frame - 1, parent)]
        d1, d2 = (pts.loc[(frame, d)] for d in daughters)
        for d in (d1, d2):
            assert np.hypot(d["y"] - mother["y"], d["x"] - mother["x"]) < radius[1] + 3
            area_ratio = d["semi_major"] * d["semi_minor"] / (mother["semi_major"] * mother["semi_minor"])
            assert 0.3 < area_ratio < 0.6  # about half the mother's area (mother may still grow)
        gaps.append(np.hypot(d1["y"] - d2["y"], d1["x"] - d2["x"]) / (d1["semi_major"] + d2["semi_major"]))
    # sisters begin division_gap (0.85–1.25) × their summed semi-major axes apart (repulsion and the
    # field's edge move a few): some pressed together, most with a gap, as in Fluo-N2DH-SIM+ 02
    gaps = np.array(gaps)
    assert np.mean((gaps > 0.85 - 0.02) & (gaps < 1.25 + 0.02)) >= 0.9
    assert 0.95 < np.median(gaps) < 1.15


def test_sisters_move_apart_by_division_push():
    """Without random motion or repulsion, sisters end (g + division_push) (a_1 + a_2) apart, 40 %
    of the move in their second frame."""
    cfg = SynthConfig(n_frames=30, shape=(400, 400), n_cells=6, seed=5, division_rate=0.1, death_rate=0.0,
                      entry_rate=0.0, balance=False, motion_sigma=0.0, repulsion=0.0, growth=0.0,
                      elongation=(1.0, 1.0), division_gap=(1.0, 1.0), division_push=0.5)
    sim = simulate_cells(cfg)
    pts = sim.points.set_index(["frame", "label"])
    lin = sim.lineage.set_index("label")
    checked = 0
    for _, g in sim.lineage[sim.lineage["parent"] > 0].groupby("parent"):
        a, b = g["label"].to_numpy()
        t0 = int(g["begin"].iloc[0])
        if min(lin.loc[a, "end"], lin.loc[b, "end"]) < t0 + 10:
            continue  # divided again or left the field: not a free pair
        def ratio(t: int) -> float:
            pa, pb = pts.loc[(t, a)], pts.loc[(t, b)]
            return np.hypot(pa["y"] - pb["y"], pa["x"] - pb["x"]) / (pa["semi_major"] + pb["semi_major"])
        assert ratio(t0) == pytest.approx(1.0, abs=0.02)
        assert ratio(t0 + 1) == pytest.approx(1.0 + 0.4 * 0.5, abs=0.02)
        assert ratio(t0 + 10) == pytest.approx(1.5, abs=0.02)
        checked += 1
    assert checked >= 3


def test_cell_count_stays_near_n_cells():
    n = 40
    sim = simulate_cells(SynthConfig(n_frames=120, shape=(256, 256), n_cells=n, seed=0, **EVENTFUL))
    counts = sim.points.groupby("frame").size().to_numpy()
    assert len(counts) == 120
    assert abs(counts.mean() - n) < 0.15 * n
    assert counts.min() >= 0.6 * n and counts.max() <= 1.4 * n


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_dtypes_and_shapes(dtype):
    movie, gt = synthetic_movie(5, (64, 64), 4, seed=0, dtype=dtype)
    assert movie.shape == (5, 64, 64) and movie.dtype == np.dtype(dtype)
    assert gt.masks.dtype == np.uint16
    frame = movie[4]
    assert frame.dtype == np.dtype(dtype) and frame.shape == (64, 64)
    fg = np.asarray(gt.masks[4]) > 0
    assert frame[fg].mean() > 2 * frame[~fg].mean()  # nuclei are brighter than the background
    gt.validate()
    movie, gt = synthetic_movie(3, (48, 80), 5, seed=0, dtype=dtype)
    assert movie[0].shape == gt.masks[0].shape == (48, 80)
    gt.validate()


def test_clean_rendering_background_and_photobleaching():
    kw = dict(noise_sigma=0.0, photons=None, blur_sigma=0.0, dtype=np.float32, division_rate=0.0, death_rate=0.0,
              entry_rate=0.0, balance=False, motion_sigma=0.0, bleach_rate=0.05, background=0.1)
    movie, gt = synthetic_movie(21, (96, 96), 8, seed=0, **kw)
    assert (gt.lineage["begin"] == 0).all() and (gt.lineage["end"] == 20).all()  # same cells throughout
    first, last = movie[0], movie[20]
    bg = np.asarray(gt.masks[0]) == 0
    np.testing.assert_allclose(first[bg], 0.1)
    ratio = (last - 0.1).sum() / (first - 0.1).sum()
    assert ratio == pytest.approx(np.exp(-0.05 * 20), rel=0.1)


def test_points_table_is_compact():
    _, gt = synthetic_movie(4, (64, 64), 5, seed=0)
    pts = gt.points
    assert list(pts.columns) == POINT_COLUMNS
    assert all(pts[c].dtype.itemsize == 4 for c in POINT_COLUMNS)
    assert (np.diff(pts["frame"].to_numpy()) >= 0).all()


def test_many_labels_give_uint32_masks():
    movie, gt = synthetic_movie(36, (256, 256), 2000, seed=0, radius=(2.0, 3.0), division_rate=0.5, death_rate=0.0)
    assert gt.lineage["label"].max() >= 2**16
    assert gt.masks.dtype == np.uint32
    mask = np.asarray(gt.masks[35])
    assert mask.dtype == np.uint32 and mask.max() >= 2**16
    labels = np.unique(mask)
    np.testing.assert_array_equal(labels[labels > 0], np.sort(gt.points.query("frame == 35")["label"].to_numpy()))


def test_bad_settings_raise():
    with pytest.raises(ValueError):
        SynthConfig(dtype=np.int64)
    with pytest.raises(ValueError):
        SynthConfig(radius=(10.0, 5.0))
    with pytest.raises(ValueError):
        SynthConfig(shape=(8, 8), n_cells=100)
    with pytest.raises(ValueError):
        SynthConfig(division_rate=0.8, death_rate=0.5)
    with pytest.raises(ValueError, match="division_gap"):
        SynthConfig(division_gap=(1.2, 0.9))
    with pytest.raises(ValueError, match="division_push"):
        SynthConfig(division_push=-0.1)


def test_large_configuration_state_table_fits_in_memory():
    """2048² × 100 frames × 10,000 cells/frame (the full 1000 frames: benchmarks/bench_synth.py)."""
    cfg = SynthConfig(n_frames=100, shape=(2048, 2048), n_cells=10_000, seed=0)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        sim = simulate_cells(cfg)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rows = len(sim.points)
    counts = sim.points.groupby("frame").size()
    assert abs(counts.mean() - 10_000) < 500
    assert sim.points.memory_usage(index=False).sum() <= 32 * rows + 1024  # 32 bytes per cell per frame
    assert peak < 100 * 2**20 + 80 * rows  # ~1M rows: well under 200 MB; 1000 frames scale linearly
    assert seconds < 60
    movie, gt = render(sim)
    mask = np.asarray(gt.masks[99])
    assert len(np.unique(mask)) - 1 == counts[99]
    assert movie[99].shape == (2048, 2048)
