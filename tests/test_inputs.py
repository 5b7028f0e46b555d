"""Trust on any input: NaN/inf pixels, bad label images, bad --param values and damaged TIFFs are
repaired with one warning line or refused with one error line (exit code 2), never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from celltrace.cli import main
from conftest import REPO, ctc_sequence

SIM = "Fluo-N2DH-SIM+"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def real_stack(n: int = 12) -> np.ndarray:
    """The first ``n`` frames of SIM+ 02 as float32."""
    return np.stack([tifffile.imread(ctc_sequence(SIM) / f"t{t:03d}.tif") for t in range(n)]).astype(np.float32)


# ---------------------------------------------------------------------- damaged TIFFs
def _cli(*argv: str) -> subprocess.CompletedProcess:
    """The installed command in a fresh process: its stderr is what a user sees (no pytest log capture)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "celltrace.cli", *argv], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("how", ["ctc-file", "rewritten"])
def test_truncated_tiff_gives_exactly_one_line(tmp_path, how):
    seq = tmp_path / "seq"
    seq.mkdir()
    for t in range(3):
        shutil.copy(ctc_sequence(SIM) / f"t{t:03d}.tif", seq / f"t{t:03d}.tif")
    damaged = seq / "t001.tif"
    if how == "rewritten":  # pixel data after the header: the header alone reads fine
        frame = tifffile.imread(damaged)
        damaged.unlink()
        tifffile.imwrite(damaged, frame, compression="zlib")
    raw = damaged.read_bytes()
    damaged.unlink()  # the copies are read-only, like the originals
    damaged.write_bytes(raw[: len(raw) // 2])
    for argv in (["info", str(seq)], ["track", str(seq), "--method", "classic", "--out", str(tmp_path / "R")]):
        proc = _cli(*argv)
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith(f"celltrace: error: {damaged}: ")
        assert ("truncated TIFF" if how == "rewritten" else "damaged or truncated file?") in proc.stderr
    assert not (tmp_path / "R").exists()
