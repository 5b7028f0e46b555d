"""AEG window sampling (train/samplers.py) on synthetic lineages with exact divisions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from celltrace.synth import SynthConfig, simulate_cells
from celltrace.train.samplers import AEGSampler, DivisionEvent, Window, division_events


def _lineage():
    return simulate_cells(SynthConfig(n_frames=120, shape=(128, 128), n_cells=15, seed=4, division_rate=0.01)).lineage


def test_division_events_are_the_lineage_divisions():
    lin = _lineage()
    events = division_events(lin)
    kids = lin[lin["parent"] > 0].groupby("parent")
    expected = {int(p) for p, g in kids if len(g) >= 2}
    assert {e.parent for e in events} == expected and events
    ends = dict(zip(lin["label"], lin["end"]))
    for e in events:
        assert e.a == ends[e.parent]
        assert e.b == lin[lin["parent"] == e.parent]["begin"].min()
        assert e.b > e.a


def test_aeg_windows_hold_whole_divisions_at_the_stated_rate():
    lin = _lineage()
    events = division_events(lin)
    sampler = AEGSampler(120, 24, events)
    n_div, t_div = len(sampler.events), np.mean([e.b - e.a + 1 for e in sampler.events])
    assert sampler.p_aeg == pytest.approx(min(1.0, n_div * t_div / 120))
    assert 0 < sampler.p_aeg < 1
    rng = np.random.default_rng(0)
    windows = [sampler.sample(rng) for _ in range(3000)]
    anchored = [w for w in windows if w.event is not None]
    # anchored at the stated rate (binomial, 3000 draws: 4 sigma is < 0.04)
    assert abs(len(anchored) / len(windows) - sampler.p_aeg) < 0.04
    # every anchored window holds its whole division, and lies inside the sequence
    assert all(w.holds(w.event) for w in anchored)
    assert all(0 <= w.start and w.start + w.length <= 120 for w in windows)
    # so windows with a whole division are at least as frequent as P_AEG, more than uniform sampling gives
    holds_any = np.mean([any(w.holds(e) for e in sampler.events) for w in windows])
    uniform = AEGSampler(120, 24, events, enabled=False)
    assert uniform.p_aeg == 0.0
    u_windows = [uniform.sample(rng) for _ in range(3000)]
    assert all(w.event is None for w in u_windows)
    holds_any_uniform = np.mean([any(w.holds(e) for e in sampler.events) for w in u_windows])
    assert holds_any >= sampler.p_aeg - 0.04
    assert holds_any > holds_any_uniform


def test_aeg_without_events_is_uniform_and_rejects_bad_sizes():
    empty = pd.DataFrame({"label": [1], "begin": [0], "end": [9], "parent": [0]})
    sampler = AEGSampler(10, 4, division_events(empty))
    assert sampler.p_aeg == 0.0
    starts = {sampler.sample(np.random.default_rng(i)).start for i in range(200)}
    assert starts == set(range(7))
    with pytest.raises(ValueError):
        AEGSampler(0, 4, [])
    # a window holds an event only when both of its frames are inside
    assert Window(5, 4).holds(DivisionEvent(1, 5, 6)) and not Window(5, 4).holds(DivisionEvent(1, 4, 5))
    assert not Window(5, 4).holds(DivisionEvent(1, 8, 9))
