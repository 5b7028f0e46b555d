"""Specks: objects far smaller than the frame's typical cell (celltrace.segmentation.specks)."""

from __future__ import annotations

import numpy as np
import pytest

from celltrace.io.tiff import read_frame
from celltrace.movie import open_movie
from celltrace.segmentation.specks import drop_specks, typical_area

from conftest import ctc_gt, ctc_sequence, matched_and_unmatched


def _frame() -> np.ndarray:
    """Two cells of 400 and 900 px, three specks of 9 px inside, one 9 px speck on the border."""
    lab = np.zeros((80, 80), np.int32)
    lab[10:30, 10:30] = 1
    lab[40:70, 40:70] = 2
    lab[5:8, 50:53] = 3
    lab[50:53, 10:13] = 4
    lab[70:73, 10:13] = 5
    lab[0:3, 70:73] = 6
    return lab


def test_typical_area_is_the_area_weighted_median_and_ignores_many_specks():
    lab = _frame()
    assert typical_area(lab) == 900.0  # 900 of the 1336 object pixels lie in the 900 px cell
    assert typical_area(np.zeros((5, 5), np.int32)) == 0.0
    only = np.zeros((20, 20), np.uint16)
    only[2:5, 2:5] = 7
    assert typical_area(only) == 9.0


def _kept(lab: np.ndarray, labels: list[int]) -> np.ndarray:
    """``lab`` with only ``labels`` (in increasing order), renumbered 1..n."""
    out = np.zeros(lab.shape, np.uint32)
    for new, old in enumerate(labels, start=1):
        out[lab == old] = new
    return out


def test_specks_go_cells_and_border_objects_stay_and_the_input_is_untouched():
    lab = _frame()
    before = lab.copy()
    out = drop_specks(lab, 0.1)  # limit 90 px
    assert np.array_equal(lab, before)
    assert np.array_equal(out, _kept(lab, [1, 2, 6]))  # the cells' pixels as they were, renumbered
    assert np.array_equal(drop_specks(lab, 0.1, keep_border=False), _kept(lab, [1, 2]))
    assert np.array_equal(drop_specks(lab, 0.5), _kept(lab, [2, 6]))  # 400 < 450: the smaller cell too
    assert np.array_equal(drop_specks(lab, 400 / 900), _kept(lab, [1, 2, 6]))  # an area at the limit stays
    empty = np.zeros((4, 4), np.uint8)
    assert np.array_equal(drop_specks(empty, 0.1), empty)


def test_classic_takes_a_speck_fraction_between_0_and_1():
    from celltrace.methods.classic.config import ClassicConfig
    from celltrace.methods.config import ParameterError

    assert ClassicConfig().speck_fraction == 0.1 and ClassicConfig.from_params(speck_fraction=0).speck_fraction == 0
    with pytest.raises(ParameterError, match="speck_fraction"):
        ClassicConfig.from_params(speck_fraction=2)


def test_msc_specks_go_and_no_cell_is_lost():
    """MSC 02's cells are long and thin: about 25 px across (the radius a crop of the field gives)
    and 10 000 px² of area, so the round-cell limit ``0.15 pi r^2`` (294 px) lets debris through.
    At 0.1 of the frame's typical object area, frames 5–45: unmatched objects 28 → 24 (measured),
    the same cells matched in every frame."""
    from celltrace.methods.classic import ClassicTracker

    movie = open_movie(ctc_sequence("Fluo-C2DL-MSC"))
    tra = ctc_gt("Fluo-C2DL-MSC") / "TRA"
    plain, specks = ClassicTracker(speck_fraction=0.0), ClassicTracker(speck_fraction=0.1)
    unmatched = [0, 0]
    for t in range(5, 48, 10):
        gt = read_frame(tra / f"man_track{t:03d}.tif")
        m0, u0 = matched_and_unmatched(gt, plain.segment(movie[t], 25.0))
        m1, u1 = matched_and_unmatched(gt, specks.segment(movie[t], 25.0))
        assert m1 == m0, t
        unmatched[0] += u0
        unmatched[1] += u1
    assert unmatched[1] <= unmatched[0] - 3, unmatched


@pytest.mark.parametrize("dataset, step", [("Fluo-N2DH-SIM+", 15), ("Fluo-N2DH-GOWT1", 15)])
def test_round_nuclei_lose_nothing_to_the_speck_rule(dataset, step):
    """On round nuclei 0.1 of a cell is under the round-cell limit: the same objects, pixel for pixel."""
    from celltrace.methods.classic import ClassicTracker

    movie = open_movie(ctc_sequence(dataset))
    plain, specks = ClassicTracker(speck_fraction=0.0), ClassicTracker(speck_fraction=0.1)
    radius = plain.estimate_radius(movie)
    for t in range(0, len(movie), step):
        assert np.array_equal(plain.segment(movie[t], radius), specks.segment(movie[t], radius)), t
