"""LAP linker: small constructed cases, brute-force agreement, pluggable costs, a 10,000-cell case."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.optimize import linear_sum_assignment

from celltrace.linking import (DivisionDetector, EuclideanCost, GapCloser, GatedCost, LAPLinker, object_features,
                               solve_lap)
from celltrace.tracking import Tracking, frame_measurements


def table(points, labels=None, areas=None) -> pd.DataFrame:
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    labels = np.arange(1, len(p) + 1) if labels is None else np.asarray(labels)
    areas = np.full(len(p), 100) if areas is None else np.asarray(areas)
    return pd.DataFrame({"label": labels, "y": p[:, 0], "x": p[:, 1], "area": areas})


def as_set(links) -> set[tuple[int, int, int, int]]:
    return {tuple(int(v) for v in row) for row in np.asarray(links)}


def test_moving_points_keep_identity():
    start = np.array([[10, 10], [10, 40], [40, 10], [40, 40]], float)
    frames = [table(start + t * np.array([2.0, 1.0]), labels=[4, 3, 2, 1]) for t in range(5)]
    links = LAPLinker(cost=EuclideanCost(10)).link(frames)
    assert as_set(links) == {(t, lab, t + 1, lab) for t in range(4) for lab in (1, 2, 3, 4)}


def test_lap_prefers_global_optimum_over_greedy():
    # greedy nearest-neighbour would take a0->b0 (cost 1) and force a1->b1 (cost 81);
    # the LAP takes a0->b1, a1->b0 (4 + 4)
    objs0 = table([[0, 0], [0, 4]])
    objs1 = table([[0, 1], [0, -2]])
    links = LAPLinker(cost=EuclideanCost(10)).link([objs0, objs1])
    assert as_set(links) == {(0, 1, 1, 2), (0, 2, 1, 1)}


def test_births_and_deaths():
    f0 = table([[10, 10], [50, 50]])
    f1 = table([[11, 10], [90, 90]])  # object 2 dies, a new object appears far away
    f2 = table([[12, 10], [90, 91]])
    links = LAPLinker(cost=EuclideanCost(10)).link([f0, f1, f2])
    assert as_set(links) == {(0, 1, 1, 1), (1, 1, 2, 1), (1, 2, 2, 2)}


def test_alternative_cost_rejects_expensive_links():
    f0, f1 = table([[0, 0]]), table([[0, 8]])
    assert len(LAPLinker(cost=EuclideanCost(10)).link([f0, f1])) == 1          # gate decides
    assert len(LAPLinker(cost=EuclideanCost(10), birth_cost=10, death_cost=10).link([f0, f1])) == 0  # 64 > 20


@pytest.mark.parametrize("seed", range(8))
def test_solve_lap_matches_dense_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 9, size=2)
    dense = rng.uniform(0, 10, (n, m))
    allowed = rng.uniform(size=(n, m)) < 0.6
    d, b = rng.uniform(1, 6, n), rng.uniform(1, 6, m)
    rows, cols = np.nonzero(allowed)
    r, c = solve_lap(n, m, rows, cols, dense[rows, cols], d, b)
    got = dense[r, c].sum() + d.sum() - d[r].sum() + b.sum() - b[c].sum()
    big = 1e6
    full = np.full((n + m, m + n), big)
    full[:n, :m] = np.where(allowed, dense, big)
    full[:n, m:] = np.where(np.eye(n, dtype=bool), d[:, None], big)
    full[n:, :m] = np.where(np.eye(m, dtype=bool), b[None, :], big)
    full[n:, m:] = np.where(allowed.T, 0.0, big)
    ri, ci = linear_sum_assignment(full)
    assert got == pytest.approx(full[ri, ci].sum())
    assert len(set(r.tolist())) == len(r) and len(set(c.tolist())) == len(c)


def test_division_mother_continues():
    f0 = table([[50, 50], [10, 90]], areas=[400, 300])
    f1 = table([[50, 44], [50, 57], [11, 90]], areas=[200, 190, 300])
    det = DivisionDetector(max_distance=15, max_cost=1.0)
    links = LAPLinker(cost=EuclideanCost(10), divisions=det).link([f0, f1])
    assert as_set(links) == {(0, 1, 1, 1), (0, 1, 1, 2), (0, 2, 1, 3)}
    seg = np.zeros((2, 100, 100), np.uint16)
    for t, tab in enumerate((f0, f1)):
        for r in tab.itertuples():
            seg[t, int(r.y) - 1:int(r.y) + 2, int(r.x) - 1:int(r.x) + 2] = r.label
    tracking = Tracking.from_links(seg, links).validate()
    assert len(tracking.divisions()) == 1


def test_division_mother_ends_when_daughters_are_far():
    f0 = table([[50, 50]], areas=[400])
    f1 = table([[50, 36], [50, 64]], areas=[200, 200])  # both daughters beyond the link gate
    det = DivisionDetector(max_distance=20, max_cost=1.0)
    links = LAPLinker(cost=EuclideanCost(10), divisions=det).link([f0, f1])
    assert as_set(links) == {(0, 1, 1, 1), (0, 1, 1, 2)}


def test_no_division_for_unrelated_birth():
    f0 = table([[50, 50]], areas=[400])
    f1 = table([[50, 51], [50, 62]], areas=[400, 60])  # mother keeps her size, newcomer is small
    links = LAPLinker(cost=EuclideanCost(10), divisions=DivisionDetector(max_distance=20)).link([f0, f1])
    assert as_set(links) == {(0, 1, 1, 1)}


def test_gap_closing_joins_across_missing_frames():
    frames = [table([[10, 10], [60, 60]]), table([[11, 10], [60, 61]]), table([[60, 62]], labels=[2]),
              table([[60, 63]], labels=[2]), table([[14, 10], [60, 64]])]
    plain = LAPLinker(cost=EuclideanCost(5)).link(frames)
    assert (1, 1, 4, 1) not in as_set(plain)
    closed = LAPLinker(cost=EuclideanCost(5), gap_closing=GapCloser(max_gap=2, max_distance=10)).link(frames)
    assert (1, 1, 4, 1) in as_set(closed)
    too_short = LAPLinker(cost=EuclideanCost(5), gap_closing=GapCloser(max_gap=1, max_distance=10)).link(frames)
    assert (1, 1, 4, 1) not in as_set(too_short)


def test_pluggable_costs_gated_score_and_sparse_matrix():
    f0 = table([[0, 0], [0, 10]], areas=[100, 400])
    f1 = table([[0, 6], [0, 4]], areas=[100, 400])   # positions swapped towards each other, areas say who is who

    def area_score(t, a, b, rows, cols):
        return np.abs(np.log(a["area"].to_numpy()[rows] / b["area"].to_numpy()[cols]))

    links = LAPLinker(cost=GatedCost(area_score, max_distance=20), birth_cost=1, death_cost=1).link([f0, f1])
    assert as_set(links) == {(0, 1, 1, 1), (0, 2, 1, 2)}

    def matrix_cost(t, a, b):
        return sparse.csr_matrix(np.array([[0.0, 5.0], [7.0, 0.0]]) + 1.0)

    links = LAPLinker(cost=matrix_cost, birth_cost=5, death_cost=5).link([f0, f1])
    assert as_set(links) == {(0, 1, 1, 1), (0, 2, 1, 2)}


def test_object_features_match_frame_measurements():
    rng = np.random.default_rng(3)
    lab = rng.integers(0, 6, size=(40, 50)) * 7
    a = object_features(lab)
    b = frame_measurements(lab, None, 0)
    assert a["label"].tolist() == b["label"].tolist()
    np.testing.assert_allclose(a["y"], b["centroid_y"])
    np.testing.assert_allclose(a["x"], b["centroid_x"])
    assert (a["area"].to_numpy() == b["area"].to_numpy()).all()
    assert len(object_features(np.zeros((5, 5), int))) == 0


def test_ten_thousand_cells_small_motion():
    rng = np.random.default_rng(0)
    n, side = 10_000, 2000.0  # mean spacing 20 px, motion sigma 1 px, gate 8 px
    pos = rng.uniform(0, side, (n, 2))
    frames = []
    for t in range(3):
        frames.append(table(pos, labels=rng.permutation(n) + 1))
        pos = pos + rng.normal(0, 1.0, pos.shape)
    truth = [dict(zip(np.arange(n), f["label"])) for f in frames]
    t0 = time.perf_counter()
    links = LAPLinker(cost=EuclideanCost(8)).link(frames)
    per_frame = (time.perf_counter() - t0) / 2
    expected = {(t, int(truth[t][i]), t + 1, int(truth[t + 1][i])) for t in range(2) for i in range(n)}
    correct = len(as_set(links) & expected) / len(expected)
    assert correct > 0.98, correct
    assert per_frame < 3.0, per_frame  # ~0.15 s/frame measured on 2 shared cores


def chain(label: int, t0: int, t1: int) -> list[tuple[int, int, int, int]]:
    """Continuation links of one object label from frame t0 to t1."""
    return [(t, label, t + 1, label) for t in range(t0, t1)]


def test_a_division_whose_daughter_vanishes_at_once_is_taken_back():
    from celltrace.linking.divisions import branch_end, prune_short_daughters

    # mother 1 (frames 0..4) divides into 1 (lives on to frame 9) and 2 (frame 5 only: a fragment);
    # mother 3 divides at 4 -> 5 into 3 and 4, both living to the end; mother 5 divides into 5 and
    # 6, and 6 is still alive when the movie ends (frame 9) after two frames: kept
    links = chain(1, 0, 9) + [(4, 1, 5, 2)] + chain(3, 0, 9) + [(4, 3, 5, 4)] + chain(4, 5, 9) \
        + chain(5, 0, 9) + [(7, 5, 8, 6)] + chain(6, 8, 9)
    links = np.array(links, np.int64)
    keys, last, base = branch_end(links)
    reach = dict(zip(keys.tolist(), last.tolist()))
    assert reach[5 * base + 4] == 9 and reach[5 * base + 2] == 5 and reach[0 * base + 1] == 9
    pruned = prune_short_daughters(links, n_frames=10, min_frames=3)
    assert as_set(links) - as_set(pruned) == {(4, 1, 5, 2)}
    assert as_set(prune_short_daughters(links, n_frames=10, min_frames=1)) == as_set(links)
    # a branch that divides again counts to its longest descendant: 2 -> (2, 7) living to frame 9
    deeper = np.concatenate([links, np.array(chain(2, 5, 6) + [(6, 2, 7, 7)] + chain(7, 7, 9), np.int64)])
    assert as_set(prune_short_daughters(deeper, n_frames=10, min_frames=3)) == as_set(deeper)


def test_of_two_short_daughters_only_the_shorter_link_is_removed():
    from celltrace.linking.divisions import prune_short_daughters

    links = np.array(chain(1, 0, 4) + [(4, 1, 5, 2), (4, 1, 5, 3)] + chain(3, 5, 6), np.int64)
    pruned = prune_short_daughters(links, n_frames=20, min_frames=3)
    assert as_set(links) - as_set(pruned) == {(4, 1, 5, 2)}  # 3 (two frames) continues the mother


def test_the_standard_linker_prunes_after_gap_closing():
    """A daughter lost for a frame and picked up by gap closing lives on: her division stays."""
    mother = [[50, 50]]
    frames = [table(mother, areas=[400]), table(mother, areas=[400]),
              table([[50, 44], [50, 57]], areas=[200, 190]), table([[50, 43]], areas=[200]),
              table([[50, 42], [50, 59]], areas=[200, 190]), table([[50, 41], [50, 60]], areas=[200, 190])]
    det = DivisionDetector(max_distance=15, max_cost=1.0, min_branch_frames=3)
    linker = LAPLinker(cost=EuclideanCost(10), divisions=det, gap_closing=GapCloser(max_gap=1, max_distance=10))
    links = as_set(linker.link(frames))
    assert (1, 1, 2, 2) in links and (2, 2, 4, 2) in links
    no_gaps = as_set(LAPLinker(cost=EuclideanCost(10), divisions=det).link(frames))
    assert (1, 1, 2, 2) not in no_gaps  # without gap closing the daughter dies after one frame


def test_a_daughter_that_jumps_past_the_frame_gate_keeps_her_division_with_jumps_closed():
    """Daughter 2 moves 12 px between frames 3 and 4 (frame gate 10, gap gate 15): without jumps her
    track ends, the division is taken back as a short branch and she is born again; with jumps the
    gap closer continues her track and the division stays."""
    frames = [table([[50, 50]], areas=[400]), table([[50, 50]], areas=[400]),
              table([[50, 44], [50, 57]], areas=[200, 190]), table([[50, 43], [50, 58]], areas=[200, 190]),
              table([[50, 42], [50, 70]], areas=[200, 190]), table([[50, 41], [50, 71]], areas=[200, 190])]
    det = DivisionDetector(max_distance=15, max_cost=1.0, min_branch_frames=3)

    def links(jumps: bool) -> set:
        gaps = GapCloser(max_gap=1, max_distance=15, jumps=jumps)
        return as_set(LAPLinker(cost=EuclideanCost(10), divisions=det, gap_closing=gaps).link(frames))

    with_jumps, without = links(True), links(False)
    assert {(1, 1, 2, 2), (3, 2, 4, 2)} <= with_jumps
    assert (1, 1, 2, 2) not in without and (3, 2, 4, 2) not in without
    assert GapCloser(jumps=True).min_interval == 1 and GapCloser().min_interval == 2


def test_a_mother_that_keeps_her_size_did_not_divide():
    """Two mothers beside one birth: the nearer one keeps her size (she did not divide), the other
    halves (she did). Without the shrink term the nearer one takes the daughter."""
    from celltrace.linking.divisions import GeometricDivisionCost

    f0 = table([[50, 50], [50, 80]], areas=[400, 400])
    f1 = table([[50, 49], [50, 86], [50, 58]], areas=[400, 200, 190])  # 1 keeps her size, 2 halves
    det = lambda w: DivisionDetector(max_distance=25, max_cost=1.5,  # noqa: E731
                                     cost=GeometricDivisionCost(scale=10, w_sym=0.25, w_shrink=w))
    plain = as_set(LAPLinker(cost=EuclideanCost(10), divisions=det(0.0)).link([f0, f1]))
    assert (0, 1, 1, 3) in plain
    shrink = as_set(LAPLinker(cost=EuclideanCost(10), divisions=det(64.0)).link([f0, f1]))
    assert (0, 2, 1, 3) in shrink and (0, 1, 1, 3) not in shrink


def test_take_back_remerged_undoes_a_division_whose_daughter_ends_inside_her_sister():
    """Mother 1 (frame 0) → 1 (sister, frames 1–4) and 2 (piece, frames 1–2, then gone): when the
    predicate accepts the piece (asked with her objects and her sister's), the division goes and the piece is joined
    to her sister in frames 1 and 2. Kept: a piece that the predicate refuses, one that lasts to
    the last frame, one that divides, one whose sister has a gap under her."""
    from celltrace.linking.mitosis import take_back_remerged

    sister = [(t, 1, t + 1, 1) for t in range(4)]
    links = np.array(sister + [(0, 1, 1, 2), (1, 2, 2, 2)])
    before = links.copy()
    asked = []

    def yes(piece, sister):
        asked.append((piece, sister))
        return True

    kept, joins = take_back_remerged(links, 5, yes)
    assert as_set(kept) == set(sister) and joins == {1: [(1, 2)], 2: [(1, 2)]}
    assert asked == [([(1, 2), (2, 2)], {1: 1, 2: 1, 3: 1, 4: 1})] and np.array_equal(links, before)  # links kept
    assert as_set(take_back_remerged(links, 5, lambda *a: False)[0]) == as_set(links)
    assert take_back_remerged(links, 3, yes)[1] == {}  # the piece lasts to the last frame (2)
    divides = np.vstack([links, [(2, 2, 3, 2), (2, 2, 3, 3)]])
    assert take_back_remerged(divides, 5, yes)[1] == {}
    gap = np.array([(0, 1, 1, 1), (1, 1, 3, 1), (3, 1, 4, 1), (0, 1, 1, 2), (1, 2, 2, 2)])
    assert take_back_remerged(gap, 5, yes)[1] == {}  # no sister object in frame 2


def test_join_daughters_moves_a_division_one_frame_later():
    """Mother 1 (frame 0) → daughters 1, 2 (frame 1), each living on (frame 2): joined, 1 continues
    the mother in frame 1 and divides into frame 2's objects. A daughter that dies at once, or a
    second frame asked of daughters whose successors do not live on, stops the join."""
    from celltrace.linking.mitosis import join_daughters

    links = np.array([(0, 1, 1, 1), (0, 1, 1, 2), (1, 1, 2, 1), (1, 2, 2, 2)])
    joined, joins = join_daughters(links, 1)
    assert as_set(joined) == {(0, 1, 1, 1), (1, 1, 2, 1), (1, 1, 2, 2)} and joins == {1: [(1, 2)]}
    # two frames asked, but frame 2's daughters have no successor: only frame 1 is joined
    assert join_daughters(links, 2)[1] == {1: [(1, 2)]}
    longer = np.vstack([links, [(2, 1, 3, 1), (2, 2, 3, 2)]])
    joined2, joins2 = join_daughters(longer, 2)
    assert joins2 == {1: [(1, 2)], 2: [(1, 2)]}
    assert as_set(joined2) == {(0, 1, 1, 1), (1, 1, 2, 1), (2, 1, 3, 1), (2, 1, 3, 2)}
    dies = links[:3]  # daughter 2 has no successor
    assert as_set(join_daughters(dies, 1)[0]) == as_set(dies) and join_daughters(dies, 1)[1] == {}
    assert as_set(join_daughters(links, 0)[0]) == as_set(links)
    kept = links.copy()
    join_daughters(links, 1)
    assert (links == kept).all()  # the caller's links are not modified
    refused = join_daughters(links, 1, accept=lambda t, a, b: False)
    assert as_set(refused[0]) == as_set(links) and refused[1] == {}


def test_merge_pairs_fills_the_hull_between_two_pieces_but_takes_no_other_object():
    from celltrace.linking.mitosis import merge_pairs

    frame = np.zeros((40, 60), np.uint16)
    frame[10:30, 10:22] = 1
    frame[10:30, 30:42] = 2
    frame[18:22, 24:28] = 3  # another object between them
    out = merge_pairs(frame, [(1, 2)])
    assert (out[frame == 3] == 3).all() and not (out == 2).any()
    assert (out[10:30, 10:42][frame[10:30, 10:42] != 3] == 1).all()  # the gap filled
    assert (out[:10] == 0).all() and (out[30:] == 0).all() and (out[:, 42:] == 0).all()
    assert (frame[10:30, 30:42] == 2).all()  # the input is not modified


def test_the_shrink_term_spares_a_mother_that_ends():
    """A mitotic mother ends as condensed chromatin (300 px) and two daughters of 250 px each are
    born beside her, both beyond the link gate: the daughter-size limit (no daughter above 0.7 of
    her mother) would reject them, but it is meant for a mother that continues beside a birth.
    Applied to ended mothers too (``division_shrink_ended``) the division is lost."""
    from celltrace.linking.standard import LAPLinkingConfig, build_linker

    f0 = table([[50, 50]], areas=[300])
    f1 = table([[50, 38], [50, 62]], areas=[250, 250])
    cfg = dict(max_distance_factor=1.0, motion_gate_factor=0.0, division_shrink_weight=64.0)
    spared = build_linker(LAPLinkingConfig(**cfg), radius=10.0).link([f0, f1])
    assert as_set(spared) == {(0, 1, 1, 1), (0, 1, 1, 2)}
    strict = build_linker(LAPLinkingConfig(division_shrink_ended=True, **cfg), radius=10.0).link([f0, f1])
    assert as_set(strict) == set()
    # a mother that continues keeps the limit: her size beside a birth means she did not divide
    f1c = table([[50, 51], [50, 62]], areas=[290, 250])
    assert as_set(build_linker(LAPLinkingConfig(**cfg), radius=10.0).link([f0, f1c])) == {(0, 1, 1, 1)}


def test_hull_ratio_tells_pieces_with_a_gap_from_daughters_pressed_together():
    from celltrace.segmentation.pieces import union_hull_ratio as hull_ratio  # what classic's join asks

    frame = np.zeros((40, 60), np.uint16)
    frame[10:30, 10:22] = 1
    frame[10:30, 22:34] = 2  # pressed together: their union is a rectangle
    assert hull_ratio(frame, 1, 2) == pytest.approx(1.0)
    frame[10:30, 22:34] = 0
    frame[10:30, 30:42] = 2  # 8 px apart
    assert hull_ratio(frame, 1, 2) == pytest.approx(32 / 24, rel=0.05)


def test_split_merged_cuts_a_cell_out_of_the_object_she_was_merged_into():
    """Cells A (left) and B (right) touch in frame 1 and are one object there, which continues B;
    gap closing joined A from frame 0 to frame 2. The host is cut between the two seeds: A's part
    becomes a new object of frame 1 linked through, B keeps hers. A gap with nothing under A is
    left as it is; the edited frame replaces the segmentation's, lazily too."""
    from celltrace.frames import LazyFrames
    from celltrace.linking.merges import edited_segmentation, split_merged

    yy, xx = np.mgrid[:40, :64]
    disk = lambda cx: (yy - 20) ** 2 + (xx - cx) ** 2 <= 64  # noqa: E731
    f0 = np.where(disk(20), 1, np.where(disk(44), 2, 0))
    f1 = np.where(disk(24) | disk(39), 1, 0)  # merged, continues B
    f2 = np.where(disk(26), 1, np.where(disk(38), 2, 0))
    seg = np.stack([f0, f1, f2]).astype(np.uint16)
    links = np.array([(0, 2, 1, 1), (1, 1, 2, 2), (0, 1, 2, 1)])
    labels = [np.array([1, 2]), np.array([1]), np.array([1, 2])]
    out, edits, new_labels = split_merged(links, seg, labels)
    assert as_set(out) == {(0, 2, 1, 1), (1, 1, 2, 2), (0, 1, 1, 2), (1, 2, 2, 1)}
    assert list(edits) == [1] and list(new_labels[1]) == [1, 2] and list(labels[1]) == [1]
    cut = edits[1]
    assert (cut[:, :28][f1[:, :28] > 0] == 2).all() and (cut[:, 37:][f1[:, 37:] > 0] == 1).all()  # A left, B right
    assert ((cut > 0) == (f1 > 0)).all() and np.array_equal(seg[1], f1)  # no pixel lost; input kept
    lazy = LazyFrames(3, (40, 64), np.uint16, lambda t: seg[t])
    assert np.array_equal(edited_segmentation(lazy, edits)[1], cut)
    assert np.array_equal(edited_segmentation(seg, edits)[1], cut) and np.array_equal(seg[1], f1)
    gone = seg.copy()
    gone[1][xx < 31] = 0  # nothing under A in frame 1
    assert as_set(split_merged(links, gone, labels)[0]) == as_set(links)


def test_reemerged_cells_gives_a_daughter_back_to_the_cell_that_merged_into_her_mother():
    """A (left, label 1) and B (right, label 2) are apart in frames 0–1, one object continuing B in
    frames 2–3, apart again in 4–5; the linker made the part at A's place B's daughter. A's track
    ended inside B's object with a cell's area, so that daughter continues A through a gap link.
    Not when the walk back is too short, A's track too short, or A a small fragment."""
    from celltrace.linking.merges import reemerged_cells

    yy, xx = np.mgrid[:40, :64]
    disk = lambda cx, r=8: (yy - 20) ** 2 + (xx - cx) ** 2 <= r * r  # noqa: E731
    apart = lambda a, b: np.where(disk(a), 1, np.where(disk(b), 2, 0))  # noqa: E731
    merged = np.where(disk(25) | disk(39), 1, 0)
    seg = np.stack([apart(20, 44), apart(21, 43), merged, merged, np.where(disk(42), 1, np.where(disk(22), 2, 0)),
                    np.where(disk(42), 1, np.where(disk(22), 2, 0))]).astype(np.uint16)
    objects = [object_features(f) for f in seg]
    links = np.array([(0, 1, 1, 1), (0, 2, 1, 2), (1, 2, 2, 1), (2, 1, 3, 1), (3, 1, 4, 1), (3, 1, 4, 2),
                      (4, 1, 5, 1), (4, 2, 5, 2)])
    out = reemerged_cells(links, seg, objects, max_frames=5)
    assert as_set(out) == as_set(links) - {(3, 1, 4, 2)} | {(1, 1, 4, 2)}
    assert as_set(reemerged_cells(links, seg, objects, max_frames=1)) == as_set(links)  # host two frames back
    assert as_set(reemerged_cells(links, seg, objects, max_frames=2)) == as_set(out)
    assert as_set(reemerged_cells(links[1:], seg, objects, max_frames=5, min_track_frames=2)) == as_set(links[1:])
    small = seg.copy()
    small[:2][(small[:2] == 1) & ~disk(20, 4)[None] & ~disk(21, 4)[None]] = 0  # A a fragment of B's size / 4
    assert as_set(reemerged_cells(links, small, [object_features(f) for f in small], max_frames=5)) == as_set(links)
    assert as_set(reemerged_cells(links, seg, objects, max_frames=0)) == as_set(links)
