"""CTC technical measures: AOGM and its error counts, TRA, DET, LNK, SEG, OP_CSB, OP_CTB.

Matula et al., PLoS ONE 2015 (AOGM); Ulman et al., Nat. Methods 2017; Maška et al., Nat.
Methods 2023. Matching (reference marker R ↔ computed region S): ``|R ∩ S| > 0.5·|R|``.

Node errors: NS (a computed node matching k > 1 reference nodes counts k − 1), FN (reference
node matched by nothing), FP (computed node matching nothing). Edge errors on the graph induced by
uniquely matched computed nodes: ED (computed edge absent from the reference), EA (reference edge
absent from the computed graph), EC (edge present in both with different semantics — track link
vs. parent link).

    AOGM   = 5·NS + 10·FN + 1·FP + 1·ED + 1.5·EA + 1·EC
    AOGM_0 = 10·|V_R| + 1.5·|E_R|
    TRA    = 1 − min(AOGM, AOGM_0) / AOGM_0
    DET    = 1 − min(AOGM_D, 10·|V_R|) / (10·|V_R|),   AOGM_D = 5·NS + 10·FN + 1·FP
    LNK    = 1 − min(AOGM_A, 1.5·|E_R|) / (1.5·|E_R|), AOGM_A = 1·ED + 1.5·EA + 1·EC
    SEG    = Σ_R J(R, S(R)) / |R_SEG|   (J = |R∩S|/|R∪S|, 0 if R unmatched; SEG GT objects only)
    OP_CSB = (SEG + DET) / 2,  OP_CTB = (SEG + TRA) / 2
"""

from __future__ import annotations

import numpy as np

from celltrace.metrics.matching import Evaluation

W_NS, W_FN, W_FP, W_ED, W_EA, W_EC = 5.0, 10.0, 1.0, 1.0, 1.5, 1.0


def aogm_counts(ev: Evaluation) -> dict[str, int]:
    """Error counts NS, FN, FP, ED, EA, EC and the reference graph's size |V_R|, |E_R|."""
    m = ev.ctc
    gt_to_pred, k = m["gt_to_pred"], m["pred_count"]
    ns = int(np.maximum(k - 1, 0).sum())
    fn = int((gt_to_pred < 0).sum())
    fp = int((k == 0).sum())
    # computed → reference for uniquely matched computed nodes
    pred_to_gt = np.full(ev.pred_graph.n_nodes, -1, np.int64)
    matched = np.flatnonzero(gt_to_pred >= 0)
    uniq = k[gt_to_pred[matched]] == 1
    pred_to_gt[gt_to_pred[matched[uniq]]] = matched[uniq]
    rs, rd, rsem = ev.gt_graph.edges
    cs, cd, csem = ev.pred_graph.edges
    keep = (pred_to_gt[cs] >= 0) & (pred_to_gt[cd] >= 0)
    nr = max(ev.gt_graph.n_nodes, 1)
    key_r = rs * nr + rd
    key_c = pred_to_gt[cs[keep]] * nr + pred_to_gt[cd[keep]]
    sem_c = csem[keep]
    order = np.argsort(key_r)
    key_r_sorted, sem_r_sorted = key_r[order], rsem[order]
    pos = np.searchsorted(key_r_sorted, key_c)
    pos_ok = np.minimum(pos, max(key_r_sorted.size - 1, 0))
    found = (pos < key_r_sorted.size) & (key_r_sorted[pos_ok] == key_c) if key_r_sorted.size else np.zeros(key_c.size, bool)
    ed = int((~found).sum())
    ea = int(key_r.size - np.unique(key_c[found]).size)
    ec = int((sem_r_sorted[pos_ok[found]] != sem_c[found]).sum())
    return {"NS": ns, "FN": fn, "FP": fp, "ED": ed, "EA": ea, "EC": ec,
            "num_vertices": int(ev.gt_graph.n_nodes), "num_edges": int(key_r.size)}


def scores_from_counts(c: dict[str, float]) -> dict[str, float | None]:
    """TRA, DET, LNK, AOGM, AOGM_0 from the error counts (see the module docstring)."""
    aogm_d = W_NS * c["NS"] + W_FN * c["FN"] + W_FP * c["FP"]
    aogm_a = W_ED * c["ED"] + W_EA * c["EA"] + W_EC * c["EC"]
    aogm = aogm_d + aogm_a
    d0 = W_FN * c["num_vertices"]
    a0 = W_EA * c["num_edges"]
    aogm0 = d0 + a0
    return {
        "TRA": 1.0 - min(aogm, aogm0) / aogm0 if aogm0 else None,
        "DET": 1.0 - min(aogm_d, d0) / d0 if d0 else None,
        "LNK": 1.0 - min(aogm_a, a0) / a0 if a0 else None,
        "AOGM": float(aogm), "AOGM_0": float(aogm0),
    }


def seg_counts(ev: Evaluation) -> dict[str, float]:
    """Σ Jaccard over matched SEG objects (``SEG_iou_sum``) and the number of SEG objects (``SEG_objects``)."""
    total, n = 0.0, 0
    for f in ev.seg.values():
        total += float(f.seg_jaccards().sum())
        n += f.gt_labels.size
    return {"SEG_iou_sum": total, "SEG_objects": n}


def seg_jaccards(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """The SEG terms ``J`` of the objects of one GT label image against a predicted one (label
    order; 0 for an unmatched object): their mean is the frame's CTC SEG."""
    from celltrace.metrics.matching import overlap_table

    return overlap_table(np.asarray(gt), np.asarray(pred)).seg_jaccards()


def ctc_technical(ev: Evaluation) -> dict[str, float | int | None]:
    """TRA, DET, LNK, AOGM (+ counts AOGM_NS … AOGM_EC, |V_R|, |E_R|), SEG, OP_CSB, OP_CTB."""
    c = aogm_counts(ev)
    out: dict[str, float | int | None] = {}
    out.update(scores_from_counts(c))
    for key in ("NS", "FN", "FP", "ED", "EA", "EC"):
        out[f"AOGM_{key}"] = c[key]
    out["AOGM_VR"] = c["num_vertices"]
    out["AOGM_ER"] = c["num_edges"]
    out.update(seg_from(seg_counts(ev) if ev.seg else None, out))
    return out


def seg_from(sc: dict[str, float] | None, out: dict) -> dict[str, float | int | None]:
    """SEG and the OP_CSB / OP_CTB combinations (None without SEG ground truth)."""
    if not sc:
        return {"SEG": None, "OP_CSB": None, "OP_CTB": None}
    seg = sc["SEG_iou_sum"] / max(sc["SEG_objects"], 1)
    return {"SEG": seg, "SEG_iou_sum": sc["SEG_iou_sum"], "SEG_objects": int(sc["SEG_objects"]),
            "OP_CSB": 0.5 * seg + 0.5 * out["DET"] if out.get("DET") is not None else None,
            "OP_CTB": 0.5 * seg + 0.5 * out["TRA"] if out.get("TRA") is not None else None}
