"""The Caliban models shipped in the package: they load offline, carry a manifest, work (beat
`classic` on SIM+ 02 frames — frames the segmentation model trained on: a check that the weights
and post-processing are sound, not a measure of generalization, which tests/test_protocol.py and
benchmarks/generalization.py measure), and the learned linker finds the GT divisions."""

from __future__ import annotations

import json

import numpy as np
import pytest

import celltrace
from celltrace import Movie, evaluate, open_movie
from celltrace.io.ctc import read_ctc
from celltrace.methods.base import load_tracker
from celltrace.methods.caliban.link_targets import window_tracking
from celltrace.methods.caliban.tracker import DEFAULT_LINK_WEIGHTS, DEFAULT_SEG_WEIGHTS
from celltrace.train.data import open_sequence, split_frames

from conftest import ctc_gt, ctc_sequence

SIM = "Fluo-N2DH-SIM+"


@pytest.fixture(scope="module")
def sim_held_out():
    """SIM+ 02's validation frames (the tail 20 % the trainers never use) and their windowed GT."""
    seq = open_sequence(ctc_sequence(SIM))
    _, val = split_frames(seq.frames)
    a, b = val[0], val[-1] + 1
    mv = open_movie(ctc_sequence(SIM))
    movie = Movie(frames=np.stack([mv[t] for t in range(a, b)]))
    return movie, window_tracking(read_ctc(ctc_gt(SIM)), a, b).validate(), (a, b)


def test_shipped_weights_and_manifests():
    for path in (DEFAULT_SEG_WEIGHTS, DEFAULT_LINK_WEIGHTS):
        assert path.is_file(), path
        assert path.stat().st_size < 5 * 2**20, f"{path} is {path.stat().st_size / 2**20:.1f} MB"
        manifest = json.loads(path.with_suffix(".json").read_text())
        for key in ("command", "data", "seed", "steps", "time", "device", "validation", "train_seconds"):
            assert manifest.get(key) not in (None, "", []), (path.name, key)
        # trained on the three 02 sequences
        assert {p.rstrip("/").split("/")[-1] for p in manifest["data"]} == {
            "Fluo-N2DH-SIM+", "Fluo-N2DH-GOWT1", "Fluo-C2DL-MSC"}
    assert load_tracker("caliban").weights_available()
    seg = json.loads(DEFAULT_SEG_WEIGHTS.with_suffix(".json").read_text())
    assert seg["validation"]["psc"] and seg["validation"]["synth"]  # scored on the protocol, on data it never saw


def test_weights_load_offline_in_a_fresh_process(tmp_path):
    """No network: the loaders read only the package files (sockets are disabled in the child)."""
    import subprocess
    import sys

    code = ("import socket\n"
            "def nope(*a, **k): raise RuntimeError('network access')\n"
            "socket.socket.connect = nope; socket.create_connection = nope\n"
            "from celltrace.methods.caliban.segmentation_model import load_model\n"
            "from celltrace.methods.caliban import linking_model\n"
            "from celltrace.methods.caliban.tracker import DEFAULT_SEG_WEIGHTS, DEFAULT_LINK_WEIGHTS\n"
            "m = load_model(DEFAULT_SEG_WEIGHTS); l, extra = linking_model.load_model(DEFAULT_LINK_WEIGHTS)\n"
            "print('ok', sum(p.numel() for p in m.parameters()), extra['linking']['division_probability'])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok ")


def test_shipped_model_beats_classic_on_sim_frames(sim_held_out):
    movie, gt, _ = sim_held_out
    scores = {}
    for method in ("classic", "caliban"):
        tr = celltrace.track(movie, method=method, progress=False).validate()
        scores[method] = evaluate(tr, gt, metrics=["ctc"])["TRA"]
    assert scores["caliban"] > scores["classic"] + 0.05, scores


def test_learned_linker_finds_the_gt_divisions_on_held_out_sim_frames(sim_held_out):
    """Linking-only mode on the GT masks of the held-out frames: BC(2) >= 0.9."""
    movie, gt, _ = sim_held_out
    assert len(gt.divisions()) >= 15
    tr = load_tracker("caliban", linker="learned").track(movie, masks=np.asarray(gt.masks), progress=False).validate()
    assert tr.meta["linker"] == "caliban"
    s = evaluate(tr, gt, metrics=["ctc", "bio", "divisions"])
    assert s["BC(2)"] >= 0.9 and s["TRA"] >= 0.99, s
