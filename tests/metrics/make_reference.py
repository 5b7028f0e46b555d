"""Record the reference implementations' numbers for every damage case (run by hand, slow):

    /work/venv/bin/python tests/metrics/make_reference.py [dataset ...]

py-ctcmetrics needs ~1 min per case on a 1024² sequence, far beyond the test budget, so the tests
compare against these recorded numbers (``reference_values/<dataset>.json``, with the reference versions)
and ``test_reference_live`` re-runs both references on one small case to catch drift.
"""

from __future__ import annotations

import json
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from metrics.damage import DAMAGES, damaged  # noqa: E402
from metrics.reference import py_ctcmetrics, traccuracy_scores, write_pair  # noqa: E402

from celltrace.tracking import Tracking  # noqa: E402

REF_DIR = HERE / "reference_values"
CTC = Path(__file__).resolve().parents[3] / "shared" / "data" / "ctc"


def jsonable(v):
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    return v


def main(datasets: list[str]) -> None:
    REF_DIR.mkdir(exist_ok=True)
    for ds in datasets:
        out = REF_DIR / f"{ds}.json"
        data = json.loads(out.read_text()) if out.exists() else {}
        data["_versions"] = {"py-ctcmetrics": version("py-ctcmetrics"), "traccuracy": version("traccuracy")}
        gtdir = CTC / ds / "02_GT"
        gt = Tracking.from_ctc(gtdir)
        masks = np.asarray(gt.masks)
        gtm = Tracking(masks=masks, lineage=gt.lineage)
        for case in DAMAGES:
            if case in data:  # resume: keep what an earlier run recorded
                continue
            try:
                pred = damaged(case, masks, gt.lineage)
            except (IndexError, AssertionError) as exc:
                data[case] = {"not_applicable": f"{type(exc).__name__}: {exc}"}  # e.g. no division to damage
                out.write_text(json.dumps(data, indent=1, sort_keys=True))
                continue
            with tempfile.TemporaryDirectory() as d:
                res, g = write_pair(pred, gtm, Path(d), gtdir / "SEG")
                entry = {"py_ctcmetrics": py_ctcmetrics(res, g), "traccuracy": traccuracy_scores(res, g)}
            data[case] = jsonable(entry)
            out.write_text(json.dumps(data, indent=1, sort_keys=True))
            print(ds, case, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["Fluo-N2DH-SIM+", "Fluo-C2DL-MSC", "Fluo-N2DH-GOWT1"])
