"""drop_short_tracks / track --min-track-length: short tracks go, the lineage stays valid."""

from __future__ import annotations

import json

import numpy as np

from celltrace import Tracking
from celltrace.cli import main
from celltrace.linking.filters import drop_short_tracks
from conftest import crop_sequence, ctc_gt


def painted(rows: list[tuple[int, int, int, int]], T: int = 12) -> Tracking:
    """A tracking whose label ``l`` is one pixel at column ``l`` in frames ``begin..end``."""
    masks = np.zeros((T, 4, 16), np.uint16)
    for label, begin, end, _ in rows:
        masks[begin:end + 1, 1, label] = label
    return Tracking(masks=masks, lineage=rows)


def lineage(tr: Tracking) -> list[tuple[int, ...]]:
    return [tuple(int(v) for v in r) for r in tr.lineage.itertuples(index=False)]


def test_children_of_dropped_tracks_are_reattached_sensibly():
    rows = [(1, 0, 3, 0), (2, 4, 4, 1), (3, 6, 11, 2),      # 1 → short fragment 2 → 3: becomes a gap 1 → 3
            (4, 0, 5, 0), (5, 6, 6, 4), (6, 6, 11, 4),      # mother 4, daughter 5 short …
            (7, 7, 11, 5),                                  # … continued by 7: 7 becomes 4's daughter
            (8, 0, 1, 0), (9, 2, 11, 8), (10, 2, 11, 8),    # short root mother 8: daughters become roots
            (11, 3, 4, 0)]                                  # a short track on its own
    out = drop_short_tracks(painted(rows), 3).validate()
    assert lineage(out) == [(1, 0, 3, 0), (3, 6, 11, 1), (4, 0, 5, 0), (6, 6, 11, 4), (7, 7, 11, 4),
                            (9, 2, 11, 0), (10, 2, 11, 0)]
    masks = np.asarray(out.masks)
    for gone in (2, 5, 8, 11):
        assert not (masks == gone).any()
    assert out.meta["dropped_tracks"] == 4


def test_an_ancestor_never_gets_more_than_two_children():
    rows = [(1, 0, 3, 0), (2, 4, 4, 1), (3, 4, 11, 1),      # 1 divides into 2 (short) and 3
            (4, 5, 11, 2), (5, 5, 11, 2)]                   # short 2 divides again: 1 would have three
    out = drop_short_tracks(painted(rows), 2).validate()
    assert lineage(out) == [(1, 0, 3, 0), (3, 4, 11, 1), (4, 5, 11, 0), (5, 5, 11, 0)]


def test_on_real_ground_truth_with_many_divisions():
    gt = Tracking.from_ctc(ctc_gt("Fluo-N2DH-SIM+"))
    lin = gt.lineage
    short = int(((lin["end"] - lin["begin"] + 1) < 10).sum())
    assert short > 0 and len(gt.divisions()) == 44
    out = drop_short_tracks(gt, 10).validate()
    assert out.n_tracks == gt.n_tracks - short
    assert ((out.lineage["end"] - out.lineage["begin"] + 1) >= 10).all()
    assert 0 < len(out.divisions()) <= len(gt.divisions())
    assert drop_short_tracks(gt, 1) is gt


def test_track_min_track_length_on_real_movie(tmp_path, capsys):
    seq = crop_sequence("Fluo-N2DH-GOWT1", tmp_path / "seq", frames=10, box=(200, 200, 320, 320))
    assert main(["track", str(seq), "--method", "classic", "--out", str(tmp_path / "all"), "-q"]) == 0
    assert main(["track", str(seq), "--method", "classic", "--out", str(tmp_path / "long"), "-q",
                 "--min-track-length", "3"]) == 0, capsys.readouterr().err
    every, long = Tracking.from_ctc(tmp_path / "all").validate(), Tracking.from_ctc(tmp_path / "long").validate()
    lengths = every.lineage["end"] - every.lineage["begin"] + 1
    assert (lengths < 3).any() and long.n_tracks == int((lengths >= 3).sum()) > 0
    run = json.loads((tmp_path / "long" / "run.json").read_text())
    assert run["min_track_length"] == 3 and run["dropped_tracks"] == int((lengths < 3).sum())
