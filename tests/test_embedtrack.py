"""EmbedTrack: a tiny model learns on real SIM+ pairs, clustering of a GT-derived embedding gives the
GT instances back exactly, the tracking step finds a real division from constructed offsets, TTA's
inverse transforms are exact, bad weights fail clearly, and `celltrace track` writes a valid RES."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from celltrace import Tracking
from celltrace.cli import main
from celltrace.errors import CelltraceError
from celltrace.io.ctc import read_lineage
from celltrace.methods.embedtrack import EmbedTrackConfig, EmbedTrackTracker
from celltrace.methods.embedtrack.clustering import cluster
from celltrace.methods.embedtrack.infer import SYMMETRIES, invert_vectors, predict_maps
from celltrace.methods.embedtrack.loss import embedtrack_loss, lovasz_hinge
from celltrace.methods.embedtrack.model import EmbedTrackModel, load_model, save_model
from celltrace.methods.embedtrack.targets import PairBatches, frame_labels, medoids
from celltrace.methods.embedtrack.tracking_step import link_frames
from celltrace.methods.embedtrack.train import train_embedtrack
from celltrace.train import fit, frame_refs
from celltrace.train.data import open_sequence

from conftest import ctc_gt, ctc_sequence

TINY = dict(widths=(8, 16, 24), blocks=(1, 1), decoder_blocks=1)
SIM = "Fluo-N2DH-SIM+"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def sim():
    return open_sequence(ctc_sequence(SIM))


def ideal_offsets(labels: np.ndarray, centres: dict[int, tuple[int, int]], scale: float) -> np.ndarray:
    """Offsets ``(c − p) / scale`` of every pixel of label ``m`` to the centre of ``m`` (0 elsewhere)."""
    h, w = labels.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = np.zeros((h, w)), np.zeros((h, w))
    for k, (y, x) in centres.items():
        sel = labels == k
        cy[sel], cx[sel] = y, x
    fg = labels > 0
    return np.stack([np.where(fg, cy - yy, 0), np.where(fg, cx - xx, 0)]) / scale


# ---------------------------------------------------------------------- loss pieces
def test_lovasz_hinge_is_zero_for_perfect_margins_and_positive_otherwise():
    labels = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert float(lovasz_hinge(torch.tensor([[1.0, 2.0, -1.0, -3.0]]), labels)) == 0.0
    assert float(lovasz_hinge(torch.tensor([[0.0, 2.0, 0.5, -3.0]]), labels)) > 0.0


def test_targets_on_real_partly_annotated_frame():
    # GOWT1 frame 22 annotates 1 cell of ~24: the others come from their markers, never background
    seq = open_sequence(ctc_sequence("Fluo-N2DH-GOWT1"))
    s = seq.sample(22)
    fl = frame_labels(s)
    markers = np.unique(s.markers[s.markers > 0])
    assert set(markers) <= set(np.unique(fl.labels).tolist())   # every cell is an instance
    assert fl.ignore.any() and not (fl.ignore & (fl.labels > 0)).any()
    seg_ids = np.unique(s.seg[s.seg > 0])
    assert len(seg_ids) < len(markers) // 2
    for k, (y, x) in fl.centres.items():                       # medoids lie inside their cells
        assert fl.labels[y, x] == k


# ---------------------------------------------------------------------- training
def test_tiny_training_on_real_pairs_lowers_the_loss(sim):
    config = EmbedTrackConfig(**TINY, crop=128, position_scale=128.0, p_shift=0.5)
    refs = [r for r in frame_refs([sim], "train") if 40 <= r.t < 50]
    sampler = PairBatches([sim], refs, config, seed=1)
    b = sampler(0)
    assert b["curr_image"].shape == (2, 1, 128, 128) and b["curr_labels"].shape == (2, 128, 128)
    assert all(len(c) == int(lab.max()) for c, lab in zip(b["curr_centres"], b["curr_labels"]))
    torch.manual_seed(0)
    model = EmbedTrackModel(config)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    h = fit(model, lambda m, x: embedtrack_loss(m(x["prev_image"], x["curr_image"]), x, config),
            lambda step: sampler(step % 2), opt, steps=24, seed=0, progress=False)
    assert np.isfinite(h.loss).all()
    assert np.mean(h.loss[-4:]) < 0.9 * np.mean(h.loss[:4]), h.loss
    assert set(h.parts) == {"instance", "var", "seed", "track"}


# ---------------------------------------------------------------------- clustering (§3.3)
def test_clustering_recovers_gt_instances_from_ideal_embedding(sim):
    gt = sim.seg(60).astype(np.int64)
    scale = 256.0
    centres = medoids(gt)
    offsets = ideal_offsets(gt, centres, scale)
    seed = (gt > 0).astype(np.float32)
    sigma = np.ones((2,) + gt.shape, dtype=np.float32)   # s = exp(-10): ~1.4 px reach, cells stay apart
    config = EmbedTrackConfig(min_size=5)
    labels = cluster(offsets, sigma, seed, config, scale=scale)
    # objects too small to collect > 5 votes (SIM+ frame 60 has a 2-pixel one) cannot be found
    sizes = np.bincount(gt.ravel())
    assert (sizes[np.unique(gt)][1:] < 6).sum() == 1
    gt = np.where(sizes[gt] >= 6, gt, 0)
    # same partition as the GT: a one-to-one map between labels
    pairs = np.unique(np.stack([gt.ravel(), labels.ravel().astype(np.int64)]), axis=1)
    assert len(np.unique(gt)) == len(np.unique(labels)) == pairs.shape[1]
    assert ((pairs[0] == 0) == (pairs[1] == 0)).all()


# ---------------------------------------------------------------------- tracking step (§3.4)
def test_tracking_step_finds_real_division_from_constructed_offsets(sim):
    lin = read_lineage(ctc_gt(SIM) / "TRA" / "man_track.txt")
    parent = 3
    kids = sorted(lin.loc[lin["parent"] == parent, "label"].tolist())
    t = int(lin.loc[lin["label"] == parent, "end"].iloc[0]) + 1
    prev, curr = sim.markers(t - 1).astype(np.int64), sim.markers(t).astype(np.int64)
    parents = dict(zip(lin["label"], lin["parent"]))
    cprev = medoids(prev)
    target = {k: cprev[k if k in cprev else parents[k]] for k in np.unique(curr[curr > 0]).tolist()
              if k in cprev or parents.get(k) in cprev}
    scale = 256.0
    offsets = ideal_offsets(curr, target, scale)
    links = link_frames(prev, curr, offsets, scale, t)
    by_prev = {}
    for _, p, _, c in links:
        by_prev.setdefault(p, []).append(c)
    assert sorted(by_prev[parent]) == kids
    assert all(v == [k] for k, v in by_prev.items() if k != parent)   # every other cell continues
    tracking = Tracking.from_links(np.stack([prev, curr]), [(0, p, 1, c) for _, p, _, c in links]).validate()
    assert len(tracking.divisions()) == 1


# ---------------------------------------------------------------------- TTA (§4.4)
class Equivariant(torch.nn.Module):
    """A stand-in network whose outputs commute with rotations/flips: offsets from each pixel to the
    brightest pixel (position dependent), bandwidths = |∂I/∂y|, |∂I/∂x| (swap under rotation),
    seediness = I; tracking offsets to the brightest pixel of the previous frame."""

    def encode(self, x):
        return x

    @staticmethod
    def _to_max(f, size):
        n, _, h, w = f.shape
        idx = f.reshape(n, -1).argmax(1)
        cy, cx = (idx // w).float(), (idx % w).float()
        yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
        return torch.stack([cy[:, None, None] - yy, cx[:, None, None] - xx], 1) / 256.0

    def segment(self, f, size):
        p = torch.nn.functional.pad(f, (1, 1, 1, 1), mode="replicate")
        gy = (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]).abs()
        gx = (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]).abs()
        return {"offset": self._to_max(f, size), "sigma": torch.cat([gy, gx], 1), "seed": f}

    def track(self, fp, fc, size):
        return self._to_max(fp, size)


def test_tta_inverse_transforms_are_exact(sim):
    prev = sim.image(10)[100:300, 200:380].astype(np.float32)   # 200 × 180: odd rotations change the shape
    curr = sim.image(11)[100:300, 200:380].astype(np.float32)
    prev[50, 60] = curr[120, 30] = prev.max() * 3  # one brightest pixel each
    config = EmbedTrackConfig(min_size=3)
    model = Equivariant()
    plain = predict_maps(model, prev, curr, config, tta=False)
    tta = predict_maps(model, prev, curr, config, tta=True)
    values = np.unique(plain["seed"])   # threshold between two seediness values, not on one (float ties)
    i = np.searchsorted(values, 0.3)
    config.seed_threshold = float(values[i - 1] + values[i]) / 2
    for k in ("offset", "sigma", "seed", "track"):
        np.testing.assert_allclose(tta[k], plain[k], atol=1e-6, err_msg=k)
    assert np.abs(plain["sigma"][0] - plain["sigma"][1]).max() > 0.1   # the swap is exercised
    np.testing.assert_array_equal(cluster(tta["offset"], tta["sigma"], tta["seed"], config),
                                  cluster(plain["offset"], plain["sigma"], plain["seed"], config))
    # a constant vector field is not equivariant: the 8 symmetries average it away
    v = torch.tensor([0.3, -0.1])[:, None, None].expand(2, 6, 6)
    mean = sum(invert_vectors(v, k, f) for k, f in SYMMETRIES)
    assert float(mean.abs().max()) < 1e-6


# ---------------------------------------------------------------------- weights and the tracker
def test_bad_weights_are_one_clear_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(CelltraceError, match="bad.pt: not a readable embedtrack weights file") as e:
        load_model(bad)
    assert "\n" not in str(e.value)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(CelltraceError, match="not an embedtrack weights file"):
        load_model(other)
    truncated = tmp_path / "cut.pt"
    save_model(EmbedTrackModel(EmbedTrackConfig(**TINY)), truncated)
    truncated.write_bytes(truncated.read_bytes()[:500])
    with pytest.raises(CelltraceError, match="cut.pt"):
        load_model(truncated)
    with pytest.raises(CelltraceError, match="no trained embedtrack model found at .*missing.pt"):
        EmbedTrackTracker(weights=tmp_path / "missing.pt").track(np.zeros((2, 8, 8), np.uint8))


def test_train_on_the_left_part_of_the_field_only(tmp_path):
    """``region`` (the protocol's spatial split): trained on ``x < 0.6 W`` of each field, and the
    manifest and the weights file say so; a malformed region is refused before any training."""
    weights = tmp_path / "left.pt"
    train_embedtrack([ctc_sequence(SIM)], weights, steps=2, seed=0, crop=96, progress=False, val_frames=1,
                     region="0:0.6", **TINY)
    assert json.loads(weights.with_suffix(".json").read_text())["region"] == "0:0.6"
    assert torch.load(weights, weights_only=False)["extra"]["manifest"]["region"] == "0:0.6"
    with pytest.raises(ValueError, match="region"):
        train_embedtrack([ctc_sequence(SIM)], tmp_path / "bad.pt", steps=1, progress=False, region="0.6:0.2", **TINY)


def test_train_command_then_track_writes_valid_res(tmp_path, capsys, sim):
    weights = tmp_path / "et.pt"
    out = train_embedtrack([ctc_sequence(SIM)], weights, steps=3, seed=0, crop=96, progress=False,
                           val_frames=1, **TINY)
    manifest = json.loads(weights.with_suffix(".json").read_text())
    assert manifest["steps"] == 3 and manifest["config"]["min_size"] > 1
    assert manifest["validation"]["per_sequence"]["Fluo-N2DH-SIM+/02"]["pairs"]
    assert load_model(out).config.position_scale == 96.0
    seq = tmp_path / "seq"
    seq.mkdir()
    for t in range(2):
        shutil.copy(ctc_sequence(SIM) / f"t{t:03d}.tif", seq / f"t{t:03d}.tif")
    code = main(["track", str(seq), "--method", "embedtrack", "--out", str(tmp_path / "R"), "-q",
                 "--param", f"weights={weights}", "--param", "tta=false", "--param", "tile=512"])
    assert code == 0, capsys.readouterr().err
    res = Tracking.from_ctc(tmp_path / "R").validate()
    assert res.n_frames == 2
    # linking-only mode: the user's masks are kept, the network links them
    gt = np.stack([sim.markers(t) for t in range(3)]).astype(np.uint16)
    linked = EmbedTrackTracker(weights=weights, tta=False, tile=512).track(np.stack([sim.image(t) for t in range(3)]),
                                                                           masks=gt, progress=False).validate()
    for t in range(3):
        np.testing.assert_array_equal(np.asarray(linked.masks[t]) > 0, gt[t] > 0)
