"""DistNet2D: targets on hand-checked cells and real GT, a tiny training run, the post-processing
on ideal maps (with a merge and a split to correct), the suspects file and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from celltrace.io.tiff import read_frame
from celltrace.methods.distnet2d.config import DistNet2DConfig
from celltrace.methods.distnet2d.model import DistNet2DModel, window_offsets, window_pairs
from celltrace.methods.distnet2d.postprocess import segment_maps
from celltrace.methods.distnet2d.targets import (WindowBatches, distnet2d_loss, edm_map, gdcm_map, ideal_maps,
                                                  pair_links, pair_maps)
from celltrace.methods.distnet2d.tracker import track_maps
from celltrace.methods.distnet2d.tracking_step import link_pair
from celltrace.segmentation.medoids import medoids
from celltrace.train.instances import parents_of
from celltrace.metrics import evaluate
from celltrace.tracking import Tracking
from celltrace.train.data import find_sequences, frame_refs
from conftest import ctc_gt, ctc_sequence


# ---------------------------------------------------------------------- window and network
def test_window_of_seven_frames_spans_fifteen_at_gap_three():
    assert window_offsets(7, 3) == [-7, -4, -1, 0, 1, 4, 7]
    assert window_offsets(2, 3) == [-1, 0]
    pairs = window_pairs(7)
    assert len(pairs) == 2 * 7 - 4 and pairs[2] == (2, 3)  # pair c−1 links t−1 to t
    out = DistNet2DModel(DistNet2DConfig())(torch.zeros(1, 7, 32, 40))
    assert out["edm"].shape == (1, 7, 32, 40) and out["mult_fwd"].shape == (1, 10, 3, 32, 40)


# ---------------------------------------------------------------------- targets
def test_edm_and_gdcm_on_hand_checked_cells():
    lab = np.zeros((9, 14), np.int32)
    lab[1:6, 1:8] = 1          # a 5×7 rectangle ...
    lab[1:6, 8:12] = 2         # ... touching a 5×4 one on its right
    lab[7:9, 0:3] = 3          # a 2×3 cell on the field's edge
    edm = edm_map(lab)
    assert edm[0, 0] == -1 and edm[6, 5] == -1
    assert edm[3, 4] == 3      # centre of the 5-row rectangle: 3 pixels to the rows outside it
    assert edm[3, 7] == 1      # next to the touching cell: another cell counts as outside
    assert edm[3, 8] == 1
    assert edm[8, 1] == 1      # the field's edge counts as outside
    # GDCM: geodesic distance to the medoid, exact along straight lines inside a cell
    ell = np.zeros((7, 9), np.int32)
    ell[1:6, 1:3] = 5          # an L: vertical arm ...
    ell[4:6, 3:8] = 5          # ... and horizontal foot
    g = gdcm_map(ell, {5: (4, 2)})
    assert g[4, 2] == 0 and g[1, 2] == 3 and g[4, 7] == 5
    assert g[0, 0] == 0        # background
    assert g[1, 1] > np.hypot(3, 1) - 1e-6  # around the corner it is at least the straight distance


def test_pair_targets_move_and_divide():
    a = np.zeros((20, 20), np.int32)
    b = np.zeros((20, 20), np.int32)
    a[2:5, 2:5] = 1            # moves by (+2, +3)
    b[4:7, 5:8] = 1
    a[10:15, 10:15] = 2        # divides into 3 and 4
    b[9:12, 10:15] = 3
    b[13:16, 10:15] = 4
    ca, cb = medoids(a), medoids(b)
    links = {1: 1, 3: 2, 4: 2}
    m = pair_maps(a, b, {k: np.array(v, float) for k, v in ca.items()},
                  {k: np.array(v, float) for k, v in cb.items()}, links)
    assert np.allclose(m["disp_bwd"][:, 5, 6], (2, 3)) and m["mult_bwd"][5, 6] == 1
    assert m["mult_fwd"][3, 3] == 1 and np.allclose(m["disp_fwd"][:, 3, 3], (2, 3))
    assert m["mult_fwd"][12, 12] == 2    # mother: more than one next cell
    expected = (np.array(cb[3]) + np.array(cb[4])) / 2 - np.array(ca[2])
    assert np.allclose(m["disp_fwd"][:, 12, 12], expected)
    assert np.allclose(m["disp_bwd"][:, 10, 12], np.array(cb[3]) - np.array(ca[2]))
    assert m["mult_bwd"][0, 0] == -1 and np.isnan(m["disp_bwd"][0, 0, 0])


def test_targets_from_real_gt_window_match_the_markers():
    """SIM+ (markers are masks): an un-augmented window reproduces EDM, GDCM and the backward
    displacement of every cell as computed independently from the GT frames."""
    seq = find_sequences([ctc_sequence("Fluo-N2DH-SIM+")])[0]
    cfg = DistNet2DConfig(frames=3, crop=seq.image(0).shape[0], subsample=(1, 1))
    refs = [r for r in frame_refs([seq], "all") if 10 <= r.t <= 12]
    sampler = WindowBatches([seq], refs, cfg, augment=False)
    rng = np.random.default_rng(0)
    w = sampler.window(0, 11, 1, rng)
    gt10, gt11 = seq.markers(10).astype(np.int32), seq.markers(11).astype(np.int32)
    H, W = gt11.shape
    assert np.array_equal(w["edm"][1][:H, :W], edm_map(gt11))
    assert np.array_equal(w["gdcm"][1][:H, :W], gdcm_map(gt11, medoids(gt11)))
    c10, c11 = medoids(gt10), medoids(gt11)
    parents = parents_of(seq)
    links = pair_links(sampler.frame(0, 10), sampler.frame(0, 11), parents)
    for j, (y, x) in c11.items():
        i = links[j]
        if i:
            assert np.allclose(w["disp_bwd"][0][:, y, x], np.subtract(c11[j], c10[i]))


# ---------------------------------------------------------------------- training
def test_tiny_training_run_on_real_crops_lowers_the_loss():
    seq = find_sequences([ctc_sequence("Fluo-N2DH-SIM+")])[0]
    cfg = DistNet2DConfig(frames=3, crop=48, batch=1, widths=(8, 16, 24), blend_width=24, decoder_width=8,
                          subsample=(1, 1))
    refs = [r for r in frame_refs([seq], "all") if 20 <= r.t <= 24]
    batch = WindowBatches([seq], refs, cfg, seed=1, augment=False)(0)
    torch.manual_seed(0)
    model = DistNet2DModel(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss, _ = distnet2d_loss(model(batch["image"]), batch, cfg)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


# ---------------------------------------------------------------------- post-processing on ideal maps
def _largest_parts(lab: np.ndarray) -> np.ndarray:
    """Each cell's largest connected part (the crop can leave a cell in pieces)."""
    from scipy import ndimage as ndi

    out = np.zeros_like(lab)
    for k in np.unique(lab[lab > 0]):
        parts, n = ndi.label(lab == k)
        out[parts == 1 + int(np.argmax(np.bincount(parts.ravel())[1:]))] = k
    return out


def _gt_crop(t0: int, t1: int, box: tuple[slice, slice]) -> tuple[list[np.ndarray], dict[int, int]]:
    gt = ctc_gt("Fluo-N2DH-SIM+")
    frames = [_largest_parts(read_frame(gt / "TRA" / f"man_track{t:03d}.tif")[box].astype(np.int32))
              for t in range(t0, t1)]
    seq = find_sequences([ctc_sequence("Fluo-N2DH-SIM+")])[0]
    return frames, parents_of(seq)


def _gt_tracking(frames: list[np.ndarray], parents: dict[int, int]) -> Tracking:
    links = []
    for t in range(1, len(frames)):
        prev = set(np.unique(frames[t - 1]).tolist()) - {0}
        for j in set(np.unique(frames[t]).tolist()) - {0}:
            i = j if j in prev else parents.get(j, 0)
            if i in prev:
                links.append((t - 1, i, t, j))
    return Tracking.from_links(np.stack(frames), links)


BOX = (slice(520, 700), slice(260, 460))  # SIM+ 02 frames 12–17: cell 3 divides into 11 and 12 at 15


def test_postprocessing_recovers_the_gt_lineage_from_ideal_maps():
    frames, parents = _gt_crop(12, 18, BOX)
    maps = [ideal_maps(frames[max(t - 1, 0)], frames[t], parents) for t in range(len(frames))]
    # min_size 1: the crop cuts cells on its edge down to a few pixels
    result = track_maps(lambda t: maps[t], len(frames), frames[0].shape, DistNet2DConfig(min_size=1))
    gt = _gt_tracking(frames, parents)
    scores = evaluate(result, gt, metrics=["ctc"])
    assert scores["TRA"] == pytest.approx(1.0) and scores["AOGM"] == 0
    assert len(result.divisions()) == len(gt.divisions()) >= 1
    assert result.meta["suspects"].empty and not result.meta["corrections"]


def test_postprocessing_at_network_scale_returns_frame_sized_gt():
    """Ideal maps of whole GT frames resampled to half size, post-processed there (``scale`` 0.5),
    give back the full-size lineage: labels brought to the frame, links and the division kept
    (half the pixels cost one split fragment in six frames: TRA 0.977)."""
    from celltrace.nn.scaling import resample

    frames, parents = _gt_crop(12, 18, (slice(None), slice(None)))
    small = [resample(f, 0.5, order=0) for f in frames]
    maps = [ideal_maps(small[max(t - 1, 0)], small[t], parents) for t in range(len(small))]
    result = track_maps(lambda t: maps[t], len(frames), frames[0].shape, DistNet2DConfig(), scale=0.5)
    assert result.masks.shape == (len(frames),) + frames[0].shape
    gt = _gt_tracking(frames, parents)
    assert evaluate(result, gt, metrics=["ctc"])["TRA"] > 0.95
    assert set(gt.divisions()["frame"]) <= set(result.divisions()["frame"])


def test_link_pair_corrects_an_over_and_an_under_segmentation():
    frames, parents = _gt_crop(13, 15, (slice(440, 773), slice(200, 640)))  # cells 1, 3, 7, 10
    prev, curr = frames
    maps = ideal_maps(prev, curr, parents)
    maps["edm"] = edm_map(curr)
    ids = [k for k in np.unique(prev) if k and k in set(np.unique(curr).tolist())]
    # over-segmentation at t−1: cut one cell in two touching halves (same maps: both move alike)
    cut = ids[0]
    ys, xs = np.nonzero(prev == cut)
    bad_prev = prev.copy()
    bad_prev[ys[ys > np.median(ys)], xs[ys > np.median(ys)]] = 999
    res = link_pair(bad_prev, curr.copy(), maps, 1, edm_map(prev), maps["edm"])
    assert np.array_equal(bad_prev > 0, prev > 0) and np.unique(bad_prev[prev == cut]).size == 1
    assert (cut, cut) in res.links and res.corrections[0]["kind"] == "merged fragments"
    # under-segmentation at t: two distant cells of t given one label
    a, b = 1, 3
    bad_curr = curr.copy()
    bad_curr[bad_curr == b] = a
    res = link_pair(prev.copy(), bad_curr, maps, 1, edm_map(prev), maps["edm"])
    got = {i: j for i, j in res.links}
    assert got[a] != got[b]
    for k in (a, b):
        overlap = np.mean(bad_curr[curr == k] == got[k])
        assert overlap > 0.9
    assert res.corrections[0]["kind"] == "split under-segmented cell"


def test_unconfirmed_division_is_a_suspect_without_correction():
    frames, parents = _gt_crop(14, 16, BOX)
    maps = ideal_maps(frames[0], frames[1], parents)
    maps["mult_fwd"] = np.stack([np.zeros_like(maps["mult_fwd"][0]), np.ones_like(maps["mult_fwd"][0]),
                                 np.zeros_like(maps["mult_fwd"][0])])  # "one next cell" everywhere
    res = link_pair(frames[0].copy(), frames[1].copy(), maps, 1, correct=False)
    kinds = [s["kind"] for s in res.suspects]
    assert "division contradicts multiplicity" in kinds


def test_segmentation_of_ideal_maps_is_the_gt():
    frames, _ = _gt_crop(14, 15, BOX)
    gt = frames[0]
    lab = segment_maps(edm_map(gt), gdcm_map(gt, medoids(gt)))
    assert lab.max() == np.unique(gt[gt > 0]).size
    for k in np.unique(gt[gt > 0]):
        vals, counts = np.unique(lab[gt == k], return_counts=True)
        assert counts.max() == (gt == k).sum()


# ---------------------------------------------------------------------- one cell size for every movie
def test_maps_predicted_at_network_scale_come_back_in_frame_pixels():
    """EDM and displacements computed on a GT frame resampled to network scale, brought back by
    ``maps_to_frame``, agree with the same maps computed at full resolution (lengths ÷ scale)."""
    from celltrace.methods.distnet2d.infer import maps_to_frame
    from celltrace.nn.scaling import resample

    lab = read_frame(ctc_gt("Fluo-C2DL-MSC") / "TRA" / "man_track010.tif").astype(np.int32)
    scale = 0.25  # MSC's large cells to a radius of ~10 px
    small = resample(lab, scale, order=0)
    shift = np.stack([np.full(small.shape, 3.0, np.float32), np.full(small.shape, -2.0, np.float32)])
    back = maps_to_frame({"edm": edm_map(small), "disp_bwd": shift[None],
                          "mult_bwd": np.ones((1, 3) + small.shape, np.float32) / 3}, scale, lab.shape)
    full = edm_map(lab)
    inside = full > 8  # away from the borders, where nearest-neighbour downsampling moves the edge
    assert back["edm"].shape == lab.shape
    assert np.median(np.abs(back["edm"][inside] - full[inside]) / full[inside]) < 0.1
    assert np.allclose(back["disp_bwd"][0, 0], 12.0) and np.allclose(back["disp_bwd"][0, 1], -8.0)
    assert np.allclose(back["mult_bwd"], 1 / 3)  # probabilities are not lengths


def test_training_windows_put_every_dataset_at_one_cell_size():
    """With ``cell_radius`` the crops of MSC (radius ~40 px) and SIM+ (~16 px) show cells of about
    that radius: the largest EDM value of the cells in six crops is near ``cell_radius``."""
    cfg = DistNet2DConfig(frames=3, crop=96, batch=1, subsample=(1, 1), cell_radius=10.0)
    peaks = {}
    for ds in ("Fluo-C2DL-MSC", "Fluo-N2DH-SIM+"):
        seq = find_sequences([ctc_sequence(ds)], region="0:0.6")[0]
        refs = [r for r in frame_refs([seq], "all") if r.t in (5, 6, 7)]
        sampler = WindowBatches([seq], refs, cfg, seed=0, augment=False)
        rng = np.random.default_rng(0)
        peaks[ds] = max(float(sampler.window(0, 6, 1, rng)["edm"][1].max()) for _ in range(6))
        assert 0.1 < sampler.scales[0] < 1.0
    for ds, peak in peaks.items():
        assert 5.0 < peak < 20.0, (ds, peak)


def test_output_gain_scales_the_length_maps_only():
    cfg = DistNet2DConfig(frames=3, widths=(8, 16, 24), blend_width=24, decoder_width=8)
    torch.manual_seed(0)
    plain = DistNet2DModel(cfg).eval()
    gained = DistNet2DModel(DistNet2DConfig(**{**cfg.as_dict(), "output_gain": 10.0})).eval()
    gained.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 32, 32)
    a, b = plain(x), gained(x)
    for k in ("edm", "gdcm", "disp_bwd", "disp_fwd"):
        assert torch.allclose(b[k], 10 * a[k], atol=1e-5)
    assert torch.equal(a["mult_bwd"], b["mult_bwd"])
