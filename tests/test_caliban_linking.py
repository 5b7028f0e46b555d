"""Caliban linking (paper §3.5): features, targets, training, and inference on real SIM+ data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.measure import regionprops

from celltrace.io.ctc import read_ctc
from celltrace.linking import object_features
from celltrace.metrics import evaluate
from celltrace.methods.caliban.link_features import estimate_radius, frame_features, neighbor_edges
from celltrace.methods.caliban.link_infer import CalibanLinker, LinkingConfig, track_with_model
from celltrace.methods.caliban.link_targets import (DIFFERENT, PARENT_CHILD, SAME, GroundTruthScorer, class_counts,
                                                    gt_histories, gt_links, window_tracking)
from celltrace.methods.caliban.link_train import (LinkTrainConfig, PairSampler, dihedral, link_loss, load_sequence,
                                                  pair_accuracy)
from celltrace.methods.caliban.linking_model import CalibanLinkModel, LinkModelConfig
from celltrace.movie import open_movie
from celltrace.tracking import Tracking
from conftest import ctc_gt, ctc_sequence

SIM = "Fluo-N2DH-SIM+"
WINDOW = (60, 100)  # 40 frames of SIM+ 02 with several divisions


@pytest.fixture(scope="module")
def sim_gt() -> Tracking:
    return read_ctc(ctc_gt(SIM))


@pytest.fixture(scope="module")
def sim_seq():
    ctc_sequence(SIM), ctc_gt(SIM)
    return load_sequence(ctc_gt(SIM).parent, frames=WINDOW)


@pytest.fixture(scope="module")
def tiny_trained(sim_seq):
    """A tiny model trained for a few dozen steps; returns (model, loss before, loss after) on a fixed batch."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only contend
    torch.manual_seed(0)
    model = CalibanLinkModel(LinkModelConfig(embed_dim=16, lstm_dim=16, fc_dim=32, heads=2))
    sampler = PairSampler([sim_seq], LinkTrainConfig(pairs_per_batch=2), history=7, seed=0)
    probe = [sampler(10_000 + k) for k in range(4)]

    def probe_loss() -> float:
        with torch.no_grad():
            return float(np.mean([float(link_loss(model, b)[0]) for b in probe]))

    before = probe_loss()
    from celltrace.train.loop import fit

    opt = torch.optim.RAdam(model.parameters(), lr=3e-3)
    hist = fit(model, link_loss, sampler, opt, steps=60, seed=0, progress=False, clip_norm=1.0)
    model.eval()
    after = probe_loss()
    torch.set_num_threads(threads)
    return model, before, after, hist


# ------------------------------------------------------------------------------------------ features
def test_frame_features_on_real_frame(sim_gt):
    movie = open_movie(ctc_sequence(SIM))
    labels, image = np.asarray(sim_gt.masks[120]), np.asarray(movie[120])
    r = estimate_radius(sim_gt.masks)
    f = frame_features(image, labels, r, crop_size=16, crop_factor=2.0)
    n = len(f)
    assert n > 20 and f.crops.shape == (n, 2, 16, 16) and f.crops.dtype == np.float32
    props = regionprops(labels)
    assert [p.label for p in props] == f.labels.tolist()
    ref = np.array([[p.area, p.perimeter, p.eccentricity] for p in props])
    np.testing.assert_allclose(f.morphology, ref, atol=1e-9)
    np.testing.assert_allclose(f.centroids, np.array([p.centroid for p in props]), atol=1e-9)
    # intensity channel: the cell's pixels normalised by the cell's own mean / std
    for k, lab in enumerate(f.labels):
        inside = f.crops[k, 1] > 0
        vals = image[labels == lab].astype(float)
        assert inside[8, 8] and inside.sum() > 50
        assert abs(f.crops[k, 0][inside].mean()) < 0.35
        assert 0.6 < f.crops[k, 0][inside].std() < 1.4
        # the mask channel covers the cell's part inside the window of side 2r:
        # crop pixels x (2r / 16)^2 ~ the cell's pixels within r of the centroid along y and x
        yy, xx = np.nonzero(labels == lab)
        in_window = ((np.abs(yy - f.centroids[k, 0]) < r) & (np.abs(xx - f.centroids[k, 1]) < r)).sum()
        assert inside.sum() * (2.0 * r / 16) ** 2 == pytest.approx(in_window, rel=0.15)
        # crop pixel (i, j) = bilinear sample at c + ((i, j) + 0.5) / 16 - 0.5) * 2r, normalised
        for i, j in [(8, 8), (3, 12), (15, 0)]:
            y, x = f.centroids[k] + (np.array([i, j]) + 0.5 - 8) / 16 * 2 * r
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            if not (0 <= y0 < image.shape[0] - 1 and 0 <= x0 < image.shape[1] - 1):
                continue  # outside the frame the crop repeats the edge pixels
            wy, wx = y - y0, x - x0
            p = image.astype(float)
            v = ((1 - wy) * (1 - wx) * p[y0, x0] + (1 - wy) * wx * p[y0, x0 + 1]
                 + wy * (1 - wx) * p[y0 + 1, x0] + wy * wx * p[y0 + 1, x0 + 1])
            assert f.crops[k, 0, i, j] == pytest.approx((v - vals.mean()) / vals.std(), abs=1e-4)
    # adjacency: every pair closer than the neighbour distance, both ways, nothing else
    D = 64 * r / 8
    d = np.linalg.norm(f.centroids[:, None] - f.centroids[None], axis=2)
    want = {(i, j) for i in range(n) for j in range(n) if i != j and d[i, j] < D}
    assert set(map(tuple, f.edges.T.tolist())) == want
    assert neighbor_edges(f.centroids[:1], D).shape == (2, 0)


def test_dihedral_augmentation_matches_rotated_frame(sim_gt):
    movie = open_movie(ctc_sequence(SIM))
    labels, image = np.asarray(sim_gt.masks[100]), np.asarray(movie[100]).astype(float)
    r = 20.0
    f = frame_features(image, labels, r)
    for k, flip in [(1, False), (2, True), (3, False)]:
        rl, ri = np.rot90(labels, k), np.rot90(image, k)
        if flip:
            rl, ri = rl[:, ::-1], ri[:, ::-1]
        g = frame_features(np.ascontiguousarray(ri), np.ascontiguousarray(rl), r)
        a = dihedral(f, k, flip)
        assert a.shape == g.shape
        np.testing.assert_allclose(a.centroids, g.centroids, atol=1e-9)
        np.testing.assert_allclose(a.crops, g.crops, atol=1e-4)


# ------------------------------------------------------------------------------------------ targets
def test_targets_from_sim_gt_match_lineage(sim_seq):
    seq = sim_seq
    counts = class_counts(seq.targets)
    assert (counts > 0).all(), counts
    gt = seq.gt
    info = {int(r.label): (int(r.begin), int(r.end), int(r.parent)) for r in gt.lineage.itertuples()}
    divs = gt.divisions()
    assert len(divs) >= 3
    for p in seq.targets:
        a = seq.features[p.t].labels[p.rows]
        b = seq.features[p.t + 1].labels[p.cols]
        assert (p.y[a == b] == SAME).all() and (a[p.y == SAME] == b[p.y == SAME]).all()
        pc = p.y == PARENT_CHILD
        assert all(info[int(x)][2] == int(m) and info[int(x)][0] == p.t + 1 for m, x in zip(a[pc], b[pc]))
        # every cell present in both frames is a gated SAME candidate
        both = np.intersect1d(seq.features[p.t].labels, seq.features[p.t + 1].labels)
        assert set(both.tolist()) == set(a[p.y == SAME].tolist())
        assert (p.y[(a != b) & ~pc] == DIFFERENT).all()
    # every GT division gives a parent-child pair per daughter
    for d in divs.itertuples():
        p = seq.targets[int(d.frame) - 1]
        a = seq.features[p.t].labels[p.rows]
        b = seq.features[p.t + 1].labels[p.cols]
        got = set(b[(p.y == PARENT_CHILD) & (a == d.parent)].tolist())
        assert got == set(d.daughters)
    # histories: the last column is the cell itself, earlier ones the same label, -1 before the track
    t = 20
    rows = np.arange(len(seq.features[t]))
    h = gt_histories(seq.features, t, rows, 7)
    off = seq.offsets
    assert (h[:, -1] == off[t] + rows).all()
    for k in range(6):
        ok = h[:, k] >= 0
        s = t - 6 + k
        assert (seq.features[s].labels[h[ok, k] - off[s]] == seq.features[t].labels[ok]).all()


# ------------------------------------------------------------------------------------------ training
def test_tiny_model_loss_falls_on_sim(tiny_trained):
    _, before, after, hist = tiny_trained
    assert len(hist.loss) == 60 and np.isfinite(hist.loss).all()
    assert after < 0.8 * before, (before, after)


def test_pair_accuracy_reports_every_class(tiny_trained, sim_seq):
    model = tiny_trained[0]
    acc = pair_accuracy(model, sim_seq, sim_seq.train_pairs()[:10], 7)
    assert set(acc) >= {"acc_same", "acc_different", "acc_parent-child", "accuracy", "confusion"}
    assert 0.0 <= acc["accuracy"] <= 1.0


# ------------------------------------------------------------------------------------------ inference
def test_learned_linker_gives_valid_tracking(tiny_trained, sim_seq):
    model = tiny_trained[0]
    masks = np.asarray(sim_seq.gt.masks[20:32])
    movie = np.stack([np.asarray(sim_seq.movie[t]) for t in range(20, 32)])
    tr = track_with_model(movie, masks, model, LinkingConfig(), radius=sim_seq.radius)
    tr.validate()
    assert tr.n_frames == 12 and tr.meta["n_objects"] == sum(len(np.unique(m)) - 1 for m in masks)
    # masks keep their pixels: only the label values change
    assert ((np.asarray(tr.masks) > 0) == (masks > 0)).all()
    gt = window_tracking(sim_seq.gt, 20, 32)
    assert evaluate(tr, gt, metrics=["ctc"])["TRA"] > 0.5


def test_ground_truth_scorer_reproduces_gt_lineage(sim_gt):
    gt = window_tracking(sim_gt, 90, 130)
    assert len(gt.divisions()) >= 3
    tables = [object_features(np.asarray(gt.masks[t])) for t in range(gt.n_frames)]
    scorer = GroundTruthScorer([tb["label"].to_numpy() for tb in tables], gt.lineage)
    links = CalibanLinker(scorer, estimate_radius(gt.masks), LinkingConfig()).link(tables)
    assert {tuple(x) for x in links.tolist()} == {tuple(x) for x in gt_links(gt).tolist()}
    tr = Tracking.from_links(gt.masks, links).validate()
    sc = evaluate(tr, gt, metrics=["ctc", "bio", "divisions"])
    assert sc["TRA"] == 1.0 and sc["DIV_F1"] == 1.0 and sc["BC(2)"] == 1.0
    assert len(tr.divisions()) == len(gt.divisions())


def test_ground_truth_scorer_closes_a_gap(sim_gt):
    """A cell missing from one frame: its track continues under a new label with it as parent."""
    gt = window_tracking(sim_gt, 10, 30)
    masks = np.asarray(gt.masks).copy()
    lin = gt.lineage.copy()
    row = lin[(lin.begin == 0) & (lin.end == gt.n_frames - 1)].iloc[0]
    lab, new = int(row.label), int(lin.label.max()) + 1
    masks[10][masks[10] == lab] = 0
    for t in range(11, gt.n_frames):
        masks[t][masks[t] == lab] = new
    lin.loc[lin.label == lab, "end"] = 9
    lin.loc[lin.parent == lab, "parent"] = new
    lin.loc[len(lin)] = [new, 11, gt.n_frames - 1, lab]
    gapped = Tracking(masks=masks, lineage=lin).validate()
    tables = [object_features(masks[t]) for t in range(len(masks))]
    scorer = GroundTruthScorer([tb["label"].to_numpy() for tb in tables], gapped.lineage)
    links = CalibanLinker(scorer, estimate_radius(masks), LinkingConfig(max_gap=2)).link(tables)
    assert {tuple(x) for x in links.tolist()} == {tuple(x) for x in gt_links(gapped).tolist()}
    assert (9, lab, 11, new) in {tuple(x) for x in links.tolist()}


# ------------------------------------------------------------------------------------------ entry point
def test_training_entry_point_chooses_a_threshold_and_writes_manifest(tmp_path):
    """`celltrace train caliban-linking`'s function: weights + manifest, the division threshold picked
    on held-out frames is stored with the weights, and the tracker reads it back."""
    import json

    from celltrace.methods.caliban import CalibanTracker
    from celltrace.methods.caliban.linking_model import load_model
    from celltrace.train import trainer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.raises(TypeError, match="unknown caliban linking parameter"):
            trainer("caliban-linking")([ctc_sequence(SIM)], tmp_path / "x.pt", steps=1, no_such_field=1)
        out = trainer("caliban-linking")([ctc_sequence(SIM)], tmp_path / "link.pt", steps=4, seed=0, batch=1,
                                         frames=(70, 90), progress=False, thresholds=(0.5, 0.9))
    finally:
        torch.set_num_threads(threads)
    manifest = json.loads((tmp_path / "link.json").read_text())
    assert manifest["steps"] == 4 and manifest["seed"] == 0 and manifest["part"] == "linking"
    assert [w["division_probability"] for w in manifest["division_threshold_sweep"]] == [0.5, 0.9]
    chosen = manifest["linking"]["division_probability"]
    assert chosen in (0.5, 0.9)
    model, extra = load_model(out)
    assert extra["linking"]["division_probability"] == chosen
    # linking-only tracking with these weights uses the stored settings
    movie = open_movie(ctc_sequence(SIM))
    frames = np.stack([movie[t] for t in range(80, 84)])
    masks = np.stack([np.asarray(read_ctc(ctc_gt(SIM)).masks[t]) for t in range(80, 84)])
    tr = CalibanTracker(link_weights=out).track(frames, masks=masks, progress=False).validate()
    assert tr.meta["linker"] == "caliban"


def test_bad_linking_weights_give_one_clear_line(tmp_path):
    from celltrace.errors import CelltraceError
    from celltrace.methods.caliban import CalibanTracker
    from celltrace.methods.caliban.linking_model import load_model, save_model

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(CelltraceError) as e:
        load_model(bad)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)
    other = tmp_path / "seg_not_link.pt"
    torch.save({"format": "celltrace-caliban-segmentation", "state_dict": {}}, other)
    with pytest.raises(CelltraceError, match="not a caliban linking weights file"):
        load_model(other)
    small = save_model(CalibanLinkModel(LinkModelConfig(embed_dim=8)), tmp_path / "small.pt")
    ck = torch.load(small, weights_only=True)
    ck["config"]["embed_dim"] = 16
    torch.save(ck, small)
    with pytest.raises(CelltraceError, match="do not fit the network"):
        load_model(small)
    masks = np.zeros((2, 32, 32), np.uint16)
    masks[:, 4:10, 4:10] = 1
    with pytest.raises(CelltraceError, match="no trained caliban linking model found"):
        CalibanTracker(link_weights=tmp_path / "none.pt").track(np.zeros((2, 32, 32), np.uint8), masks=masks,
                                                                progress=False)


# ------------------------------------------------------------------------------ predicted masks
def test_predicted_tracking_carries_tracks_over_merges_fragments_and_misses():
    """Markers: cell 1 (frames 0–1) divides into 2 and 3 (frames 2–3); cell 4 in every frame. The
    segmentation: a fragment beside cell 1 in frames 0–1 (no marker), cell 4 missed in frame 1,
    and 2 and 3 merged into one object in frame 3 that covers more of 3. The fragment is one track
    of its own; 4 goes on after her gap under a new label whose parent is her first part; the
    merged object continues 3 and 2 ends; 2 and 3 are 1's daughters."""
    from celltrace.methods.caliban.link_noisy import predicted_tracking

    yy, xx = np.mgrid[:40, :80]
    disk = lambda cy, cx, r=5: (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r  # noqa: E731
    markers = np.zeros((4, 40, 80), np.uint16)
    pred = np.zeros((4, 40, 80), np.uint16)
    for t in (0, 1):
        markers[t][disk(20, 20)] = 1
        pred[t][disk(20, 20, 6)] = 7
        pred[t][disk(8, 20, 3)] = 9  # a fragment, no marker
    for t in (2, 3):
        markers[t][disk(20, 14)] = 2
        markers[t][disk(20, 27)] = 3
    pred[2][disk(20, 14)] = 5
    pred[2][disk(20, 27)] = 6
    pred[3][disk(20, 14, 4) | disk(20, 27, 6) | ((abs(yy - 20) <= 2) & (xx >= 14) & (xx <= 27))] = 3  # merged
    for t in range(4):
        markers[t][disk(20, 60)] = 4
        if t != 1:
            pred[t][disk(20, 60)] = 1
    truth = Tracking(masks=markers, lineage=[[1, 0, 1, 0], [2, 2, 3, 1], [3, 2, 3, 1], [4, 0, 3, 0]])
    pt = predicted_tracking(pred, truth).validate()
    lin = {int(r.label): (int(r.begin), int(r.end), int(r.parent)) for r in pt.lineage.itertuples()}
    at = lambda t, cy, cx: int(np.asarray(pt.masks[t])[cy, cx])  # noqa: E731
    assert lin[1] == (0, 1, 0) and lin[2] == (2, 2, 1) and lin[3] == (2, 3, 1) and lin[4] == (0, 0, 0)
    assert at(3, 20, 27) == 3 and at(3, 20, 14) == 3  # the merged object continues 3
    after_gap = at(2, 20, 60)
    assert after_gap not in (1, 2, 3, 4) and lin[after_gap] == (2, 3, 4) and at(3, 20, 60) == after_gap
    fragment = at(0, 8, 20)
    assert fragment not in (1, 2, 3, 4, after_gap) and lin[fragment] == (0, 1, 0) and at(1, 8, 20) == fragment
    assert sorted(d for d in pt.divisions().daughters) == [(2, 3)]
    with pytest.raises(ValueError, match="frames"):
        predicted_tracking(pred[:3], truth)


def test_linker_targets_on_a_real_segmentation_keep_its_objects_and_the_true_divisions(sim_gt):
    """SIM+ 02 frames 70–90 segmented by classic: the carried-over tracking has exactly the
    segmentation's objects (the same DET), its divisions are true ones, and the targets made from
    it hold more DIFFERENT pairs than the ground truth's (fragments and split cells)."""
    from celltrace.methods.caliban.link_noisy import predicted_tracking
    from celltrace.methods.caliban.link_targets import frame_pair_targets
    from celltrace.methods.classic import ClassicTracker

    movie = open_movie(ctc_sequence(SIM))
    truth = window_tracking(sim_gt, 70, 90)
    frames = np.stack([np.asarray(movie[t]) for t in range(70, 90)])
    seg = ClassicTracker(cell_radius=17.0).track(frames, progress=False)
    pt = predicted_tracking(np.asarray(seg.masks), truth).validate()
    assert evaluate(pt, truth, metrics=["ctc"])["DET"] == pytest.approx(evaluate(seg, truth, metrics=["ctc"])["DET"])
    for t in range(len(frames)):
        assert np.array_equal(np.asarray(pt.masks[t]) > 0, np.asarray(seg.masks[t]) > 0)
    gt_kids = {frozenset(d) for d in truth.divisions().daughters}
    assert len(pt.divisions()) >= 1 and all(frozenset(d) in gt_kids for d in pt.divisions().daughters)
    r = estimate_radius(truth.masks)
    feats_gt = [frame_features(frames[t], np.asarray(truth.masks[t]), r) for t in range(len(frames))]
    feats_pt = [frame_features(frames[t], np.asarray(pt.masks[t]), r) for t in range(len(frames))]
    n_gt = class_counts(frame_pair_targets(feats_gt, truth.lineage, 4 * r))
    n_pt = class_counts(frame_pair_targets(feats_pt, pt.lineage, 4 * r))
    assert n_pt[DIFFERENT] > n_gt[DIFFERENT] and 0 < n_pt[PARENT_CHILD] <= n_gt[PARENT_CHILD]


def test_training_on_predicted_masks_scores_against_the_ground_truth(tmp_path):
    """``masks=both``: each dataset is trained on twice, on its ground-truth masks and on caliban's
    segmentation of its frames; the division threshold is chosen over both, and the validation of
    the predicted sequence scores its linking against the ground truth (a segmentation's errors
    cost TRA there, so it is below the GT-mask sequence's)."""
    import json

    from celltrace.train import trainer

    with pytest.raises(ValueError, match="masks must be"):
        LinkTrainConfig(masks="noisy")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer("caliban-linking")([ctc_sequence(SIM)], tmp_path / "link.pt", steps=2, seed=0, batch=1,
                                   frames=(70, 86), progress=False, thresholds=(0.5,), masks="both")
    finally:
        torch.set_num_threads(threads)
    manifest = json.loads((tmp_path / "link.json").read_text())
    names = [s["name"] for s in manifest["sequences"]]
    assert names == [SIM, f"{SIM} (predicted masks)"] and manifest["train"]["masks"] == "both"
    by_name = {v["sequence"]: v for v in manifest["validation"]}
    assert set(by_name) == set(names)
    assert by_name[f"{SIM} (predicted masks)"]["caliban"]["TRA"] < by_name[SIM]["caliban"]["TRA"]
    assert set(manifest["division_threshold_sweep"][0]["per_sequence"]) == set(names)
