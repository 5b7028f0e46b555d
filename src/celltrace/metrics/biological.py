"""CTC biological measures: CT, TF, BC(i), CCA, BIO(i), OP_CLB(i) (Ulman et al., Nat. Methods 2017).

All use the CTC matching (``|R ∩ S| > 0.5·|R|``); a reference node *follows* computed track s when
it is matched to a node of s that matches no other reference node.

* CT  = 2·T_rc / (T_r + T_c): T_rc reference tracks followed in every frame by one computed track
  with the same first and last frame; T_r, T_c the numbers of reference and computed tracks.
* TF  = mean over reference tracks followed at least once of the longest run of consecutive frames
  followed by one computed track, divided by the reference track's length.
* BC(i) = F1 of division detection: a computed division (a parent with ≥ 2 children) is correct
  if it matches a reference division whose parent ends within ``i`` frames, the parents match at
  the earlier end frame, and every reference child is matched, within ``i`` frames of its start, to
  a distinct computed child. precision = TP/max(TP+FP,1), recall = TP/max(TP+FN,1).
* CCA = 1 − max_k |F_R(k) − F_C(k)|, F the cumulative histograms of the lengths (end − begin) of
  complete cell cycles (tracks born in a division that end in a division).
* BIO(i) = mean of the available CT, TF, BC(i), CCA;  OP_CLB(i) = (LNK + BIO(i)) / 2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from celltrace.metrics.matching import Evaluation


def follow_labels(ev: Evaluation) -> np.ndarray:
    """Per GT node: the computed label it follows (0 if unmatched or its match is shared)."""
    m = ev.ctc
    g2p = m["gt_to_pred"]
    out = np.zeros(g2p.size, np.int64)
    ok = g2p >= 0
    ok[ok] = m["pred_count"][g2p[ok]] == 1
    out[ok] = ev.pred_graph.label[g2p[ok]]
    return out


def _ref_runs(ev: Evaluation) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """GT label → (frames, followed computed label) over the frames where the GT label exists."""
    follow = follow_labels(ev)
    gg = ev.gt_graph
    order = np.lexsort((gg.frame, gg.label))
    labels, frames, fol = gg.label[order], gg.frame[order], follow[order]
    cuts = np.flatnonzero(np.diff(labels)) + 1
    return {int(lab[0]): (fr, fo) for lab, fr, fo in
            zip(np.split(labels, cuts), np.split(frames, cuts), np.split(fol, cuts)) if lab.size}


def complete_tracks(ev: Evaluation) -> float:
    """CT = 2·T_rc / (T_r + T_c)."""
    runs = _ref_runs(ev)
    comp = ev.pred.lineage.set_index("label")
    ref = ev.gt.lineage.set_index("label")
    correct = 0
    for lab, (_, fol) in runs.items():
        if lab not in ref.index:
            continue
        u = np.unique(fol)
        if u.size != 1 or u[0] == 0 or u[0] not in comp.index:
            continue
        if (comp.at[u[0], "begin"], comp.at[u[0], "end"]) == (ref.at[lab, "begin"], ref.at[lab, "end"]):
            correct += 1
    denom = len(ev.gt.lineage) + len(ev.pred.lineage)
    return 2.0 * correct / denom if denom else 0.0


def track_fractions(ev: Evaluation) -> float:
    """TF: mean over followed reference tracks of (longest run followed by one computed track) / length.

    The length is ``end − begin + 1`` from the reference lineage; frames where a reference label is
    missing from its own span count as not followed.
    """
    ref = ev.gt.lineage
    runs = _ref_runs(ev)
    fractions = []
    for lab, begin, end in zip(ref["label"].tolist(), ref["begin"].tolist(), ref["end"].tolist()):
        if lab not in runs:
            continue
        frames, fol = runs[lab]
        length = end - begin + 1
        seq = np.zeros(length, np.int64)
        inside = (frames >= begin) & (frames <= end)
        seq[frames[inside] - begin] = fol[inside]
        best = 0
        if seq.any():
            change = np.flatnonzero(np.diff(seq)) + 1
            starts = np.concatenate([[0], change])
            stops = np.concatenate([change, [length]])
            vals = seq[starts]
            if (vals > 0).any():
                best = int((stops - starts)[vals > 0].max())
        if best > 0:
            fractions.append(best / length)
    return float(np.mean(fractions)) if fractions else 0.0


def _split_parents(lin: pd.DataFrame) -> np.ndarray:
    parents, counts = np.unique(lin["parent"].to_numpy(), return_counts=True)
    keep = (parents > 0) & (counts > 1)
    return parents[keep]


def division_counts(ev: Evaluation, i: int) -> tuple[int, int, int]:
    """(TP, FP, FN) of divisions with temporal tolerance ``i`` frames (see the module docstring)."""
    n_ref, n_comp = _split_parents(ev.gt.lineage).size, _split_parents(ev.pred.lineage).size
    tp = len(matched_divisions(ev, i))
    return tp, int(n_comp) - tp, int(n_ref) - tp


def matched_divisions(ev: Evaluation, i: int) -> list[tuple[int, int]]:
    """The ``(reference parent, computed parent)`` pairs of the divisions :func:`division_counts`
    counts as true positives with tolerance ``i``."""
    ref, comp = ev.gt.lineage, ev.pred.lineage
    ref_div, comp_div = _split_parents(ref), _split_parents(comp)
    if ref_div.size == 0 or comp_div.size == 0:
        return []
    rinfo = {int(r.label): (int(r.begin), int(r.end)) for r in ref.itertuples()}
    cinfo = {int(r.label): (int(r.begin), int(r.end)) for r in comp.itertuples()}
    rkids = ref.groupby("parent")["label"].apply(list).to_dict()
    ckids = comp.groupby("parent")["label"].apply(list).to_dict()
    gg, pg = ev.gt_graph, ev.pred_graph

    # per frame: GT label → (matched pred label, is that pred label matched once in this frame)
    g2p, k = ev.ctc["gt_to_pred"], ev.ctc["pred_count"]

    def match_at(t: int, gt_label: int) -> tuple[int, bool]:
        node = gg.node(t, gt_label)
        if node < 0 or g2p[node] < 0:
            return 0, False
        p = g2p[node]
        return int(pg.label[p]), bool(k[p] == 1)

    matches = []
    for c in comp_div.tolist():
        c_end = cinfo[c][1]
        c_children = ckids.get(c, [])
        for r in ref_div.tolist():
            r_end = rinfo[r][1]
            if abs(r_end - c_end) > i:
                continue
            r_children = rkids.get(r, [])
            if len(r_children) != len(c_children):
                continue
            lab, once = match_at(min(r_end, c_end), r)
            if lab != c or not once:
                continue
            found: set[int] = set()
            for rc in r_children:
                t_r = rinfo[rc][0]
                for cc in c_children:
                    t_c = cinfo[cc][0]
                    if abs(t_r - t_c) > i:
                        continue
                    lab, once = match_at(max(t_r, t_c), rc)
                    if lab == cc and once:
                        found.add(cc)
                        break
            if len(found) == len(r_children):
                matches.append((int(r), int(c)))
    return matches


def branching_correctness(tp: int, fp: int, fn: int) -> float | None:
    """BC = F1(precision = TP/max(TP+FP,1), recall = TP/max(TP+FN,1)); None without reference divisions."""
    if tp + fn == 0:
        return None
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    return 2 * precision * recall / max(precision + recall, 1e-4)


def _cycle_lengths(lin: pd.DataFrame) -> np.ndarray:
    split = _split_parents(lin)
    ok = np.isin(lin["label"].to_numpy(), split) & np.isin(lin["parent"].to_numpy(), split)
    return (lin["end"].to_numpy() - lin["begin"].to_numpy())[ok]


def cell_cycle_accuracy(ref: pd.DataFrame, comp: pd.DataFrame) -> float | None:
    """CCA = 1 − max |F_R − F_C| over cumulative cycle-length histograms (None: no reference cycle)."""
    lr = _cycle_lengths(ref)
    if lr.size == 0:
        return None
    lc = _cycle_lengths(comp)
    if lc.size == 0:
        return 0.0
    n = int(max(lr.max(), lc.max())) + 1
    fr = np.cumsum(np.bincount(lr, minlength=n)) / lr.size
    fc = np.cumsum(np.bincount(lc, minlength=n)) / lc.size
    return float(1.0 - np.abs(fr - fc).max())


def biological(ev: Evaluation, max_i: int = 3, lnk: float | None = None) -> dict[str, float | int | None]:
    """CT, TF, BC(0..max_i) with their TP/FP/FN, CCA, BIO(i), OP_CLB(i) (when LNK is given)."""
    out: dict[str, float | int | None] = {"CT": complete_tracks(ev), "TF": track_fractions(ev)}
    for i in range(max_i + 1):
        tp, fp, fn = division_counts(ev, i)
        out[f"BC({i})"] = branching_correctness(tp, fp, fn)
        out[f"BC_TP({i})"], out[f"BC_FP({i})"], out[f"BC_FN({i})"] = tp, fp, fn
    out["CCA"] = cell_cycle_accuracy(ev.gt.lineage, ev.pred.lineage)
    for i in range(max_i + 1):
        parts = [out["CT"], out["TF"], out[f"BC({i})"], out["CCA"]]
        avail = [p for p in parts if p is not None]
        out[f"BIO({i})"] = float(sum(avail) / len(avail)) if avail else None
        if lnk is not None and out[f"BIO({i})"] is not None:
            out[f"OP_CLB({i})"] = 0.5 * lnk + 0.5 * out[f"BIO({i})"]
    return out
