"""BoxTrack units: memory bank eviction, the Eq. 5-8 score, prompt windows, the segmenter's
shapes, training targets and loss on real frames, and the box prompt readers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from celltrace.errors import InputError
from celltrace.io.boxes import boxes_from_labels, load_boxes, read_boxes, write_boxes
from celltrace.methods.boxtrack.config import BoxTrackConfig
from celltrace.methods.boxtrack.memory import MemoryBank
from celltrace.methods.boxtrack.model import PromptableSegmenter, load_model, save_model
from celltrace.methods.boxtrack.score import crop_iou, proposal_scores
from celltrace.methods.boxtrack.targets import PromptSamples, affinity_loss, boxtrack_loss
from celltrace.methods.boxtrack.window import (boxes_in_windows, crop_windows, mask_box, paste_window,
                                               prompt_windows)
from celltrace.train.data import find_sequences, frame_refs

from conftest import ctc_sequence


# ---------------------------------------------------------------------- memory bank
def test_memory_bank_evicts_lowest_insertion_score():
    bank = MemoryBank(size=3, policy="score")
    for frame, score in [(0, 0.9), (1, 0.4), (2, 0.7)]:
        assert bank.add(f"e{frame}", frame, score) is None
    evicted = bank.add("e3", 3, 0.6)
    assert evicted.frame == 1 and evicted.score == 0.4  # the lowest score, not the oldest
    assert sorted(e.frame for e in bank.entries) == [0, 2, 3]
    evicted = bank.add("e4", 4, 0.95)
    assert evicted.frame == 3  # 0.6 is now the lowest
    assert sorted(e.frame for e in bank.entries) == [0, 2, 4]
    assert bank.ages(10) == [10 - e.frame for e in bank.entries]


def test_memory_bank_fifo_evicts_oldest():
    bank = MemoryBank(size=2, policy="fifo")
    bank.add("a", 0, 0.1)
    bank.add("b", 1, 0.9)
    assert bank.add("c", 2, 0.5).frame == 0
    assert bank.add("d", 3, 0.5).frame == 1
    with pytest.raises(ValueError):
        MemoryBank(size=2, policy="lru")


# ---------------------------------------------------------------------- score (Eq. 5-8)
def _crop(y, x, h, w, shape=(20, 20)):
    m = np.zeros(shape, bool)
    m[y:y + h, x:x + w] = True
    return 0, 0, m


def test_score_formula_on_hand_made_proposals():
    prev_token = np.array([1.0, 0.0, 0.0])
    tokens = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    objectness = np.array([0.2, 0.9, 0.5])
    predicted = _crop(0, 0, 10, 10)
    masks = [_crop(0, 0, 10, 10), _crop(10, 10, 10, 10), _crop(0, 0, 10, 5)]
    lambdas = (0.5, 0.3, 0.2)
    s = proposal_scores(tokens, objectness, masks, prev_token, predicted, lambdas)
    assert np.allclose(s["affinity"], [1.0, 0.0, 1 / np.sqrt(2)])
    assert np.allclose(s["motion"], [1.0, 0.0, 0.5])
    expected = 0.5 * s["affinity"] + 0.3 * s["motion"] + 0.2 * objectness
    assert np.allclose(s["score"], expected)
    assert int(np.argmax(s["score"])) == 0
    # objectness alone picks the second proposal
    assert int(np.argmax(proposal_scores(tokens, objectness, masks, prev_token, predicted, (0, 0, 1))["score"])) == 1


def test_score_without_history_uses_objectness_only():
    tokens = np.eye(3)
    objectness = np.array([0.1, 0.7, 0.3])
    s = proposal_scores(tokens, objectness, [_crop(0, 0, 2, 2)] * 3, None, None, (0.4, 0.4, 0.2))
    assert np.allclose(s["score"], objectness)
    assert np.isnan(s["affinity"]).all() and np.isnan(s["motion"]).all()


def test_crop_iou_with_offsets():
    a = (5, 5, np.ones((4, 4), bool))
    b = (7, 5, np.ones((4, 4), bool))
    assert crop_iou(a, b) == pytest.approx(8 / 24)
    assert crop_iou(a, (50, 50, np.ones((2, 2), bool))) == 0.0


def test_config_normalises_lambdas():
    assert BoxTrackConfig(lambda_a=1, lambda_m=1, lambda_o=2).lambdas() == (0.25, 0.25, 0.5)


# ---------------------------------------------------------------------- windows
def test_window_crop_and_paste_round_trip():
    frame = np.zeros((60, 80), np.float32)
    frame[20:30, 40:56] = 1.0
    box = mask_box(frame > 0)
    assert np.allclose(box, [40, 20, 56, 30])
    win = prompt_windows(box[None], context=2.0, min_side=8)
    assert np.allclose(win, [[48, 25, 32]])
    assert np.allclose(boxes_in_windows(box[None], win), [[[-0.5, -0.3125], [0.5, 0.3125]]])
    crop = crop_windows(torch.from_numpy(frame), win, 32, nearest=True)[0, 0]
    assert crop.sum() == 160  # 1 window pixel = 1 frame pixel here
    (rows, cols), back = paste_window(crop, win[0], frame.shape)
    assert np.array_equal(back > 0.5, frame[rows, cols] > 0)


# ---------------------------------------------------------------------- network, targets, loss
def test_segmenter_outputs_proposals_with_tokens(tmp_path):
    cfg = BoxTrackConfig(window=32, dim=32, proposals=3, memory_tokens=4)
    model = PromptableSegmenter(cfg).eval()
    x = torch.rand(5, 1, 32, 32)
    corners = torch.tensor([[-0.5, -0.5], [0.5, 0.5]]).expand(5, 2, 2)
    out = model(x, corners)
    assert out["masks"].shape == (5, 3, 32, 32) and out["tokens"].shape == (5, 3, 32)
    assert out["objectness"].shape == (5, 3)
    mem = model.encode_memory(out["features"], torch.sigmoid(out["masks"][:, :1]), out["tokens"][:, 0])
    assert mem.shape == (5, 4 * 4 + 1, 32)
    with torch.no_grad():
        two = model(x, corners, memory=torch.stack([mem, mem], 1), ages=torch.ones(5, 2),
                    valid=torch.tensor([[True, False]] * 5))
        one = model(x, corners, memory=mem[:, None], ages=torch.ones(5, 1))
    assert torch.allclose(two["masks"], one["masks"], atol=1e-5)  # padding entries are ignored
    path = save_model(model, tmp_path / "bt.pt")
    again = load_model(path, lambda_a=0.1)
    assert again.config.lambda_a == 0.1 and again.config.dim == 32
    with torch.no_grad():
        assert torch.allclose(again(x, corners)["masks"], model(x, corners)["masks"], atol=1e-6)


def test_affinity_loss_prefers_matching_tokens():
    z = torch.eye(4)
    assert affinity_loss(z, z) < affinity_loss(z, z.roll(1, 0))


@pytest.fixture(scope="module")
def sim_samples():
    seqs = find_sequences([ctc_sequence("Fluo-N2DH-SIM+")], region="0:0.6")
    cfg = BoxTrackConfig(window=32, dim=32, memory_tokens=4, batch=6, p_negative=0.2)
    refs = [r for r in frame_refs(seqs, "all") if r.t < 6]
    return PromptSamples(seqs, refs, cfg, seed=3), cfg


def test_training_targets_are_the_prompted_cell(sim_samples):
    samples, cfg = sim_samples
    batch = samples(0)
    again = samples(0)
    assert torch.equal(batch["targets"], again["targets"])  # reproducible per step
    pos = ~batch["negative"]
    assert pos.any()
    tgt = batch["targets"][pos]
    # the prompted cell sits in the middle of its window and fills a fair part of it
    frac = tgt.flatten(1).mean(1)
    assert ((frac > 0.05) & (frac < 0.6)).all()
    assert (tgt[:, 0, 12:20, 12:20].flatten(1).mean(1) > 0.3).all()
    assert (batch["targets"][batch["negative"]] == 0).all()
    corners = batch["corners"]
    assert (corners[:, 0] < corners[:, 1]).all() and corners.abs().max() <= 1.0


def test_loss_decreases_on_a_fixed_batch(sim_samples):
    samples, cfg = sim_samples
    torch.manual_seed(0)
    model = PromptableSegmenter(cfg)
    batch = samples(1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(12):
        loss, parts = boxtrack_loss(model, batch, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert set(parts) >= {"mask", "objectness", "affinity", "iou"}
    assert losses[-1] < 0.8 * losses[0]


# ---------------------------------------------------------------------- box prompts
def test_box_readers_csv_json_labels_agree(tmp_path):
    labels = np.zeros((40, 50), np.uint16)
    labels[2:10, 3:8] = 4
    labels[20:35, 30:45] = 9
    table = boxes_from_labels(labels)
    assert table[["frame", "x0", "y0", "x1", "y1", "id"]].values.tolist() == [[0, 3, 2, 8, 10, 4], [0, 30, 20, 45, 35, 9]]
    csv = write_boxes(table, tmp_path / "b.csv")
    js = tmp_path / "b.json"
    js.write_text(json.dumps({"boxes": table.to_dict("records")}))
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps(table.values.tolist()))
    noheader = tmp_path / "nh.csv"
    noheader.write_text("0,3,2,8,10\n0,30,20,45,35\n")
    np.save(tmp_path / "labels.npy", labels)
    for source in (csv, js, rows, tmp_path / "labels.npy"):
        pd.testing.assert_frame_equal(load_boxes(source, frame_shape=(40, 50)), table)
    plain = read_boxes(noheader)
    assert plain[["x0", "y0", "x1", "y1"]].values.tolist() == table[["x0", "y0", "x1", "y1"]].values.tolist()
    assert plain["id"].isna().all()


@pytest.mark.parametrize("text,problem", [
    ("frame,x0,y0,x1\n0,1,2,3\n", "lacks the column"),
    ("frame,x0,y0,x1,y1\n0,5,2,3,9\n", "x0 < x1"),
    ("frame,x0,y0,x1,y1\n-1,1,2,3,9\n", "whole number"),
    ("frame,x0,y0,x1,y1\n0,a,2,3,9\n", "not numbers"),
    ("frame,x0,y0,x1,y1\n0,500,2,600,9\n", "outside"),
    ("frame,x0,y0,x1,y1,id\n0,1,2,3,9,-4\n", "positive whole"),
])
def test_bad_box_files_give_one_line(tmp_path, text, problem):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_boxes(path, frame_shape=(100, 100))
    assert problem in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)
