"""Each annotated division of a CTC ground truth against a result: found at BC(i) or not, and how
the result covers the mother in her last frames.

    python benchmarks/division_errors.py RES_FOLDER GT_FOLDER [--tolerance 2]

One row per GT division (a mother with two daughters): her last frame ``te``; ``found`` (a result
division matches it as the CTC's BC(i) counts, :func:`celltrace.metrics.biological.division_counts`
with tolerance ``i``); for frames ``te-2, te-1, te`` the share of the mother covered by the one
result object that covers most of her, by all objects that cover at least 15 % of her, and by the
convex hull of those (``best/pieces/hull``; a mother is matched when one object covers more than
half of her); and the result tracks over her daughters in their first frame (one label for both:
the daughters are one object). The last lines count the pattern the classic default's
``division_join_frames`` addresses: two pieces in ``te-1`` whose hull covers more than half of her.
"""

from __future__ import annotations

import argparse

import numpy as np
from skimage.morphology import convex_hull_image

from celltrace.io.ctc import read_ctc
from celltrace.metrics.biological import division_counts, matched_divisions
from celltrace.metrics.matching import Evaluation
from celltrace.tracking import Tracking


def mother_cover(gt: Tracking, res: Tracking, t: int, mother: int) -> tuple[float, float, float, int]:
    """(best, pieces, hull, n_pieces) of GT ``mother`` in frame ``t`` (see the module docstring)."""
    g, p = np.asarray(gt.masks[t]), np.asarray(res.masks[t])
    own = g == mother
    labels, counts = np.unique(p[own], return_counts=True)
    counts, labels = counts[labels > 0], labels[labels > 0]
    if labels.size == 0:
        return 0.0, 0.0, 0.0, 0
    pieces = labels[counts > 0.15 * own.sum()]
    union = np.isin(p, pieces)
    hull = convex_hull_image(union) if union.sum() > 2 else union
    return (counts.max() / own.sum(), (union & own).sum() / own.sum(), (hull & own).sum() / own.sum(),
            int(pieces.size))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("res")
    ap.add_argument("gt")
    ap.add_argument("--tolerance", type=int, default=2)
    a = ap.parse_args()
    res, gt = read_ctc(a.res), read_ctc(a.gt)
    ev = Evaluation(res, gt)
    lin = gt.lineage.set_index("label")
    kids = gt.lineage[gt.lineage.parent > 0].groupby("parent")["label"].apply(list)
    kids = kids[kids.apply(len) == 2]
    tp, fp, fn = division_counts(ev, a.tolerance)
    print(f"GT divisions {len(kids)}; BC({a.tolerance}) TP {tp}, FP {fp}, FN {fn}")
    found_ref = {r for r, _ in matched_divisions(ev, a.tolerance)}
    pattern = 0
    print("mother  te  found  cover te-2 | te-1 | te (best/pieces/hull, n)  daughters' result labels")
    for mother, (d1, d2) in kids.items():
        te = int(lin.loc[mother, "end"])
        covers = []
        for t in range(te - 2, te + 1):
            if t < 0:
                covers.append("-")
                continue
            b, u, h, n = mother_cover(gt, res, t, mother)
            covers.append(f"{b:.2f}/{u:.2f}/{h:.2f},{n}")
            if t == te - 1 and n == 2 and b <= 0.5 < h:
                pattern += 1
        first = int(lin.loc[d1, "begin"])
        labels = []
        if first < gt.n_frames:
            g, p = np.asarray(gt.masks[first]), np.asarray(res.masks[first])
            for d in (d1, d2):
                v = p[g == d]
                labels.append(int(np.bincount(v).argmax()) if v.size else 0)
        found = mother in found_ref
        print(f"{mother:6d} {te:4d}  {'yes' if found else 'no ':3s}  {' | '.join(covers)}  {labels}")
    print(f"two pieces in te-1 that no one object matches but whose hull covers more than half: {pattern}"
          f" of {len(kids)} (found at BC({a.tolerance}): {tp})")


if __name__ == "__main__":
    main()
