"""The shared training loop (seeded, resumable, atomic checkpoints), CTC training data and
augmentations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from celltrace.train import augment, fit, find_sequences, frame_refs, split_frames
from celltrace.train.augment import apply_transform, draw_transform
from celltrace.train.loop import CHECKPOINT_NAME, load_checkpoint, save_checkpoint

from conftest import CTC, ctc_gt, ctc_sequence


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.2), torch.nn.ReLU(),
                                       torch.nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x)


def batches(step: int):
    g = np.random.default_rng((7, step))
    x = g.normal(size=(16, 4)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32)
    return torch.from_numpy(x), torch.from_numpy(y[:, None])


def global_rng_batches():
    """An endless stream that draws from the global generators (restored on resume)."""
    while True:
        x = torch.randn(16, 4)
        yield x, x.sum(1, keepdim=True) + float(np.random.normal()) * 0.01


def mse(model, batch):
    x, y = batch
    loss = ((model(x) - y) ** 2).mean()
    return loss, {"mse": float(loss.detach())}


def run(tmp, steps, seed=0, resume=True, stream=batches):
    torch.manual_seed(123)  # same initial weights (fit re-seeds before training)
    model = Tiny()
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    h = fit(model, mse, stream() if stream is global_rng_batches else stream, opt, steps=steps, checkpoint_dir=tmp,
            seed=seed, resume=resume, log_every=5, progress=False)
    return model, h


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_fit_is_seeded_and_learns(tmp_path):
    m1, h1 = run(tmp_path / "a", 40)
    m2, h2 = run(tmp_path / "b", 40)
    assert h1.loss == h2.loss
    assert torch.equal(params(m1), params(m2))
    assert np.mean(h1.loss[-10:]) < 0.5 * np.mean(h1.loss[:10])
    assert len(h1.parts["mse"]) == 40
    _, h3 = run(tmp_path / "c", 40, seed=1)
    assert h3.loss != h1.loss  # the seed matters (dropout)


@pytest.mark.parametrize("stream", [batches, global_rng_batches])
def test_fit_resumes_exactly(tmp_path, stream):
    full, h_full = run(tmp_path / "full", 30, stream=stream)
    # a run "killed" after 15 steps (its last checkpoint), then started again with the full budget
    run(tmp_path / "part", 15, stream=stream)
    ck = load_checkpoint(tmp_path / "part" / CHECKPOINT_NAME)
    assert ck["step"] == 15
    resumed, h_res = run(tmp_path / "part", 30, stream=stream)
    assert h_res.resumed_from == 15
    assert h_res.loss == h_full.loss
    assert torch.equal(params(resumed), params(full))
    # a finished run resumes to a no-op
    again, h_again = run(tmp_path / "part", 30, stream=stream)
    assert h_again.loss == h_full.loss and torch.equal(params(again), params(full))


def test_fit_without_resume_starts_over(tmp_path):
    run(tmp_path, 10)
    _, h = run(tmp_path, 10, resume=False)
    assert h.resumed_from is None and len(h.loss) == 10


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    model = Tiny()
    opt = torch.optim.Adam(model.parameters())
    from celltrace.train.loop import History

    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, model, opt, 3, History(loss=[1.0, 2.0, 3.0], steps=3))
    before = path.read_bytes()

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(path, model, opt, 4, History(loss=[1.0] * 4, steps=4))
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]  # no temporary left behind
    assert load_checkpoint(path)["step"] == 3


def test_fit_stops_on_nan(tmp_path):
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError):
        fit(model, lambda m, b: m(b[0]).sum() * float("nan"), batches, opt, steps=3, progress=False)


# ---------------------------------------------------------------------- augmentations
def test_augment_keeps_alignment():
    rng = np.random.default_rng(0)
    labels = np.zeros((90, 70), dtype=np.uint16)
    labels[10:30, 5:25] = 1
    labels[50:80, 40:65] = 2
    labels[40:45, 0:70] = 3
    image = labels.astype(np.float32) * 10 + 0.5
    for i in range(40):
        out = augment({"image": image, "labels": labels, "mask": labels > 0}, rng, 48,
                      scale_range=(0.7, 1.4), orders={"image": 0})
        assert out["image"].shape == out["labels"].shape == (48, 48)
        inside = out["image"] > 0  # padding is 0 in every map
        assert np.array_equal(out["image"][inside], out["labels"][inside].astype(np.float32) * 10 + 0.5)
        assert np.array_equal(out["mask"], out["labels"] > 0)
        assert not (~inside & (out["labels"] > 0)).any()


def test_transform_geometry():
    a = np.arange(30, dtype=np.float32).reshape(5, 6)
    rng = np.random.default_rng(1)
    tr = draw_transform(a.shape, (5, 6), rng, rotate=False, flip=False)
    assert np.array_equal(apply_transform(a, tr), a)  # full-size crop at scale 1 is the identity
    from celltrace.train.augment import Transform

    t = Transform(0, 0, 1.0, 1, False, True, (5, 6))
    assert np.array_equal(apply_transform(a, t), np.rot90(a, 1)[:, ::-1])
    up = Transform(0, 0, 2.0, 0, False, False, (10, 12))
    z = apply_transform(a, up, order=0)
    assert np.array_equal(z[::2, ::2], a)  # scale 2: every source pixel doubled


def test_transform_points_follow_the_pixels():
    from celltrace.train.augment import transform_points

    rng = np.random.default_rng(5)
    for i in range(24):
        a = np.zeros((40, 50), dtype=np.uint8)
        y, x = int(rng.integers(8, 32)), int(rng.integers(8, 42))
        a[y, x] = 1
        tr = draw_transform(a.shape, (24, 24), rng, centre=(y, x), scale_range=(1.0, 1.0) if i % 2 else (2.0, 2.0))
        out = apply_transform(a, tr, order=0)
        q = transform_points([[y, x]], tr)[0]
        # scale 2 doubles the pixel: its output block starts at the mapped point or one step before (flips)
        hits = np.argwhere(out > 0)
        assert np.abs(hits - q).max(axis=1).min() <= (0 if tr.scale == 1.0 else 1), (tr, q, hits)


def test_augment_bilinear_scaling_is_smooth():
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    ramp = yy + xx
    out = augment({"r": ramp}, np.random.default_rng(3), 32, scale_range=(2.0, 2.0), rotate=False, flip=False)
    d = np.diff(out["r"], axis=1)
    assert np.allclose(d, 0.5, atol=1e-4)  # a linear ramp stays linear at half the slope


# ---------------------------------------------------------------------- CTC data
def test_find_sequences_and_samples():
    seqs = find_sequences([CTC / "Fluo-N2DH-SIM+", ctc_sequence("Fluo-N2DH-GOWT1")])
    sim, gowt = seqs
    assert sim.name.endswith("02") and len(sim) == 150 and len(sim.seg_files) == 150
    assert sim.markers_are_masks and not gowt.markers_are_masks
    assert len(gowt) == 92 and 22 in gowt.seg_files and 23 not in gowt.seg_files
    s = gowt.sample(22)
    assert s.image.shape == s.markers.shape == s.seg.shape == (1024, 1024)
    assert gowt.sample(23).seg is None
    assert ctc_gt("Fluo-N2DH-GOWT1") == gowt.gt_dir


def test_split_frames():
    train, val = split_frames(list(range(10)), "tail", 0.2)
    assert train == list(range(8)) and val == [8, 9]
    train, val = split_frames(list(range(10)), "every", every=5)
    assert val == [4, 9] and set(train) | set(val) == set(range(10)) and not set(train) & set(val)
    seqs = find_sequences([ctc_sequence("Fluo-N2DH-GOWT1")])
    tr = frame_refs(seqs, "train")
    va = frame_refs(seqs, "val", require_seg=True)
    assert max(r.t for r in tr) < min(r.t for r in va)  # validation is held out, later in time
    assert all(r.t in seqs[0].seg_files for r in va) and len(va) >= 3
