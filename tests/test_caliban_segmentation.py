"""Caliban segmentation: targets on real GT frames, the ignore rules for unannotated cells, a tiny
model that learns on real crops, exact post-processing of ideal maps, the weights errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

import celltrace
from celltrace.errors import CelltraceError
from celltrace.methods.caliban import CalibanSegConfig, CalibanTracker
from celltrace.methods.caliban.seg_infer import postprocess, predict_maps
from celltrace.methods.caliban.seg_targets import (SegBatches, cell_centres, inner_distance, make_targets,
                                                   outer_distance, preprocess, seg_loss)
from celltrace.train.annotations import marker_neighbourhood, unannotated_markers
from celltrace.methods.caliban.segmentation_model import CalibanSegModel, load_model, save_model
from celltrace.train import fit, frame_refs
from celltrace.train.data import open_sequence

from conftest import ctc_sequence

TINY = dict(widths=(8, 12, 16, 24), depths=(0, 1, 1, 1), fpn_channels=16, p1_channels=8)


@pytest.fixture(scope="module")
def gowt1():
    return open_sequence(ctc_sequence("Fluo-N2DH-GOWT1"))


@pytest.fixture(scope="module")
def sim():
    return open_sequence(ctc_sequence("Fluo-N2DH-SIM+"))


# ---------------------------------------------------------------------- targets
def test_inner_distance_on_real_frame(sim):
    seg = sim.seg(40)
    u = inner_distance(seg)
    assert u.dtype == np.float32 and (u[seg == 0] == 0).all() and (u[seg > 0] > 0).all()
    for k, (cy, cx) in cell_centres(seg).items():
        assert seg[cy, cx] == k and u[cy, cx] == 1.0  # 1 at the centre pixel of each cell
        m = seg == k
        ys, xs = np.nonzero(m)
        r = np.hypot(ys - cy, xs - cx)
        vals = u[ys, xs]
        assert np.all(np.diff(vals[np.argsort(r, kind="stable")]) <= 1e-6)  # decreasing with r
        # exactly 1 / (1 + r / sqrt(area)) (beta = 1)
        np.testing.assert_allclose(vals, 1 / (1 + r / np.sqrt(m.sum())), rtol=1e-5)


def test_outer_distance_is_edt_of_labels(gowt1):
    seg = gowt1.seg(1).astype(np.int64)
    d = outer_distance(seg, normalize="none")
    ref = np.zeros(seg.shape, dtype=np.float64)
    for k in np.unique(seg)[1:]:
        m = seg == k
        ref[m] = ndi.distance_transform_edt(m)[m]  # whole-image EDT of each cell
    np.testing.assert_allclose(d, ref, rtol=1e-6)
    # the default divides by the frame's cell radius, one factor for all cells
    r = np.sqrt(np.median(np.bincount(seg.ravel())[1:][np.bincount(seg.ravel())[1:] > 0]) / np.pi)
    np.testing.assert_allclose(outer_distance(seg), ref / r, rtol=1e-5)
    per_cell = outer_distance(seg, normalize="cell")
    for k in np.unique(seg)[1:]:
        assert per_cell[seg == k].max() == pytest.approx(1.0)


def test_unannotated_cells_are_ignored(gowt1):
    """GOWT1 frame 22 annotates 1 of its 24 cells: the other 23 must never be taught as background."""
    s = gowt1.sample(22)
    n_seg = np.unique(s.seg).size - 1
    markers = np.unique(s.markers)[1:]
    assert n_seg == 1 and markers.size == 24
    missing = unannotated_markers(s.seg, s.markers)
    assert missing.size == 23
    tg = make_targets(s, CalibanSegConfig())
    assert tg.kind == "seg"
    ignored = tg.ce_mask == 0
    for k in missing:  # every unannotated cell's marker lies in the ignored region
        assert ignored[s.markers == k].all()
    # the ignored region reaches beyond the markers (they cover only about half of each cell)...
    assert ignored.sum() > 2 * np.isin(s.markers, missing).sum()
    # ...but never into the annotated cell, whose targets stay taught
    assert not ignored[s.seg > 0].any()
    assert (tg.fgbg[s.seg > 0] == 1).all() and (tg.dist_mask[s.seg > 0] == 1).all()
    assert np.array_equal(tg.ce_mask, tg.dist_mask)
    # fully annotated frame of the same movie: (almost) nothing ignored
    full = make_targets(gowt1.sample(1), CalibanSegConfig())
    assert (full.ce_mask == 0).mean() < 0.01


def test_frames_without_seg(gowt1, sim):
    # markers are not masks (GOWT1): only fg/bg is taught — markers as fg, far background as bg
    s = gowt1.sample(23)
    tg = make_targets(s, CalibanSegConfig())
    assert tg.kind == "weak" and tg.dist_mask.sum() == 0
    assert (tg.ce_mask[s.markers > 0] == 1).all() and (tg.fgbg[s.markers > 0] == 1).all()
    near = marker_neighbourhood(s.markers)
    assert not (tg.ce_mask.astype(bool) & near & (s.markers == 0)).any()
    assert make_targets(s, CalibanSegConfig(weak_frames="ignore")) is None
    # markers are masks (SIM+): they are the labels
    s2 = sim.sample(5)
    s2.seg = None
    tg2 = make_targets(s2, CalibanSegConfig())
    assert tg2.kind == "markers" and tg2.ce_mask.all() and np.array_equal(tg2.fgbg, (s2.markers > 0).astype(np.uint8))


def test_preprocess_range(gowt1):
    img = preprocess(gowt1.image(0))
    assert img.dtype == np.float32 and img.shape == (1024, 1024)
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.05


# ---------------------------------------------------------------------- post-processing
def _match(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int, list[float], int]:
    """(#GT objects, #one-to-one matched, IoUs of the matched, #predicted)."""
    ids = np.unique(gt)[1:]
    matched, ious, used = 0, [], set()
    for k in ids:
        v, c = np.unique(pred[gt == k], return_counts=True)
        j = v[np.argmax(c)]
        if j == 0 or j in used:
            continue
        inter = c.max()
        iou = inter / ((gt == k).sum() + (pred == j).sum() - inter)
        used.add(j)
        matched += 1
        ious.append(iou)
    return ids.size, matched, ious, np.unique(pred).size - 1


@pytest.mark.parametrize("t", [0, 60, 100, 149])
def test_postprocess_recovers_gt_from_ideal_maps(sim, t):
    """Maps computed from the GT labels give the GT instances back: the same objects one to one,
    and the same pixels except a few at cell contacts and GT fragments disconnected from their cell."""
    seg = sim.seg(t).astype(np.int64)
    pred = postprocess(inner_distance(seg), outer_distance(seg), CalibanSegConfig(min_size=0))
    big = np.unique(seg)[1:][np.bincount(seg.ravel())[np.unique(seg)[1:]] >= 50]
    gt = np.where(np.isin(seg, big), seg, 0)
    n, matched, ious, n_pred = _match(gt, pred)
    assert matched == n == big.size
    assert min(ious) > 0.95 and np.mean(ious) > 0.99
    assert n_pred <= np.unique(seg).size - 1  # no extra objects
    agree = np.mean((pred > 0) == (seg > 0))
    assert agree > 0.9999


# ---------------------------------------------------------------------- model
def test_model_shapes_and_tiling():
    torch.manual_seed(0)
    model = CalibanSegModel(CalibanSegConfig(**TINY)).eval()
    x = torch.rand(2, 1, 100, 75)
    out = model(x)
    assert out["fgbg"].shape == (2, 2, 100, 75) and out["inner"].shape == out["outer"].shape == (2, 1, 100, 75)
    img = np.random.default_rng(0).random((200, 180)).astype(np.float32)
    whole = predict_maps(model, img, CalibanSegConfig(**TINY, tile=1024), preprocessed=True)
    tiled = predict_maps(model, img, CalibanSegConfig(**TINY, tile=128, tile_overlap=64), preprocessed=True)
    assert tiled["inner"].shape == (200, 180)
    # tiles see less context, so values differ near tile edges but stay close on average
    assert np.abs(whole["fg"] - tiled["fg"]).mean() < 0.05


def test_tiny_model_learns_on_real_crops(sim, gowt1):
    cfg = CalibanSegConfig(**TINY, crop=96, batch=2, lr=3e-3)
    seqs = [sim, gowt1]
    refs = [r for r in frame_refs(seqs, "train") if r.t in (0, 1, 2, 22)]  # a few frames keep it fast
    sampler = SegBatches(seqs, refs, cfg, seed=0)
    torch.manual_seed(0)
    model = CalibanSegModel(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    h = fit(model, lambda m, b: seg_loss(m(b["image"]), b, cfg.ce_weight), sampler, opt, steps=40, seed=0,
            progress=False, clip_norm=cfg.clip_norm)
    first, last = np.mean(h.loss[:8]), np.mean(h.loss[-8:])
    assert last < 0.7 * first, (first, last)
    assert set(h.parts) == {"ce", "inner", "outer"}


def test_crops_are_resampled_to_the_target_radius(gowt1):
    """Training crops are resampled by ``target_radius / r̂`` (``r̂`` the label-free threshold
    estimate the tracker also uses), so MSC cells (r ≈ 46 px) and GOWT1 nuclei (r ≈ 35 px) reach
    the network at a similar size, near ``target_radius``."""
    from celltrace.methods.caliban.seg_infer import estimate_radius
    from celltrace.segmentation import foreground_radius

    msc = open_sequence(ctc_sequence("Fluo-C2DL-MSC"))
    cfg = CalibanSegConfig(**TINY, crop=160, batch=4, scale_range=(1.0, 1.0))
    sizes = {}
    for seq in (msc, gowt1):
        seg_refs = [r for r in frame_refs([seq], "train") if r.t in seq.seg_files]
        refs = [max(seg_refs[:6], key=lambda r: np.unique(seq.seg(r.t)).size)]  # the best-annotated frame
        sampler = SegBatches([seq], refs, cfg, seed=0, p_centre=1.0)
        idx = np.unique(np.linspace(0, len(seq.frames) - 1, cfg.radius_frames).round().astype(int))
        r_hat = estimate_radius([seq.image(seq.frames[i]) for i in idx], cfg)
        assert sampler.scale_range(refs[0]) == pytest.approx((cfg.target_radius / r_hat,) * 2)
        native = foreground_radius([seq.seg(r.t) > 0 for r in refs])
        crops = [sampler(k) for k in range(3)]
        known = [(b["fgbg"][i].numpy() > 0) & (b["dist_mask"][i].numpy() > 0) for b in crops for i in range(4)]
        sizes[seq.name] = foreground_radius(known, min_radius=2.0)
        assert native > 2 * cfg.target_radius  # a real change of scale
        # geometry: the crop's cells are the native cells times the scale (crop borders cut a few)
        assert 0.75 < sizes[seq.name] / (native * cfg.target_radius / r_hat) < 1.15, (seq.name, native, r_hat)
    assert all(0.6 * cfg.target_radius < r < 2.0 * cfg.target_radius for r in sizes.values()), sizes


def test_maps_come_back_at_frame_size_and_radius_is_respected(sim):
    torch.manual_seed(0)
    model = CalibanSegModel(CalibanSegConfig(**TINY)).eval()
    img = sim.image(0)[:200, :150]
    maps = predict_maps(model, img, model.config, scale=0.45)
    assert {k: v.shape for k, v in maps.items()} == {"fg": (200, 150), "inner": (200, 150), "outer": (200, 150)}
    from celltrace.methods.caliban.seg_infer import estimate_radius

    cfg = CalibanSegConfig(**TINY, cell_radius=21.5)
    assert estimate_radius([img], cfg) == 21.5


# ---------------------------------------------------------------------- weights
def test_weights_roundtrip_and_tracker(tmp_path, sim):
    cfg = CalibanSegConfig(**TINY)
    torch.manual_seed(0)
    model = CalibanSegModel(cfg).eval()
    path = save_model(model, tmp_path / "seg.pt")
    loaded = load_model(path)
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x)["inner"], loaded(x)["inner"])
    # the tracker runs end to end on a short movie (an untrained model finds little; the result is valid)
    movie = celltrace.Movie(frames=np.stack([sim.image(t)[:128, :128] for t in range(3)]))
    tracker = CalibanTracker(weights=path)
    result = tracker.track(movie, progress=False)
    assert result.validate() is result and result.meta["method"] == "caliban"
    # linking-only mode needs no weights
    masks = np.stack([sim.seg(t) for t in range(3)])
    res2 = CalibanTracker(weights=tmp_path / "nothing.pt").track(celltrace.Movie(frames=np.stack(
        [sim.image(t) for t in range(3)])), masks=masks, progress=False)
    assert res2.validate().n_tracks >= np.unique(masks[0]).size - 1


def test_missing_and_bad_weights_give_one_clear_line(tmp_path):
    movie = celltrace.Movie(frames=np.zeros((2, 32, 32), np.uint8))
    missing = tmp_path / "none.pt"
    with pytest.raises(CelltraceError) as e:
        CalibanTracker(weights=missing).track(movie, progress=False)
    msg = str(e.value)
    assert "no trained caliban model found at" in msg and str(missing) in msg
    assert "celltrace train caliban --data" in msg and "\n" not in msg
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(CelltraceError) as e:
        CalibanTracker(weights=bad).track(movie, progress=False)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CelltraceError, match="not a caliban segmentation weights file"):
        load_model(other)
    with pytest.raises(TypeError, match="unknown caliban parameter"):
        CalibanTracker(weights=bad, no_such_param=1)


def test_training_entry_point_writes_weights_and_manifest(tmp_path):
    import json

    from celltrace.train import trainer
    from celltrace.metrics.ctc import seg_jaccards

    out = trainer("caliban")([ctc_sequence("Fluo-N2DH-SIM+")], tmp_path / "m.pt", steps=3, seed=0, crop=64, batch=1,
                             validate=False, progress=False, **TINY)
    assert out == tmp_path / "m.pt" and out.is_file()
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert manifest["steps"] == 3 and manifest["seed"] == 0 and manifest["device"] == "cpu"
    assert set(manifest["final_losses"]) == {"loss", "ce", "inner", "outer"}
    assert max(manifest["sequences"][0]["train_frames"]) < min(manifest["sequences"][0]["validation_frames"])
    assert isinstance(load_model(out), CalibanSegModel)
    # CTC SEG matching: J of each GT object with the prediction covering more than half of it
    gt = np.zeros((10, 10), int)
    gt[:4, :4], gt[6:, 6:] = 1, 2
    pred = np.zeros_like(gt)
    pred[:4, :2] = 5
    pred[:4, 2:4] = 6
    pred[5:, 5:] = 7
    np.testing.assert_allclose(seg_jaccards(gt, pred), [0.0, 16 / 25])
