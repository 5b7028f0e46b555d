"""Shared test fixtures. Real data lives in ../shared beside the repository; tests that need it
fail (never skip) when it is missing, so CI cannot pass without exercising it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CELLTRACE_SHARED", REPO.parent / "shared"))
CTC = SHARED / "data" / "ctc"
DATASETS = ["Fluo-N2DH-GOWT1", "Fluo-N2DH-SIM+", "Fluo-C2DL-MSC"]


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"real test data missing: {path} (the shared/ folder must sit beside the repository)")
    return path


@pytest.fixture(scope="session")
def ctc_root() -> Path:
    """../shared/data/ctc, or a failure if it is absent."""
    return _require(CTC)


def ctc_sequence(dataset: str) -> Path:
    """Raw frames folder of sequence 02 of ``dataset``."""
    return _require(CTC / dataset / "02")


def ctc_gt(dataset: str) -> Path:
    """GT folder (02_GT) of ``dataset``."""
    return _require(CTC / dataset / "02_GT")


def shared_data(relative: str) -> Path:
    """``../shared/data/<relative>`` (e.g. ``regressions/lap_hang_psc.npz``), or a failure if absent."""
    return _require(SHARED / "data" / relative)


def extra(dataset: str) -> Path:
    """Folder of ``dataset`` under ../shared/data/extra (e.g. PhC-C2DL-PSC: 02 and 02_ST)."""
    return _require(SHARED / "data" / "extra" / dataset)


def crop_sequence(dataset: str, dst: Path, frames: int = 4, box: tuple[int, int, int, int] = (300, 300, 256, 256)) -> Path:
    """The first ``frames`` frames of sequence 02 of ``dataset``, cropped to ``box`` (y, x, h, w),
    as a new CTC sequence folder ``dst`` (small and fast real data)."""
    import tifffile

    src = ctc_sequence(dataset)
    dst.mkdir(parents=True)
    y, x, h, w = box
    for t in range(frames):
        tifffile.imwrite(dst / f"t{t:03d}.tif", tifffile.imread(src / f"t{t:03d}.tif")[y:y + h, x:x + w])
    return dst


def matched_and_unmatched(gt: np.ndarray, lab: np.ndarray) -> tuple[int, int]:
    """(objects of ``lab`` that match a GT marker by the CTC rule — more than half of the marker —,
    objects that match none) in one frame."""
    from celltrace.metrics.matching import overlap_table

    table = overlap_table(np.asarray(gt), np.asarray(lab))
    owners = np.unique(table.pred_labels[table.ctc_pairs()[1]]).size
    return owners, table.pred_labels.size - owners


def deny_hidden_temporaries(monkeypatch) -> None:
    """Make ``tempfile.mkdtemp`` refuse (PermissionError naming the would-be path) the hidden
    temporary folders that atomic writes make beside their output; other temporaries work."""
    import errno
    import os
    import tempfile

    real = tempfile.mkdtemp

    def denied(prefix=None, dir=None, **kw):
        if prefix and prefix.startswith("."):
            raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, prefix + "abcdefgh"))
        return real(prefix=prefix, dir=dir, **kw)

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
