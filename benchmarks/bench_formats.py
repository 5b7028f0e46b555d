"""Write and read time, file size and round-trip equality of every result format on the real
02_GT folders (all frames).

    python benchmarks/bench_formats.py [--datasets Fluo-C2DL-MSC,...] [--formats trk,ome-zarr,...]

Each GT is read into memory first; "write" is ``write_result`` (including the cell table for the
formats built on it), "read" is ``read_result`` plus reading every frame of the masks.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from celltrace.io.ctc import read_ctc
from celltrace.io.formats import FORMATS, read_result, write_result
from celltrace.tracking import Tracking

ROOT = Path(__file__).resolve().parents[1]
CTC = ROOT.parent / "shared" / "data" / "ctc"
DATASETS = ["Fluo-C2DL-MSC", "Fluo-N2DH-GOWT1", "Fluo-N2DH-SIM+"]


def size_of(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--formats", default=",".join(FORMATS))
    args = ap.parse_args()
    print(f"{'dataset':16} {'format':10} {'write s':>8} {'read s':>8} {'MB':>8}  lineage  masks")
    for dataset in args.datasets.split(","):
        gt = read_ctc(CTC / dataset / "02_GT")
        gt = Tracking(masks=np.asarray(gt.masks), lineage=gt.lineage)
        for to in args.formats.split(","):
            fmt = FORMATS[to]
            with tempfile.TemporaryDirectory(prefix="celltrace-bench-") as tmp:
                path = Path(tmp) / f"r{fmt.extensions[0] if fmt.extensions else ''}"
                t0 = time.perf_counter()
                write_result(gt, path, to)
                t1 = time.perf_counter()
                back = read_result(path, shape=gt.shape)
                masks = np.asarray(back.masks)
                t2 = time.perf_counter()
                same_lineage = back.lineage.equals(gt.lineage)
                same_masks = np.array_equal(masks, gt.masks) if fmt.masks else None
                print(f"{dataset:16} {to:10} {t1 - t0:8.2f} {t2 - t1:8.2f} {size_of(path) / 1e6:8.1f}  "
                      f"{'same' if same_lineage else 'DIFF':7}  {'—' if same_masks is None else 'same' if same_masks else 'DIFF'}")


if __name__ == "__main__":
    main()
