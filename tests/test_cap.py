"""CAP: synthetic pre-training data, slot targets, loss on real crops, RAW inference, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch

from celltrace.io.ctc import read_lineage
from celltrace.methods.cap.config import CapConfig
from celltrace.methods.cap.infer import prepare_frame, raw_inference
from celltrace.methods.cap.model import CapModel
from celltrace.methods.cap.targets import (ClipBatches, PointMovie, cap_loss, marker_centroids, window_loss,
                                           synthetic_point_movie, window_targets)
from celltrace.train.loop import fit
from tests.conftest import crop_sequence, ctc_gt, ctc_sequence

TINY = dict(channels=16, hidden=32, heads=2, depth=1, iterations=2, scales=2, radius=2, crop=48, clip=12,
            window=8, slide=4, max_queries=8, batch=1)


def test_synthetic_pretraining_data_has_exact_tracks_and_divisions():
    c = CapConfig(**TINY)
    rng = np.random.default_rng(1)
    pm = next(p for p in (synthetic_point_movie(rng, c, 30, 96) for _ in range(20)) if p.events())
    assert pm.frames.shape == (30, 96, 96)
    # every point is the simulation's exact centre and lies on a bright cell
    for label, (begin, yx) in list(pm.tracks.items())[:5]:
        rows = pm.points[pm.points["label"] == label]
        assert np.allclose(yx[rows["frame"].to_numpy() - begin], rows[["y", "x"]].to_numpy(), atol=1e-4)
    t, lab = int(pm.points["frame"].iloc[0]), int(pm.points["label"].iloc[0])
    y, x = pm.position(lab, t)
    assert pm.frames[t, int(round(y)), int(round(x))] > np.median(pm.frames[t])
    # a division's slots: the mother visible up to a, both daughters from b at their exact centres
    e = pm.events()[0]
    kids = pm.children[e.parent]
    begin = pm.tracks[e.parent][0]
    start = max(begin, e.b - 5)
    T = min(8, 30 - start)
    tg = window_targets(pm, start, T, (-1000, -1000, 3000, 3000), rng, 100)
    n = [i for i in range(int(tg["valid"].sum())) if np.allclose(tg["queries"][i] - 1000, pm.position(e.parent, start), atol=1e-3)][0]
    for k in range(T):
        f = start + k
        assert tg["vis"][k, n, 0] == float(f <= e.a)
        for s in (1, 2):
            p = pm.position(kids[s - 1], f)
            assert tg["vis"][k, n, s] == float(p is not None)
            if p is not None:
                assert np.allclose(tg["loc"][k, n, s] - 1000, p, atol=1e-3)


def _real_crop_movie(c: CapConfig, frames: int = 16) -> PointMovie:
    """The first frames of GOWT1 02, 320×320 crop, with TRA centroids, at network scale."""
    raw, gt = ctc_sequence("Fluo-N2DH-GOWT1"), ctc_gt("Fluo-N2DH-GOWT1")
    y0, x0, s = 300, 300, 320
    scale = c.cell_radius / 20.0
    imgs, pts = [], []
    for t in range(frames):
        imgs.append(prepare_frame(tifffile.imread(raw / f"t{t:03d}.tif")[y0:y0 + s, x0:x0 + s], scale))
        pts.append(marker_centroids(tifffile.imread(gt / "TRA" / f"man_track{t:03d}.tif")[y0:y0 + s, x0:x0 + s], t))
    points = pd.concat(pts, ignore_index=True)
    points[["y", "x"]] *= scale
    return PointMovie(np.stack(imgs), points, read_lineage(gt / "TRA" / "man_track.txt"), "gowt1-crop", scale)


def test_tiny_model_loss_falls_on_real_crops():
    c = CapConfig(**TINY, lr=3e-3)
    pm = _real_crop_movie(c)
    batches = ClipBatches([pm], c, seed=0, pretrain_steps=0)
    c.synth_fraction = 0.0
    fixed = batches(0)
    assert fixed["valid"].any() and fixed["vis"][..., 0].sum() > 0
    torch.manual_seed(0)
    model = CapModel(c)
    with torch.no_grad():
        before = float(cap_loss(model, fixed)[0])
    history = fit(model, cap_loss, lambda step: fixed, torch.optim.Adam(model.parameters(), lr=c.lr), steps=25,
                  progress=False)
    with torch.no_grad():
        after = float(cap_loss(model, fixed)[0])
    assert np.isfinite(history.loss).all()
    assert after < 0.8 * before


def _blob_frames(T: int, shape: tuple[int, int], cells: list[tuple[int, float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Frames with a Gaussian blob per (first frame, y, x) cell from its first frame on, and labels."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    frames = np.zeros((T, *shape), np.float32)
    labels = np.zeros((T, *shape), np.int32)
    for k, (t0, y, x) in enumerate(cells, start=1):
        d2 = (yy - y) ** 2 + (xx - x) ** 2
        frames[t0:] += np.exp(-d2 / (2 * 4.0 ** 2))
        labels[t0:][:, d2 <= 36] = k
    return frames, labels


def test_raw_inference_adds_a_cell_that_appears_mid_movie():
    c = CapConfig(**{**TINY, "l_win": 8})
    model = CapModel(c).eval()
    with torch.no_grad():  # a network that keeps every cell visible and never divides
        model.visibility.weight.zero_()
        model.visibility.bias.copy_(torch.tensor([6.0, -6.0, -6.0]))
    frames, labels = _blob_frames(12, (64, 64), [(0, 16, 16), (0, 40, 44), (5, 20, 48)])
    calls = []

    def detect(t):
        calls.append(t)
        return labels[t]

    tracks = raw_inference(model, lambda t: frames[t], detect, 12, min_area=10)
    assert len(tracks) == 3
    late = tracks[3]
    assert late.begin == 5 and late.parent == 0
    assert np.allclose(late.points[0][1:3], (20, 48), atol=0.5)
    assert [p[0] for p in late.points] == list(range(5, 12))
    assert [p[0] for p in tracks[1].points] == list(range(12))
    # the window restarted at frame 5 (every frame read once or twice, never the whole movie per frame)
    assert calls.count(5) >= 1 and len(calls) <= 2 * 12


def test_cli_track_with_shipped_weights_writes_a_valid_res(tmp_path):
    from celltrace.cli import main
    from celltrace.io.ctc import read_ctc

    seq = crop_sequence("Fluo-N2DH-GOWT1", tmp_path / "02", frames=6, box=(300, 300, 256, 256))
    out = tmp_path / "R"
    assert main(["track", str(seq), "--method", "cap", "--out", str(out), "--quiet"]) == 0
    res = read_ctc(out)
    res.validate()
    assert res.n_frames == 6 and res.n_tracks > 0
    points = pd.read_csv(out / "points.csv")
    assert list(points.columns) == ["frame", "label", "y", "x", "visibility"]
    assert set(points["label"]) <= set(res.lineage["label"])
    assert ((points["visibility"] >= 0) & (points["visibility"] <= 1)).all()


def test_raw_inference_gated_by_the_detector_ends_a_track_off_every_object():
    c = CapConfig(**{**TINY, "l_win": 8})
    model = CapModel(c).eval()
    with torch.no_grad():
        model.visibility.weight.zero_()
        model.visibility.bias.copy_(torch.tensor([6.0, -6.0, -6.0]))
    frames, labels = _blob_frames(10, (64, 64), [(0, 16, 16), (0, 40, 44)])
    labels[6:][labels[6:] == 2] = 0  # the detector loses cell 2 from frame 6 on
    gated = raw_inference(model, lambda t: frames[t], lambda t: labels[t], 10, min_area=10)
    assert [p[0] for p in gated[2].points] == list(range(6))
    assert [p[0] for p in gated[1].points] == list(range(10))
    free = raw_inference(model, lambda t: frames[t], lambda t: labels[t], 10, min_area=10, gate=False)
    assert [p[0] for p in free[2].points] == list(range(10))


def test_the_detector_runs_once_per_frame(tmp_path, monkeypatch):
    """RAW inference asks for a frame's detections several times (windows restart) and the markers
    need them again at full resolution: each frame is still segmented exactly once."""
    from celltrace.methods.base import load_tracker
    from celltrace.methods.classic import ClassicTracker
    from celltrace.movie import Movie

    calls: list[int] = []
    real = ClassicTracker.segment

    def counted(self, image, radius, dtype=np.uint32):
        calls.append(1)
        return real(self, image, radius, dtype=dtype)

    monkeypatch.setattr(ClassicTracker, "segment", counted)
    seq = crop_sequence("Fluo-N2DH-SIM+", tmp_path / "02", frames=10, box=(200, 100, 256, 256))
    frames = np.stack([tifffile.imread(p) for p in sorted(seq.glob("t*.tif"))])
    result = load_tracker("cap", l_win=4).track(Movie(frames=frames), progress=False)
    assert len(calls) == 10
    assert result.meta["timing"]["network_s"] >= 0


def test_balanced_daughter_loss_weighs_the_rare_visible_daughter():
    """One visible daughter slot among many invisible ones: the plain mean hardly sees a wrong
    answer on it, the balanced loss gives it half of the daughter term."""
    T, N = 8, 6
    vis = torch.zeros(1, T, N, 3)
    vis[..., 0] = 1.0
    vis[0, 5, 2, 1] = 1.0  # one daughter visible in one frame
    logits = torch.full((1, T, N, 3), -4.0)
    logits[..., 0] = 4.0  # right everywhere except that daughter
    out = {"locations": [torch.zeros(1, T, N, 3, 2)], "visibility": logits}
    loc, valid = torch.zeros(1, T, N, 3, 2), torch.ones(1, N, dtype=torch.bool)
    _, plain = window_loss(out, loc, vis, valid, CapConfig(balance_daughters=False))
    _, balanced = window_loss(out, loc, vis, valid, CapConfig(balance_daughters=True))
    wrong = float(torch.nn.functional.softplus(torch.tensor(4.0)))  # BCE of logit −4 on a positive
    assert float(plain) < 0.05 * float(balanced)
    assert float(balanced) == pytest.approx(0.5 * wrong, rel=0.05)


def test_training_can_start_from_shipped_weights(tmp_path):
    from celltrace.methods.cap.model import load_model
    from celltrace.methods.cap.tracker import DEFAULT_WEIGHTS
    from celltrace.methods.cap.train import train_cap

    out = train_cap([], tmp_path / "cap.pt", steps=1, lr=1e-9, init=DEFAULT_WEIGHTS, progress=False, validate=False)
    a, b = load_model(DEFAULT_WEIGHTS).state_dict(), load_model(out).state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    assert json.loads(out.with_suffix(".json").read_text())["init"] == str(DEFAULT_WEIGHTS)


def test_a_division_the_detector_confirms_is_called_on_a_real_mitosis():
    """SIM+ 02, cell 4 divides at frame 47 (daughters 29, 30): with the GT markers as the detector,
    the shipped network's daughter slots point at the two daughter objects while their visibilities
    stay low (~0.05–0.2), so the division is called only with the detector-confirmed rule."""
    from celltrace.methods.base import load_tracker
    from celltrace.movie import Movie

    raw, tra = ctc_sequence("Fluo-N2DH-SIM+"), ctc_gt("Fluo-N2DH-SIM+") / "TRA"
    y0, x0, t0 = 81, 585, 41
    window = (slice(y0, y0 + 128), slice(x0, x0 + 128))
    frames = np.stack([tifffile.imread(raw / f"t{t:03d}.tif")[window] for t in range(t0, t0 + 12)])
    markers = np.stack([tifffile.imread(tra / f"man_track{t:03d}.tif")[window] for t in range(t0, t0 + 12)])

    def divisions(threshold: float):
        res = load_tracker("cap", confirmed_division_threshold=threshold).track(Movie(frames=frames), masks=markers,
                                                                                progress=False)
        lin = res.lineage
        kids = lin[lin["parent"] > 0]
        masks = np.asarray(res.masks)
        return [(int(k.begin), int(np.bincount(markers[k.begin][masks[k.begin] == k.label]).argmax()))
                for k in kids.itertuples()], lin, masks

    called, lin, masks = divisions(0.05)
    assert sorted(called) == [(6, 29), (6, 30)]  # the two daughters, from frame 47 = 41 + 6
    parent = int(lin[lin["parent"] > 0]["parent"].iloc[0])
    assert np.bincount(markers[5][masks[5] == parent]).argmax() == 4
    assert divisions(1.0)[0] == []  # the slots' visibilities alone do not reach a division
