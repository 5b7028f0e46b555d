"""Resampling to the network's cell scale and back (celltrace.nn.scaling)."""

from __future__ import annotations

import numpy as np
import pytest

from celltrace.nn.scaling import resample, scaled_shape, to_frame


def test_round_trip_of_a_smooth_map():
    yy, xx = np.mgrid[0:301, 0:257].astype(np.float32)
    smooth = np.sin(yy / 40.0) * np.cos(xx / 30.0)
    for s in (0.3, 0.5, 1.7):
        small = resample(smooth, s)
        assert small.shape == scaled_shape(smooth.shape, s) == (int(np.ceil(301 * s)), int(np.ceil(257 * s)))
        back = to_frame({"m": small}, s, smooth.shape)["m"]
        assert back.shape == smooth.shape
        # bilinear on a map sampled every h = 1/s px: error <= 2 · h²/8 · max|f''| inside; at the
        # last row/column the edge value stands in for a sample up to h px outside (first order)
        h = max(1.0, 1 / s)  # the coarser of the two grids
        inside = np.abs(back - smooth)[4:-4, 4:-4].max()
        assert inside < 2 * h ** 2 / 8 * (1 / 30.0 ** 2 + 1 / 40.0 ** 2) + 1e-4, (s, inside)
        assert np.abs(back - smooth).max() < h * (1 / 30.0 + 1 / 40.0), s


def test_positions_follow_the_convention():
    a = np.zeros((100, 100), np.float32)
    a[40, 60] = 1.0
    small = resample(a, 0.5, order=0)
    assert small[20, 30] == 1.0  # out[i] = a(i / s)
    assert resample(a, 1.0) is a
    with pytest.raises(ValueError, match="2D"):
        resample(np.zeros((2, 3, 4)), 0.5)
