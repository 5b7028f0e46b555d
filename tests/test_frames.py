"""LazyFrames and the on-disk FrameStore."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

from celltrace.frames import FrameStore, LazyFrames


def test_lazy_frames_index_slice_iterate():
    data = np.arange(5 * 3 * 4, dtype=np.uint16).reshape(5, 3, 4)
    calls = []
    lf = LazyFrames(5, (3, 4), np.uint16, lambda t: (calls.append(t), data[t])[1])
    assert lf.shape == (5, 3, 4) and len(lf) == 5 and not calls  # nothing read up front
    np.testing.assert_array_equal(lf[-1], data[4])
    np.testing.assert_array_equal(np.asarray(lf[1:4]), data[1:4])
    np.testing.assert_array_equal(lf[[0, 2]], data[[0, 2]])
    np.testing.assert_array_equal(np.stack(list(lf)), data)
    np.testing.assert_array_equal(lf.map(lambda t, f: f * 2)[3], data[3] * 2)
    with pytest.raises(IndexError):
        lf[5]


def test_frame_store_round_trip_and_cleanup():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 70000, size=(4, 33, 47)).astype(np.uint32)
    store = FrameStore((33, 47), np.uint32)
    for f in frames:
        store.append(f)
    view = store.frames()
    np.testing.assert_array_equal(np.asarray(view), frames)
    folder = store.folder
    assert os.path.isdir(folder) and len(os.listdir(folder)) == 4
    with pytest.raises(ValueError, match="shape"):
        store.append(np.zeros((2, 2)))
    del store
    gc.collect()
    assert os.path.isdir(folder)  # the view keeps the store alive
    del view
    gc.collect()
    assert not os.path.exists(folder)
