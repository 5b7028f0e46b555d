"""Identity measures: CLEAR-MOT (MOTA, IDS), IDF1, MT/ML and CHOTA.

Matching per frame is the CTC one (``|R ∩ S| > 0.5·|R|``). Trajectories are tracks with chains of
single-child (gap-closing) links merged into one identity on both sides.

* MOTA = 1 − (FN + FP + IDS + MA) / (TP + FN) with TP matched reference nodes, FN unmatched
  reference nodes, FP unmatched computed nodes, MA = Σ_s (k_s − 1) over computed nodes matching
  k_s > 1 references (multi-assignments), IDS = matched reference nodes whose computed trajectory
  differs from the one they last had.
* IDF1 = 2·IDTP / (2·IDTP + IDFP + IDFN); IDTP the largest number of node matches kept by a
  one-to-one assignment of reference to computed trajectories (Ristani et al. 2016).
* MT / ML: share of reference trajectories whose best single computed trajectory covers ≥ 80 % /
  < 20 % of their nodes.
* CHOTA (Kaiser et al. 2024) = sqrt( Σ_{(r,s)} n_rs · A(r,s) / (TP + FN + FP) ),
  A(r,s) = TPA / (TPA + FNA + FPA) over the cliques (ancestors, descendants, itself) of r and s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from celltrace.metrics.matching import Evaluation, merge_single_child_chains


class Identities:
    """Trajectory (merged) identities 1..M of both sides and the trajectory confusion matrix.

    ``N[r, s]`` counts frames where reference trajectory r is matched to computed trajectory s;
    ``N[r, 0]`` frames where r is unmatched; ``N[0, s]`` computed nodes of s matching nothing.
    """

    def __init__(self, ev: Evaluation):
        self.ev = ev
        self.gt_id, self.gt_parent = _trajectory_ids(ev.gt.lineage, ev.gt_graph.label)
        self.pred_id, self.pred_parent = _trajectory_ids(ev.pred.lineage, ev.pred_graph.label)
        m = ev.ctc
        g2p = m["gt_to_pred"]
        mr, mc = self.gt_id.max(initial=0), self.pred_id.max(initial=0)
        N = np.zeros((mr + 1, mc + 1), np.int64)
        ok = g2p >= 0
        np.add.at(N, (self.gt_id[ok], self.pred_id[g2p[ok]]), 1)
        np.add.at(N, (self.gt_id[~ok], 0), 1)
        unmatched_pred = m["pred_count"] == 0
        np.add.at(N, (0, self.pred_id[unmatched_pred]), 1)
        self.N = N


def _trajectory_ids(lineage: pd.DataFrame, node_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per node: merged trajectory id (1..M); and per trajectory id its parent trajectory (0 = none)."""
    root = merge_single_child_chains(lineage)
    roots = sorted(set(root.values()))
    rid = {r: i + 1 for i, r in enumerate(roots)}
    # label → trajectory id by a sorted lookup, not a table as long as the largest label
    known = np.array(sorted(root), dtype=np.int64)
    node_ids = np.zeros(node_labels.shape, np.int64)
    if known.size:
        ids = np.array([rid[root[lab]] for lab in known.tolist()], dtype=np.int64)
        pos = np.minimum(np.searchsorted(known, node_labels), known.size - 1)
        node_ids = np.where(known[pos] == node_labels, ids[pos], 0)
    parent_of = dict(zip(lineage["label"].tolist(), lineage["parent"].tolist()))
    parents = np.zeros(len(roots) + 1, np.int64)
    for r in roots:
        p = parent_of.get(r, 0)
        parents[rid[r]] = rid[root[p]] if p and p in root else 0
    return node_ids.astype(np.int64), parents


def clear_mot(ev: Evaluation, ids: Identities) -> dict[str, float | int]:
    """MOTA and its counts (TP, FN, FP, IDS, MA), precision and recall of detection."""
    m = ev.ctc
    g2p, k = m["gt_to_pred"], m["pred_count"]
    gg, pg = ev.gt_graph, ev.pred_graph
    last = np.zeros(ids.gt_id.max(initial=0) + 1, np.int64)
    tp = fn = fp = ids_sw = multi = 0
    for t in range(ev.T):
        gs = slice(gg.offsets[t], gg.offsets[t + 1])
        ps = slice(pg.offsets[t], pg.offsets[t + 1])
        g = g2p[gs]
        ok = g >= 0
        kt = k[ps]
        n_tp = int(ok.sum())
        tp += n_tp
        fn += int((~ok).sum())
        ma = int(np.maximum(kt - 1, 0).sum())
        multi += ma
        fp += int((kt == 0).sum())
        r = ids.gt_id[gs][ok]
        s = ids.pred_id[g[ok]]
        ids_sw += int(((last[r] != s) & (last[r] != 0)).sum())
        last[r] = s
    denom = tp + fn
    return {"MOTA": 1.0 - (fn + fp + ids_sw + multi) / denom if denom else None,
            "MOT_TP": tp, "MOT_FN": fn, "MOT_FP": fp, "IDS": ids_sw, "MOT_MA": multi,
            "MOT_precision": tp / (tp + fp) if tp + fp else None,
            "MOT_recall": tp / denom if denom else None}


def identity(ids: Identities) -> dict[str, float | int | None]:
    """IDF1, IDP, IDR and IDTP/IDFP/IDFN from the trajectory confusion matrix."""
    N = ids.N
    core = N[1:, 1:]
    idtp = 0
    if core.size and core.any():
        r, c = linear_sum_assignment(core, maximize=True)
        idtp = int(core[r, c].sum())
    idfn = int(N[1:, :].sum()) - idtp
    idfp = int(N[:, 1:].sum()) - idtp
    return {"IDF1": 2 * idtp / (2 * idtp + idfp + idfn) if idtp + idfp + idfn else None,
            "IDP": idtp / (idtp + idfp) if idtp + idfp else None,
            "IDR": idtp / (idtp + idfn) if idtp + idfn else None,
            "IDTP": idtp, "IDFP": idfp, "IDFN": idfn}


def mostly_tracked(ids: Identities) -> dict[str, float | None]:
    """MT, ML: share of reference trajectories with best computed coverage ≥ 0.8 / < 0.2."""
    N = ids.N
    total = N[1:, :].sum(axis=1)
    best = N[1:, 1:].max(axis=1, initial=0)
    valid = total > 0
    if not valid.any():
        return {"MT": None, "ML": None}
    ratio = best[valid] / total[valid]
    return {"MT": float((ratio >= 0.8).mean()), "ML": float((ratio < 0.2).mean()),
            "MT_count": int((ratio >= 0.8).sum()), "ML_count": int((ratio < 0.2).sum())}


def _clique_matrix(parents: np.ndarray) -> np.ndarray:
    """A[i, j] = trajectory j is i, an ancestor of i or a descendant of i (index 0 unused)."""
    n = parents.size
    A = np.zeros((n, n), bool)
    for i in range(1, n):
        A[i, i] = True
        p, seen = parents[i], 0
        while p and seen < n:
            A[i, p] = A[p, i] = True
            p = parents[p]
            seen += 1
    return A


def chota(ids: Identities) -> dict[str, float | None]:
    """CHOTA (see the module docstring), all pairs at once with clique-indicator matrices."""
    N = ids.N.astype(np.float64)
    A = _clique_matrix(ids.gt_parent).astype(np.float64)
    B = _clique_matrix(ids.pred_parent).astype(np.float64)
    tpa = A @ N @ B.T                       # tpa[i, j] = Σ N[clique_i, clique_j]
    row = A @ N.sum(axis=1)                 # Σ N[clique_i, :]
    col = B @ N.sum(axis=0)                 # Σ N[:, clique_j]
    fna = row[:, None] - tpa
    fpa = col[None, :] - tpa
    core = N[1:, 1:]
    den = (tpa + fna + fpa)[1:, 1:]
    acc = np.divide(tpa[1:, 1:], den, out=np.zeros_like(den), where=den > 0)
    score = float((core * acc).sum())
    total = N[1:, 1:].sum() + N[0, 1:].sum() + N[1:, 0].sum()
    return {"CHOTA": float(np.sqrt(score / total)) if total else None}


def mot(ev: Evaluation) -> dict[str, float | int | None]:
    """MOTA (+ counts), IDS, IDF1 (+ IDP/IDR/counts), MT, ML and CHOTA."""
    ids = Identities(ev)
    out: dict[str, float | int | None] = {}
    out.update(chota(ids))
    out.update(clear_mot(ev, ids))
    out.update(identity(ids))
    out.update(mostly_tracked(ids))
    return out
