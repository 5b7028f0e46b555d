"""The DistNet2D model shipped in the package: it loads offline with its manifest, and
`celltrace track --method distnet2d` writes a valid RES folder and a suspects.csv on a real crop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from celltrace import Tracking
from celltrace.cli import main
from celltrace.io.suspects import SUSPECTS_FILE, parse_labels, read_suspects
from celltrace.io.tiff import read_frame
from celltrace.methods.base import load_tracker
from celltrace.methods.distnet2d.tracker import DEFAULT_WEIGHTS

from conftest import ctc_sequence


def test_shipped_weights_and_manifest():
    assert DEFAULT_WEIGHTS.is_file() and DEFAULT_WEIGHTS.stat().st_size < 8 * 2**20
    manifest = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    for key in ("command", "data", "region", "seed", "steps", "train_seconds", "final_losses", "cut_short"):
        assert manifest.get(key) not in (None, "", []), key
    assert manifest["region"] == "0:0.6"  # the spatial model: the protocol scores it on the right 40 %
    assert load_tracker("distnet2d").weights_available()


def test_cli_track_with_distnet2d_writes_a_valid_result_and_suspects(tmp_path, capsys):
    seq = tmp_path / "gowt1"
    seq.mkdir()
    for t in range(5):  # the right part of GOWT1 02, which the shipped model never saw
        frame = read_frame(ctc_sequence("Fluo-N2DH-GOWT1") / f"t{t:03d}.tif")
        tifffile.imwrite(seq / f"t{t:03d}.tif", np.ascontiguousarray(frame[300:556, 700:956]))
    code = main(["track", str(seq), "--method", "distnet2d", "--out", str(tmp_path / "R"), "-q"])
    assert code == 0, capsys.readouterr().err
    res = Tracking.from_ctc(tmp_path / "R").validate()
    assert res.n_frames == 5
    suspects = read_suspects(tmp_path / "R" / SUSPECTS_FILE)
    assert list(suspects.columns[:4]) == ["frame", "labels", "kind", "score"]
    present = [set(np.unique(np.asarray(res.masks[t])).tolist()) for t in range(5)]
    for row in suspects.itertuples():
        assert 0 < row.frame < 5 and 0 <= row.score <= 1
        near = present[row.frame] | present[row.frame - 1]  # a suspect names cells of t and t−1
        assert set(parse_labels(row.labels)) <= near


def test_shipped_weights_track_the_part_of_gowt1_they_never_saw():
    """The shipped model (trained on the left 60 % of each 02 field) on the first 8 frames of the
    right 40 % of GOWT1 02: TRA above 0.9 (the first, undertrained weights scored 0.1 here)."""
    from celltrace.metrics import evaluate
    from celltrace.movie import Movie
    from celltrace.protocol import spatial_cases

    assert json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text()).get("usable", True) is True
    case = spatial_cases(ctc_sequence("Fluo-N2DH-GOWT1").parents[1], ["Fluo-N2DH-GOWT1"], slice(0, 8))[0]
    result = load_tracker("distnet2d").track(Movie(frames=case.frames), progress=False)
    assert evaluate(result, case.gt, metrics=["ctc"])["TRA"] > 0.9


def test_weights_marked_unusable_warn_when_loaded(tmp_path):
    """A manifest saying ``"usable": false`` makes loading the weights warn, naming why."""
    import shutil

    weights = tmp_path / "dn.pt"
    shutil.copy(DEFAULT_WEIGHTS, weights)
    weights.with_suffix(".json").write_text(json.dumps({"usable": False, "usable_why": "undertrained"}))
    with pytest.warns(UserWarning, match="not usable yet .undertrained"):
        load_tracker("distnet2d", weights=str(weights)).model


def test_an_almost_empty_field_is_not_enlarged_past_twice():
    """The centre crop of SIM+ 02's right part (the protocol's "crop 0.5 centre" shift) holds no
    cell: its radius estimate was the ~2 px of noise specks, which would enlarge the movie 4.5 times
    for the network (8.6 s a frame). Classic now refuses such an estimate (10 px and a warning),
    and the scale is capped at ``MAX_UPSAMPLING`` whatever the radius."""
    from celltrace.errors import CelltraceWarning
    from celltrace.methods.classic import ClassicTracker
    from celltrace.methods.classic.tracker import NO_CELL_RADIUS
    from celltrace.movie import Movie
    from celltrace.nn.scaling import MAX_UPSAMPLING, network_scale
    from celltrace.protocol import SHIFT_SUITE, shift_cases, spatial_cases

    base = spatial_cases(ctc_sequence("Fluo-N2DH-SIM+").parents[1], ["Fluo-N2DH-SIM+"], slice(0, 4))
    centre = [s for s in SHIFT_SUITE if s.name == "crop 0.5 centre"]
    case = shift_cases(base, centre)[0]
    movie = Movie(frames=case.frames)
    assert ClassicTracker(min_cell_radius=0).estimate_radius(movie) < 5  # the collapse this guards against
    with pytest.warns(CelltraceWarning, match="no cell on frames"):
        assert ClassicTracker().estimate_radius(movie) == NO_CELL_RADIUS
    with pytest.warns(CelltraceWarning, match="no cell on frames"):
        result = load_tracker("distnet2d").track(movie, progress=False)
    assert result.meta["network_scale"] <= MAX_UPSAMPLING
    assert result.masks.shape == case.frames.shape
    assert network_scale(10, 30) == 10 / 30 and network_scale(10, 1e-9) == MAX_UPSAMPLING
