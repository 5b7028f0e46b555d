"""The shift suite on real frames and GT (valid CTC ground truth after every shift), lineage
repair after crops, the photometric training shifts on numpy and torch alike, crops made with
torch equal to the numpy ones, and a tiny model that learns on augmented crops made that way."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
import pytest
import torch

from celltrace.io.ctc import read_ctc
from celltrace.methods.caliban import CalibanSegConfig
from celltrace.methods.caliban.seg_targets import SegBatches, seg_loss
from celltrace.methods.caliban.segmentation_model import CalibanSegModel
from celltrace.movie import open_movie
from celltrace.shifts import (DIM_DRAWS, DIM_SUITE, PHOTOMETRIC, QUICK_SUITE, SHIFT_SUITE, Photometric, Shift, crop_window,
                              restrict_lineage)
from celltrace.tracking import make_lineage
from celltrace.train import fit, frame_refs
from celltrace.train.augment import apply_transform, apply_transform_torch, draw_transform
from celltrace.train.data import find_sequences, open_sequence

from conftest import ctc_gt, ctc_sequence


@pytest.fixture(scope="module")
def sim_clip():
    """6 frames of SIM+ 02 (rows 200–456) and their GT, a small real movie."""
    movie = open_movie(ctc_sequence("Fluo-N2DH-SIM+"))
    frames = np.stack([movie[t][200:456] for t in range(6)])
    gt = read_ctc(ctc_gt("Fluo-N2DH-SIM+"))
    return frames, restrict_lineage(np.stack([np.asarray(gt.masks[t])[200:456] for t in range(6)]), gt.lineage)


@pytest.mark.parametrize("shift", SHIFT_SUITE + DIM_SUITE, ids=lambda s: s.name)
def test_every_shift_gives_valid_ground_truth(sim_clip, shift):
    frames, gt = sim_clip
    out, gt2 = shift.apply(frames, gt)
    gt2.validate()
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert out.shape[0] == frames.shape[0] and gt2.shape == out.shape
    if shift.kind in PHOTOMETRIC + ("dim",):
        assert np.array_equal(np.asarray(gt2.masks), np.asarray(gt.masks))
        assert not np.allclose(out, frames)
    if shift.kind == "pixel_size":
        assert out.shape[1] == pytest.approx(frames.shape[1] * shift.value, abs=1)
        assert gt2.n_tracks >= 0.9 * gt.n_tracks  # resampling loses no cell


def test_gain_and_offset_are_what_they_say(sim_clip):
    frames, _ = sim_clip
    f = frames.astype(np.float32)
    assert np.allclose(Shift("gain", 2.0).apply(frames)[0], 2 * f)
    lo, hi = np.percentile(f[0], (1.0, 99.8))
    assert np.allclose(Shift("offset", 0.5).apply(frames)[0] - f, 0.5 * (hi - lo), rtol=1e-4)


def test_dim_shift_dims_the_same_half_of_the_cells_in_every_frame():
    """GOWT1 02, 4 frames: each track keeps its contrast over the frame's median (1) or takes ``v``
    of it, the same in every frame, half of the tracks each way; without ground truth the shift
    says so."""
    movie = open_movie(ctc_sequence("Fluo-N2DH-GOWT1"))
    frames = np.stack([movie[t][:512] for t in range(4)])
    full = read_ctc(ctc_gt("Fluo-N2DH-GOWT1"))
    gt = restrict_lineage(np.stack([np.asarray(full.masks[t])[:512] for t in range(4)]), full.lineage)
    masks = np.asarray(gt.masks)
    f = frames.astype(np.float32)
    out, gt2 = Shift("dim", 0.3).apply(frames, gt)
    assert gt2 is gt
    ratio: dict[int, list[float]] = {}
    for t in range(len(f)):
        b = np.median(f[t])
        core = ndi.binary_erosion(masks[t] > 0, iterations=3) & (masks[t] > 0)  # away from the 2 px blur
        for lab in np.unique(masks[t][core]):
            m = core & (masks[t] == lab)
            if m.sum() >= 30 and f[t][m].mean() - b > 5:
                ratio.setdefault(int(lab), []).append(float((out[t][m].mean() - b) / (f[t][m].mean() - b)))
    dimmed = [lab for lab, r in ratio.items() if np.mean(r) < 0.65]
    assert len(ratio) >= 8 and 0.3 * len(ratio) <= len(dimmed) <= 0.7 * len(ratio)
    for lab, r in ratio.items():
        target = 0.3 if lab in dimmed else 1.0
        assert np.allclose(r, target, atol=0.08), (lab, r)  # every frame alike
    with pytest.raises(ValueError, match="ground-truth"):
        Shift("dim", 0.3).apply(frames)
    with pytest.raises(ValueError, match="0 <= value <= 1"):
        Shift("dim", 1.5)


def test_the_dim_draws_dim_other_cells_each_in_about_half_of_them():
    """GOWT1 02's labels (first 4 frames, top half): the DIM_DRAWS draws are distinct halves,
    each track is dimmed in half of them (± one draw), and draw 0 is the protocol's earlier
    single draw (the first half of the seed-0 permutation)."""
    full = read_ctc(ctc_gt("Fluo-N2DH-GOWT1"))
    masks = np.stack([np.asarray(full.masks[t])[:512] for t in range(4)])
    frames = np.full(masks.shape, 10.0, np.float32) + 50.0 * (masks > 0)
    labels = np.unique(masks[masks > 0])
    dimmed = []
    for draw in range(DIM_DRAWS):
        out, _ = Shift("dim", 0.3, seed=draw).apply(frames, restrict_lineage(masks, full.lineage))
        dimmed.append(frozenset(lab for lab in labels if out[masks == lab].mean() < 50.0))
    assert len(set(dimmed)) == DIM_DRAWS
    k = int(np.ceil(0.5 * labels.size))
    assert all(len(d) == k for d in dimmed)
    counts = [sum(lab in d for d in dimmed) for lab in labels]
    assert min(counts) >= DIM_DRAWS * k // labels.size - 1 and max(counts) <= -(-DIM_DRAWS * k // labels.size) + 1
    assert dimmed[0] == frozenset(np.random.default_rng(0).permutation(labels)[:k].tolist())


def test_sparse_and_dense_crops_differ_in_density(sim_clip):
    frames, gt = sim_clip
    masks = np.asarray(gt.masks)
    count = lambda w: np.unique(masks[0, w[0]:w[1], w[2]:w[3]]).size - 1  # noqa: E731
    sparse, dense = (crop_window(frames.shape[1:], 0.5, where, masks) for where in ("sparse", "dense"))
    assert count(sparse) < count(dense)


def test_restrict_lineage_splits_gaps_and_keeps_visible_parents():
    m = np.zeros((5, 4, 4), np.uint16)
    m[0:2, 0, 0] = 1          # mother, frames 0-1
    m[2:4, 1, 1] = 2          # daughter of 1, frames 2-3
    m[[0, 1, 3, 4], 3, 3] = 3  # visible, gone at frame 2, back: a gap
    lineage = make_lineage([[1, 0, 1, 0], [2, 2, 3, 1], [3, 0, 4, 0]])
    tr = restrict_lineage(m, lineage).validate()
    rows = {int(r.label): (int(r.begin), int(r.end), int(r.parent)) for r in tr.lineage.itertuples()}
    assert rows[1] == (0, 1, 0) and rows[2] == (2, 3, 1) and rows[3] == (0, 1, 0)
    (new,) = [lab for lab in rows if lab > 3]
    assert rows[new] == (3, 4, 3)
    # the mother cropped away: the daughter starts a lineage of its own
    m2 = m.copy()
    m2[m2 == 1] = 0
    rows2 = {int(r.label): int(r.parent) for r in restrict_lineage(m2, lineage).validate().lineage.itertuples()}
    assert rows2[2] == 0


def test_photometric_numpy_and_torch_agree(sim_clip):
    frames, _ = sim_clip
    f = frames[0].astype(np.float32)
    image = (f - f.min()) / (f.max() - f.min())
    rng = np.random.default_rng(3)
    for _ in range(6):
        p = Photometric.draw(rng, 1.0)
        p = Photometric(**{**p.__dict__, "noise": 0.0})
        a = p.apply(image)
        b = p.apply_torch(torch.from_numpy(image)).numpy()
        assert np.abs(a - b).max() < 2e-3


def test_crops_on_torch_equal_the_numpy_crops(sim_clip):
    frames, gt = sim_clip
    image = frames[0].astype(np.float32)
    labels = np.asarray(gt.masks[0]).astype(np.int64)
    rng = np.random.default_rng(0)
    for _ in range(8):
        tr = draw_transform(image.shape, 64, rng, (0.6, 1.6))
        out = apply_transform_torch(torch.from_numpy(np.stack([image, labels.astype(np.float32)])), tr, [False, True])
        assert np.abs(out[0].numpy() - apply_transform(image, tr, 1)).max() < 1e-3 * image.max()
        assert np.array_equal(out[1].numpy().astype(np.int64), apply_transform(labels, tr, 0))


def test_device_batches_equal_cpu_batches():
    seqs = find_sequences([ctc_sequence("Fluo-N2DH-GOWT1")], region="0:0.4")
    refs = [r for r in frame_refs(seqs, "train") if r.t in (0, 1)]
    cfg = CalibanSegConfig.from_params(batch=3, crop=64, photometric=0.0)
    cpu, dev = SegBatches(seqs, refs, cfg, seed=0), SegBatches(seqs, refs, cfg, seed=0, device="cpu")
    for step in range(3):
        a, b = cpu(step), dev(step)
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].shape == b[k].shape and a[k].dtype == b[k].dtype
            assert float((a[k].float() - b[k].float()).abs().max()) < 2e-3, k


def test_region_keeps_part_of_the_field():
    seq = open_sequence(ctc_sequence("Fluo-N2DH-GOWT1"))
    (left,) = find_sequences([ctc_sequence("Fluo-N2DH-GOWT1")], region="0:0.6")
    full = seq.image(0)
    assert np.array_equal(left.image(0), full[:, :int(round(0.6 * full.shape[1]))])
    with pytest.raises(ValueError, match="X0:X1"):
        find_sequences([ctc_sequence("Fluo-N2DH-GOWT1")], region="left")


def test_tiny_model_learns_on_shifted_crops_made_with_torch():
    seqs = find_sequences([ctc_sequence("Fluo-N2DH-SIM+")])
    refs = [r for r in frame_refs(seqs, "train") if r.t in (0, 1, 2)]
    cfg = CalibanSegConfig.from_params(widths=(8, 12, 16, 24), depths=(0, 1, 1, 1), fpn_channels=16, p1_channels=8,
                                       crop=96, batch=2, lr=3e-3, photometric=1.0)
    sampler = SegBatches(seqs, refs, cfg, seed=0, device="cpu")
    torch.manual_seed(0)
    model = CalibanSegModel(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    h = fit(model, lambda m, b: seg_loss(m(b["image"]), b, cfg.ce_weight), sampler, opt, steps=40, seed=0,
            progress=False, clip_norm=cfg.clip_norm)
    assert np.mean(h.loss[-8:]) < 0.7 * np.mean(h.loss[:8])


def test_quick_suite_is_part_of_the_suite():
    assert set(QUICK_SUITE) <= set(SHIFT_SUITE)
    with pytest.raises(ValueError, match="unknown shift"):
        Shift("sharpen", 1.0)
