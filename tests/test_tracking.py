"""Tracking: links → tracks, cell table, napari tracks, GEFF export, on real GT."""

from __future__ import annotations

import numpy as np
import pytest

from celltrace import Tracking
from celltrace.frames import LazyFrames
from celltrace.io.geff import read_geff_graph
from celltrace.linking.graph import frame_labels
from conftest import ctc_gt, ctc_sequence
from celltrace import open_movie


def _links_of(gt: Tracking) -> list[tuple[int, int, int, int]]:
    """The GT expressed as links between per-frame objects (labels = GT labels)."""
    links = []
    for r in gt.lineage.itertuples():
        links += [(t, r.label, t + 1, r.label) for t in range(r.begin, r.end)]
        if r.parent:
            pend = int(gt.lineage.set_index("label").loc[r.parent, "end"])
            links.append((pend, r.parent, r.begin, r.label))
    return links


def test_from_links_rebuilds_real_gt_lineage():
    gt = Tracking.from_ctc(ctc_gt("Fluo-N2DH-SIM+"))
    seg = np.asarray(gt.masks[:40])
    sub = Tracking(seg, gt.lineage[gt.lineage.begin < 40].assign(end=lambda d: d.end.clip(upper=39)))
    sub.validate()
    # scramble labels per frame so the linker's input carries no identity
    rng = np.random.default_rng(0)
    scrambled = np.zeros_like(seg)
    perms = []
    for t in range(len(seg)):
        perm = np.zeros(int(seg.max()) + 1, dtype=np.int64)
        perm[1:] = rng.permutation(np.arange(1, seg.max() + 1)) + 1000
        scrambled[t] = perm[seg[t]]
        perms.append(perm)
    links = [(t0, perms[t0][l0], t1, perms[t1][l1]) for t0, l0, t1, l1 in _links_of(sub)]
    rebuilt = Tracking.from_links(scrambled, links)
    rebuilt.validate()
    assert rebuilt.n_tracks == sub.n_tracks
    assert len(rebuilt.divisions()) == len(sub.divisions())
    # same partition of pixels into tracks: a one-to-one map between labels over the whole movie
    a, b = sub.masks.ravel().astype(np.int64), rebuilt.masks.ravel().astype(np.int64)
    code = np.unique(a * (int(b.max()) + 1) + b)
    pairs = np.stack([code // (int(b.max()) + 1), code % (int(b.max()) + 1)])
    assert len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]
    # same lineage up to that relabelling
    to_new = dict(zip(pairs[0].tolist(), pairs[1].tolist()))
    expect = {(to_new[r.label], r.begin, r.end, to_new.get(r.parent, 0)) for r in sub.lineage.itertuples()}
    got = {tuple(r) for r in rebuilt.lineage.itertuples(index=False)}
    assert got == expect


def test_from_links_gap_and_merge_rules():
    seg = np.zeros((4, 5, 5), np.uint16)
    seg[0, 0, 0] = 1
    seg[2, 0, 0] = 7   # reappears after a one-frame gap
    seg[3, 0, 0] = 7
    seg[0, 4, 4] = 2
    seg[1, 4, 4] = 3
    links = [(0, 1, 2, 7), (2, 7, 3, 7), (0, 2, 1, 3), (0, 1, 1, 3)]  # the last would merge: dropped
    tr = Tracking.from_links(seg, links).validate()
    rows = {tuple(r) for r in tr.lineage.itertuples(index=False)}
    assert rows == {(1, 0, 0, 0), (2, 0, 1, 0), (3, 2, 3, 1)}  # gap → new label with parent
    with pytest.raises(ValueError, match="forward in time"):
        Tracking.from_links(seg, [(2, 7, 0, 1)])
    lazy = LazyFrames(4, (5, 5), np.uint16, lambda t: seg[t])
    tr_lazy = Tracking.from_links(lazy, links)
    assert isinstance(tr_lazy.masks, LazyFrames)
    np.testing.assert_array_equal(np.asarray(tr_lazy.masks), np.asarray(tr.masks))


def test_cell_table_napari_and_geff_on_real_gt(tmp_path):
    gt = Tracking.from_ctc(ctc_gt("Fluo-C2DL-MSC"))
    movie = open_movie(ctc_sequence("Fluo-C2DL-MSC"))
    table = gt.cell_table(movie)
    assert list(table.columns) == ["frame", "label", "parent", "centroid_y", "centroid_x", "area", "bbox_min_y",
                                   "bbox_min_x", "bbox_max_y", "bbox_max_x", "mean_intensity"]
    # one row per label per frame it lives in
    assert len(table) == int((gt.lineage.end - gt.lineage.begin + 1).sum())
    # check one cell against a direct computation
    row = table[(table.frame == 10)].iloc[0]
    m = np.asarray(gt.masks[10]) == row.label
    yy, xx = np.nonzero(m)
    assert row.area == m.sum()
    assert row.centroid_y == pytest.approx(yy.mean()) and row.centroid_x == pytest.approx(xx.mean())
    assert (row.bbox_min_y, row.bbox_max_y) == (yy.min(), yy.max() + 1)
    assert row.mean_intensity == pytest.approx(movie[10][m].mean())
    gt.to_csv(tmp_path / "cells.csv", movie)
    assert (tmp_path / "cells.csv").read_text().splitlines()[0].startswith("frame,label,parent")

    data, graph = gt.to_napari_tracks()
    assert data.shape == (len(table), 4)
    assert graph == {}  # MSC has no parents
    sim = Tracking.from_ctc(ctc_gt("Fluo-N2DH-SIM+"))
    _, sim_graph = sim.to_napari_tracks()
    assert len(sim_graph) == int((sim.lineage.parent > 0).sum())

    store = gt.to_geff(tmp_path / "msc.geff")
    g = read_geff_graph(store)
    assert g.number_of_nodes() == len(table)
    n_edges = int((gt.lineage.end - gt.lineage.begin).sum() + (gt.lineage.parent > 0).sum())
    assert g.number_of_edges() == n_edges
    assert frame_labels(gt.masks[:1])[0].tolist() == sorted(table[table.frame == 0].label.tolist())


def test_parent_cycles_end_on_any_lineage():
    from celltrace.tracking import parent_cycles

    assert parent_cycles({1: 1, 2: 3, 3: 2, 4: 5, 5: 6, 6: 4, 7: 0, 8: 7, 9: 99, 10: 4}) == [[1], [2, 3], [4, 5, 6]]
    assert parent_cycles({}) == []
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 40))
        parent = {i: int(rng.integers(0, n + 2)) for i in range(1, n + 1)}
        for cyc in parent_cycles(parent):   # every reported cycle is one, walked in parent order
            assert [parent[c] for c in cyc] == cyc[1:] + cyc[:1]


def test_window_of_real_gt():
    gt = Tracking.from_ctc(ctc_gt("Fluo-N2DH-SIM+"))
    w = gt.window(10, 30).validate()            # cell 3 divides at frame 15 (daughters 11, 12)
    assert w.n_frames == 20 and w.meta["mask_files"][0].endswith("man_track010.tif")
    np.testing.assert_array_equal(w.masks[5], gt.masks[15])
    rows = w.lineage.set_index("label")
    assert tuple(rows.loc[3]) == (0, 4, 0) and tuple(rows.loc[11]) == (5, 19, 3)
    later = gt.window(20, 25).validate()        # the mother is gone: daughters have no parent
    assert 3 not in set(later.lineage.label) and later.lineage.set_index("label").loc[11, "parent"] == 0
    with pytest.raises(ValueError):
        gt.window(5, 5)


def test_object_links_ignore_track_numbering_and_see_a_missing_link():
    """A cell that continues her mother's label and one that continues her under a new label
    (parent = mother) link the same objects; a birth instead of that link does not."""
    masks = np.zeros((3, 8, 8), np.uint16)
    masks[:, 1:3, 1:3] = [[[1]], [[1]], [[1]]]
    masks[0, 5:7, 5:7] = 2
    masks[1, 5:7, 5:7] = 2
    masks[2, 5:7, 5:7] = 2
    same = Tracking(masks=masks.copy(), lineage=[(1, 0, 2, 0), (2, 0, 2, 0)]).validate()
    relabelled = masks.copy()
    relabelled[2][relabelled[2] == 2] = 3
    new_label = Tracking(masks=relabelled, lineage=[(1, 0, 2, 0), (2, 0, 1, 0), (3, 2, 2, 2)]).validate()
    birth = Tracking(masks=relabelled.copy(), lineage=[(1, 0, 2, 0), (2, 0, 1, 0), (3, 2, 2, 0)]).validate()
    assert len(same.object_links()) == 4
    assert new_label.object_links() == same.object_links()
    assert birth.object_links() == same.object_links() - {(1, 5 * 8 + 5, 2, 5 * 8 + 5)}
