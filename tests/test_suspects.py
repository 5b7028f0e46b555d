"""The shared suspects table (io.suspects): written atomically beside a result, read back, shown
in the report without ground truth and opened in napari as a points layer."""

from __future__ import annotations

import numpy as np
import pytest

from celltrace.errors import InputError
from celltrace.io.ctc import write_ctc_files
from celltrace.io.suspects import SUSPECTS_FILE, parse_labels, read_suspects, suspect_positions, suspects_table, write_suspects
from celltrace.synth import synthetic_movie
from celltrace.tracking import Tracking


def _result(tmp_path):
    movie, gt = synthetic_movie(n_frames=4, shape=(64, 64), n_cells=3, seed=0)[:2]
    out = tmp_path / "R"
    out.mkdir()
    write_ctc_files(gt, out, kind="res")
    return movie, gt, out


def test_roundtrip_and_positions(tmp_path):
    movie, gt, out = _result(tmp_path)
    lab = int(gt.lineage["label"].iloc[0])
    table = suspects_table([{"frame": 1, "labels": [lab], "kind": "merge", "score": 0.8},
                            {"frame": 2, "labels": (lab, 99), "kind": "no previous cell", "score": 0.3, "y": 5.0, "x": 6.0}])
    path = write_suspects(table, out)
    assert path == out / SUSPECTS_FILE and not list(out.glob(".*tmp*"))
    back = read_suspects(out)
    assert list(back["kind"]) == ["merge", "no previous cell"] and parse_labels(back["labels"][1]) == [lab, 99]
    pts = suspect_positions(back, gt.masks)
    ys, xs = np.nonzero(np.asarray(gt.masks[1]) == lab)
    assert np.allclose(pts[0], (1, ys.mean(), xs.mean())) and np.allclose(pts[1], (2, 5, 6))


def test_bad_suspects_file_is_one_clear_error(tmp_path):
    bad = tmp_path / SUSPECTS_FILE
    bad.write_text("frame,kind\n1,merge\n")
    with pytest.raises(InputError, match="labels"):
        read_suspects(bad)


def test_report_and_napari_show_the_suspects(tmp_path):
    from celltrace.napari._reader import read_result_layers
    from celltrace.report.build import write_report

    movie, gt, out = _result(tmp_path)
    lab = int(gt.lineage["label"].iloc[0])
    write_suspects(suspects_table([{"frame": 1, "labels": [lab], "kind": "merge", "score": 0.8}]), out)
    layers = read_result_layers(str(out))
    points = [layer for layer in layers if layer[2] == "points"]
    assert len(points) == 1 and points[0][0].shape == (1, 3) and list(points[0][1]["features"]["kind"]) == ["merge"]
    page = write_report(out, movie, tmp_path / "report", progress=False).read_text()
    assert 'id="suspects-table"' in page and "merge" in page
    assert (tmp_path / "report" / SUSPECTS_FILE).is_file()
    res = Tracking.from_ctc(out)
    assert res.n_frames == 4
