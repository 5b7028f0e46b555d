"""A training checkpoint is resumed only by a run with the same settings (seed, data, config,
crop, batch, lr); otherwise one line suggests --restart, and the manifest never lies."""

from __future__ import annotations

import json

import pytest

from celltrace.cli import main
from celltrace.errors import CelltraceError
from celltrace.train import trainer
from celltrace.train.loop import load_checkpoint
from conftest import ctc_sequence

TINY = dict(widths=(8, 12, 16, 24), depths=(0, 1, 1, 1), fpn_channels=16, p1_channels=8)


def train(out, **kw):
    options = dict(steps=2, seed=0, crop=48, batch=1, validate=False, progress=False, **TINY)
    options.update(kw)
    return trainer("caliban")([ctc_sequence("Fluo-N2DH-SIM+")], out, **options)


def test_resume_only_with_the_same_settings(tmp_path, capsys):
    out = tmp_path / "m.pt"
    train(out)
    ckpt = tmp_path / "m.pt.ckpt" / "last.pt"
    assert load_checkpoint(ckpt)["extra"]["settings"]["seed"] == 0
    # another seed into the same --out: refused, nothing rewritten
    before = ckpt.read_bytes()
    with pytest.raises(CelltraceError, match=r"seed 0 \(now 1\).*--restart"):
        train(out, seed=1, steps=3)
    with pytest.raises(CelltraceError, match=r"config\.lr .*--restart"):
        train(out, lr=0.5, steps=3)
    with pytest.raises(CelltraceError, match=r"config\.crop 48 \(now 64\)"):
        train(out, crop=64, steps=3)
    assert ckpt.read_bytes() == before
    assert json.loads((tmp_path / "m.json").read_text())["seed"] == 0
    # the CLI says it in one line
    code = main(["train", "caliban", "--data", str(ctc_sequence("Fluo-N2DH-SIM+")), "--out", str(out), "--seed", "1",
                 "--steps", "3", "--crop", "48", "--batch", "1", "-q"]
                + [a for k, v in TINY.items() for a in ("--param", f"{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--restart" in err and "seed 0 (now 1)" in err
    # the same settings resume; --restart (resume=False) starts a new run whose manifest is true
    train(out, steps=3)
    assert load_checkpoint(ckpt)["history"]["resumed_from"] == 2
    train(out, seed=1, steps=2, resume=False)
    assert json.loads((tmp_path / "m.json").read_text())["seed"] == 1
    assert load_checkpoint(ckpt)["extra"]["settings"]["seed"] == 1


def test_checkpoint_without_settings_is_not_resumed(tmp_path):
    import torch

    from celltrace.train.loop import History, fit, save_checkpoint

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    save_checkpoint(tmp_path / "last.pt", model, opt, 1, History(loss=[1.0], steps=1))  # an old-style checkpoint
    with pytest.raises(CelltraceError, match="without a record of its settings"):
        fit(model, lambda m, b: m(b).pow(2).mean(), lambda s: torch.ones(1, 2), opt, steps=2,
            checkpoint_dir=tmp_path, progress=False, settings={"seed": 0})
