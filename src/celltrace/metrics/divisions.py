"""Division metrics as Caliban defines them (Schwartz et al. 2023; traccuracy's DivisionMetrics).

Nodes are matched one-to-one per frame by IoU ≥ ``iou_threshold`` (or by the CTC rule). A division
is a node with two or more successors (a parent's last node). Each GT division is

* **correct** (TP) — its node is matched to a predicted division node and both GT daughter edges
  are matched by predicted edges;
* **wrong children** (WC) — matched to a predicted division whose daughters do not agree;
* **missed** (FN) — its node is unmatched or matched to a non-dividing node;

and every predicted division not matched this way is a **false** one (FP). With a frame tolerance
``b`` a FN and a FP division ``1 ≤ |Δt| ≤ b`` frames apart become TP when the parent lineage of the
later one matches the other's node at the earlier frame and each daughter lineage of the earlier
one reaches a matched node that descends from it on the other side.

    recall = TP / GT divisions,  precision = TP / predicted divisions,  F1 = 2·p·r / (p + r)
    MBC (mitotic branching correctness) = TP / (TP + FN + WC + FP) = TP / (GT divisions + FP)
"""

from __future__ import annotations

import numpy as np

from celltrace.metrics.matching import Evaluation, Graph


def _descends(g: Graph, a: int, b: int) -> bool:
    """Is there a path a → … → b in the (forest) graph ``g``?"""
    if a < 0 or b < 0 or g.frame[b] < g.frame[a]:
        return False
    pred = g.predecessor
    node = b
    while node >= 0 and g.frame[node] >= g.frame[a]:
        if node == a:
            return True
        node = pred[node]
    return False


def _ancestor(g: Graph, node: int, steps: int) -> int:
    for _ in range(steps):
        if node < 0:
            return -1
        node = int(g.predecessor[node])
    return node


def division_events(ev: Evaluation, tolerance: int = 1, iou_threshold: float = 0.5,
                    matching: str = "iou") -> dict[str, float | int | None]:
    """Division TP/FP/FN/WC, precision, recall, F1 and MBC at frame tolerance 0 and ``tolerance``."""
    gg, pg = ev.gt_graph, ev.pred_graph
    if matching == "iou":
        g2p = ev.iou_matching(iou_threshold, one_to_one=True)
    elif matching == "ctc":
        g2p = ev.ctc["gt_to_pred"].copy()
        k = ev.ctc["pred_count"]
        bad = g2p >= 0
        bad[bad] = k[g2p[bad]] > 1
        g2p[bad] = -1          # keep it one-to-one
    else:
        raise ValueError(f"matching must be 'iou' or 'ctc', not {matching!r}")
    p2g = np.full(pg.n_nodes, -1, np.int64)
    p2g[g2p[g2p >= 0]] = np.flatnonzero(g2p >= 0)
    gsucc, psucc = gg.successors, pg.successors
    gt_divs = sorted(n for n, s in gsucc.items() if len(s) >= 2)
    pred_divs = sorted(n for n, s in psucc.items() if len(s) >= 2)
    pred_div_set = set(pred_divs)
    pred_edges = set(zip(*pg.edges[:2])) if pg.edges[0].size else set()

    tp = wc = 0
    fn_nodes: list[int] = []
    remaining = set(pred_divs)
    for g in gt_divs:
        p = int(g2p[g])
        if p < 0 or p not in pred_div_set:
            fn_nodes.append(g)
        else:
            good = sum(1 for c in gsucc[g] if g2p[c] >= 0 and (p, int(g2p[c])) in pred_edges)
            if good == 2:
                tp += 1
            else:
                wc += 1
        if p in remaining:
            remaining.discard(p)
    fp_nodes = sorted(remaining)
    fp, fn = len(fp_nodes), len(fn_nodes)

    # frame tolerance: pair FN and FP divisions 1..tolerance frames apart
    corrected_at: dict[int, int] = {}
    used_gt: set[int] = set()
    for delta in range(1, tolerance + 1):
        for f in fp_nodes:
            if f in corrected_at:
                continue
            for n in fn_nodes:
                if n in used_gt:
                    continue
                tf_, tn = int(pg.frame[f]), int(gg.frame[n])
                if tf_ == tn or abs(tf_ - tn) > delta:
                    continue
                if _shift_ok(gg, pg, g2p, p2g, n, f, tn, tf_):
                    corrected_at[f] = delta
                    used_gt.add(n)
                    break

    out: dict[str, float | int | None] = {"DIV_GT": len(gt_divs), "DIV_PRED": len(pred_divs)}
    for b in sorted({0, tolerance}):
        extra = sum(1 for d in corrected_at.values() if d <= b)
        t, p_, n_ = tp + extra, fp - extra, fn - extra
        recall = t / len(gt_divs) if gt_divs else None
        precision = t / len(pred_divs) if pred_divs else None
        f1 = (2 * recall * precision / (recall + precision) if recall is not None and precision is not None
              and recall + precision > 0 else None)
        mbc = t / (len(gt_divs) + p_) if len(gt_divs) + p_ else None
        suffix = "" if b == tolerance else f"@{b}"
        out.update({f"DIV_TP{suffix}": t, f"DIV_FP{suffix}": p_, f"DIV_FN{suffix}": n_, f"DIV_WC{suffix}": wc,
                    f"DIV_recall{suffix}": recall, f"DIV_precision{suffix}": precision,
                    f"DIV_F1{suffix}": f1, f"MBC{suffix}": mbc})
    out["DIV_tolerance"] = tolerance
    return out


def _shift_ok(gg: Graph, pg: Graph, g2p: np.ndarray, p2g: np.ndarray, n: int, f: int, tn: int, tf_: int) -> bool:
    """Is the predicted division ``f`` (frame tf_) a shifted copy of the GT division ``n`` (frame tn)?"""
    if tf_ < tn:
        anc = _ancestor(gg, n, tn - tf_)          # GT parent lineage at the predicted frame
        if anc < 0 or g2p[anc] != f:
            return False
        daughters, other, back, start = pg.successors.get(f, []), gg, p2g, anc
        side = pg
    else:
        anc = _ancestor(pg, f, tf_ - tn)
        if anc < 0 or g2p[n] != anc:
            return False
        daughters, other, back, start = gg.successors.get(n, []), pg, g2p, anc
        side = gg
    if len(daughters) < 2:
        return False
    good = 0
    for d in daughters:
        node = d
        while node >= 0:
            if back[node] >= 0 and _descends(other, start, int(back[node])):
                good += 1
                break
            nxt = side.successors.get(node, [])
            if len(nxt) != 1:
                break
            node = nxt[0]
    return good == 2
