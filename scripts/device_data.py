"""Move CTC training sequences to a machine that cannot read ../shared (the lent GPU machine).

    python scripts/device_data.py pack   ../shared/data/ctc .devdata     # here: compressed .npz per dataset
    python scripts/device_data.py unpack .devdata /tmp/ctc               # there: a CTC folder tree again

``pack`` keeps every SEG-annotated frame and every ``--every``-th other frame of sequence 02 (frames
of one sequence are strongly correlated, and the carried tree is limited to 64 MiB), with their TRA
markers and SEG masks, and the lineage file; ``unpack`` writes uncompressed TIFFs (no imagecodecs
needed there) under the original frame numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from celltrace.train.data import open_sequence  # noqa: E402

EVERY = {"Fluo-N2DH-SIM+": 3, "Fluo-N2DH-GOWT1": 4, "Fluo-C2DL-MSC": 4}
SEG_EVERY = {"Fluo-N2DH-SIM+": 3, "Fluo-N2DH-GOWT1": 1, "Fluo-C2DL-MSC": 4}


def pack(root: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for ds in sorted(EVERY):
        seq = open_sequence(root / ds / "02")
        seg_ts = sorted(seq.seg_files)[:: SEG_EVERY[ds]]
        other = [t for t in seq.frames if t not in seq.seg_files][:: EVERY[ds]]
        ts = sorted(set(seg_ts) | set(other))
        arrays = {}
        for t in ts:
            arrays[f"raw_{t:03d}"] = seq.image(t)
            arrays[f"tra_{t:03d}"] = seq.markers(t)
            if t in seq.seg_files:
                arrays[f"seg_{t:03d}"] = seq.seg(t)
        arrays["man_track"] = np.frombuffer((seq.gt_dir / "TRA" / "man_track.txt").read_bytes(), np.uint8)
        np.savez_compressed(out / f"{ds}.npz", **arrays)
        print(ds, len(ts), "frames", f"{(out / f'{ds}.npz').stat().st_size / 2**20:.1f} MiB")


def unpack(src: Path, root: Path) -> None:
    for f in sorted(src.glob("*.npz")):
        ds = f.stem
        z = np.load(f)
        raw, gt = root / ds / "02", root / ds / "02_GT"
        for d in (raw, gt / "TRA", gt / "SEG"):
            d.mkdir(parents=True, exist_ok=True)
        for k in z.files:
            if k == "man_track":
                (gt / "TRA" / "man_track.txt").write_bytes(z[k].tobytes())
                continue
            kind, t = k.split("_")
            path = {"raw": raw / f"t{t}.tif", "tra": gt / "TRA" / f"man_track{t}.tif",
                    "seg": gt / "SEG" / f"man_seg{t}.tif"}[kind]
            tifffile.imwrite(path, z[k])
        print(ds, "unpacked to", raw.parent)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["pack", "unpack"])
    ap.add_argument("src")
    ap.add_argument("dst")
    a = ap.parse_args()
    (pack if a.action == "pack" else unpack)(Path(a.src), Path(a.dst))
