"""The CLI's outputs: never over an input, never over what appeared meanwhile, errors that name the
output, --device, run.json provenance, `celltrace methods`, help texts, convert's extensions."""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os

import numpy as np
import pytest

import celltrace
import celltrace.api
from celltrace.methods.base import DEFAULT_METHOD
from celltrace import Tracking
from celltrace.cli import build_parser, main
from conftest import crop_sequence, ctc_gt, deny_hidden_temporaries


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(code: int, err: str) -> bool:
    return code == 2 and err.startswith("celltrace: error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture
def seq(tmp_path):
    """4 frames of GOWT1 02, 256 x 256."""
    return crop_sequence("Fluo-N2DH-GOWT1", tmp_path / "seq", frames=4)


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------- 1: output over an input
def test_output_that_is_contains_or_lies_inside_an_input_is_refused(tmp_path, capsys, seq, monkeypatch):
    before = snapshot(seq)
    for out, words in [(seq, "is the input movie"), (seq / "RES", "lies inside the input movie"),
                       (tmp_path, "would contain the input movie")]:
        code, _, err = run(capsys, "track", str(seq), "--out", str(out), "--overwrite", "--method", "classic", "-q")
        assert one_line_error(code, err) and words in err and str(out) in err
    (tmp_path / "link").symlink_to(seq)  # resolved paths: a link to the movie is the movie
    code, _, err = run(capsys, "track", str(seq), "--out", str(tmp_path / "link"), "--overwrite", "-q")
    assert one_line_error(code, err) and "is the input movie" in err
    masks = tmp_path / "masks"
    masks.mkdir()
    code, _, err = run(capsys, "track", str(seq), "--masks", str(masks), "--out", str(masks), "--overwrite", "-q")
    assert one_line_error(code, err) and "is the input masks" in err
    assert snapshot(seq) == before and masks.is_dir()
    gt = ctc_gt("Fluo-C2DL-MSC")
    code, _, err = run(capsys, "convert", str(gt), str(gt), "--to", "ctc-gt", "--overwrite", "-q")
    assert one_line_error(code, err) and "the output is the input tracking" in err
    code, _, err = run(capsys, "report", str(gt), "--movie", str(seq), "--out", str(seq), "--overwrite", "-q")
    assert one_line_error(code, err) and "is the input movie" in err
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "demo", "--out", ".", "--overwrite", "-q")
    assert one_line_error(code, err) and "current folder" in err
    assert snapshot(seq) == before


# ---------------------------------------------------------------------- 2: another run got there first
def test_output_that_appears_during_tracking_is_kept(tmp_path, capsys, seq, monkeypatch):
    out = tmp_path / "RES"
    real_track = celltrace.api.track

    def other_run_finishes_first(*a, **k):
        result = real_track(*a, **k)
        out.mkdir()
        (out / "theirs.txt").write_text("another run's result")
        return result

    monkeypatch.setattr(celltrace.api, "track", other_run_finishes_first)
    code, _, err = run(capsys, "track", str(seq), "--method", "classic", "--out", str(out), "-q")
    sibling = tmp_path / f"RES.new-{os.getpid()}"
    assert one_line_error(code, err) and "appeared while" in err and str(sibling) in err
    assert (out / "theirs.txt").read_text() == "another run's result" and len(list(out.iterdir())) == 1
    Tracking.from_ctc(sibling).validate()
    assert (sibling / "run.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------- 6: errors name the output
def test_disk_full_and_permission_errors_name_the_output(tmp_path, capsys, seq, monkeypatch):

    import celltrace.io.results as results

    out = tmp_path / "RES"

    def disk_full(result, folder, kind="res"):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results, "write_ctc_files", disk_full)
    code, _, err = run(capsys, "track", str(seq), "--method", "classic", "--out", str(out), "-q")
    assert one_line_error(code, err) and err == f"celltrace: error: {out}: cannot write: No space left on device\n"
    monkeypatch.undo()
    deny_hidden_temporaries(monkeypatch)
    code, _, err = run(capsys, "track", str(seq), "--method", "classic", "--out", str(out), "-q")
    assert err == f"celltrace: error: {out}: cannot write: Permission denied\n" and ".tmp-" not in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------- 7: --device
def test_device_cuda_without_gpu_is_one_clear_line(tmp_path, capsys, seq, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for method in ("caliban", "classic"):
        code, _, err = run(capsys, "track", str(seq), "--method", method, "--device", "cuda",
                           "--out", str(tmp_path / "R"), "-q")
        assert one_line_error(code, err) and "no CUDA GPU" in err and "--device cpu" in err
    code, _, err = run(capsys, "track", str(seq), "--device", "tpu", "--out", str(tmp_path / "R"), "-q")
    assert one_line_error(code, err) and "'tpu': unknown" in err
    assert not (tmp_path / "R").exists()


def test_device_reaches_the_learned_method_and_run_json_records_the_weights(tmp_path, capsys, seq, monkeypatch):
    import torch

    from celltrace.methods.caliban.tracker import CalibanTracker

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    devices = []
    real_init = CalibanTracker.__init__

    def spy(self, *a, **k):
        devices.append(k.get("device"))
        real_init(self, *a, **k)

    monkeypatch.setattr(CalibanTracker, "__init__", spy)
    out = tmp_path / "R"
    code, _, err = run(capsys, "track", str(seq), "--method", "caliban", "--device", "auto", "--out", str(out),
                       "--param", "peak_threshold=0.4", "--param", "linker=learned", "-q")
    assert code == 0, err
    assert devices == ["cpu"]  # auto → cpu here
    record = json.loads((out / "run.json").read_text())
    assert record["device"] == "cpu" and record["method"] == "caliban"
    assert record["parameters"]["peak_threshold"] == 0.4 and record["overrides"] == {"peak_threshold": 0.4, "linker": "learned"}
    assert "linking" in record["parameters"]
    files = {os.path.basename(w["path"]): w["sha256"] for w in record["weights"]}
    assert set(files) == {"caliban_segmentation.pt", "caliban_linking.pt"}
    for w in record["weights"]:
        assert w["sha256"] == hashlib.sha256(open(w["path"], "rb").read()).hexdigest()


# ---------------------------------------------------------------------- 8: run.json and info
def test_run_json_and_info(tmp_path, capsys, seq):
    from celltrace.methods.classic.config import ClassicConfig

    out = tmp_path / "R"
    code, _, err = run(capsys, "track", str(seq), "--method", "classic", "--param", "max_gap=1", "--out", str(out), "-q")
    assert code == 0, err
    record = json.loads((out / "run.json").read_text())
    assert record["celltrace"] == celltrace.__version__ and record["method"] == "classic"
    expected = {k: v for k, v, _ in ClassicConfig.parameter_docs()}
    expected["max_gap"] = 1
    assert record["parameters"] == json.loads(json.dumps(expected))
    assert record["input"] == str(seq.resolve()) and record["n_frames"] == 4 and record["frame_shape"] == [256, 256]
    assert record["weights"] == [] and record["derived"]["cell_radius"] > 0
    assert {"segmentation_s", "linking_s", "track_s", "write_s"} <= set(record["timings"])
    assert record["date"][:4].isdigit() and "T" in record["date"]
    assert record["command"] == f"celltrace track {seq} --method classic --param max_gap=1 --out {out} -q"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    code, text, _ = run(capsys, "info", str(out))
    assert code == 0 and "method classic" in text and str(seq.resolve()) in text and "max_gap = 1" in text
    assert "threshold_method = \"li\"" in text and "timings" in text


# ---------------------------------------------------------------------- 9: methods, help
def test_methods_lists_description_weights_and_documented_parameters(capsys):
    code, text, _ = run(capsys, "methods")
    assert code == 0
    for name in celltrace.available_methods():
        assert any(line.startswith(name) and ": " in line for line in text.splitlines())
    assert f"{DEFAULT_METHOD} (default): " in text
    blocks = text.split("\n\n")
    classic = next(b for b in blocks if b.startswith("classic"))
    assert "weights: none needed" in classic
    assert any(line.split()[:2] == ["max_gap", "2"] and "Close gaps" in line for line in classic.splitlines())
    caliban = next(b for b in blocks if b.startswith("caliban"))
    assert "weights: needed; shipped" in caliban and "division_probability" in caliban
    from celltrace.methods.base import describe_method

    for name in celltrace.available_methods():
        assert all(doc for _, _, doc in describe_method(name)["parameters"]), name  # every parameter explained


def test_help_shows_default_method_metric_families_and_every_option_has_help(capsys):
    from celltrace.metrics import FAMILIES
    from celltrace.methods.base import DEFAULT_METHOD

    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert f"default method: {DEFAULT_METHOD}" in text
    assert all(f in text for f in FAMILIES)
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {a.dest}" for name, sp in subparsers.choices.items() for a in sp._actions
               if not isinstance(a, argparse._HelpAction) and not a.help]
    missing += [a.dest for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
                and not a.help]
    assert missing == []


# ---------------------------------------------------------------------- 11: convert's extensions
def test_convert_adds_extensions_refuses_contradictions_and_says_file_exists(tmp_path, capsys):
    gt = ctc_gt("Fluo-C2DL-MSC")
    for to, name, written in [("csv", "cells", "cells.csv"), ("napari", "tracks", "tracks.npz"),
                              ("geff", "graph", "graph.geff"), ("csv", "run.v2", "run.v2.csv"),
                              ("csv", "upper.CSV", "upper.CSV")]:
        code, _, err = run(capsys, "convert", str(gt), str(tmp_path / name), "--to", to, "-q")
        assert code == 0, err
        assert (tmp_path / written).exists(), written
    assert np.load(tmp_path / "tracks.npz")["data"].shape[1] == 4
    for to, name, words in [("csv", "x.npz", "the extension .npz is that of --to napari, not --to csv"),
                            ("ctc-res", "res.csv", "--to ctc-res (use a folder name without it)"),
                            ("napari", "x.tif", "use a name ending in .npz")]:
        code, _, err = run(capsys, "convert", str(gt), str(tmp_path / name), "--to", to, "-q")
        assert one_line_error(code, err) and words in err and not (tmp_path / name).exists()
    code, _, err = run(capsys, "convert", str(gt), str(tmp_path / "cells"), "--to", "csv", "-q")
    assert one_line_error(code, err) and f"{tmp_path / 'cells.csv'}: the output file exists" in err
    assert "folder" not in err
    code, _, err = run(capsys, "convert", str(gt), str(tmp_path / "graph"), "--to", "geff", "-q")
    assert one_line_error(code, err) and "output folder already exists" in err
    (tmp_path / "d.csv").mkdir()
    code, _, err = run(capsys, "convert", str(gt), str(tmp_path / "d.csv"), "--to", "csv", "--overwrite", "-q")
    assert one_line_error(code, err) and "is a folder; --to csv writes a file" in err
