"""Lineage metrics as DistNet2D defines them (Ollion et al. 2024).

Matching per frame: ``R ↔ S  iff  |R ∩ S| > 0.5·min(|R|, |S|)``, or ``|R ∩ S| > C`` when
``overlap = C > 0`` (so one cell may match several). Matched cells form clusters (connected
components of the matching graph), which resolves over- and under-segmentation.

* Segmentation errors, as % of GT cells: FN (GT cell matching nothing), FP (predicted cell matching
  nothing), over-segmentation (GT cell matching ≥ 2 predicted cells), under-segmentation
  (predicted cell matching ≥ 2 GT cells; counted once per extra GT cell).
* Tracking errors, as % of GT links (links between consecutive frames, track or division links):
  a GT link a→b is a false negative unless some predicted link joins the clusters of a and b; a
  predicted link between matched cells is a false positive unless some GT link joins its clusters.
* Incomplete lineages, as % of GT lineages (trees of tracks): a lineage with any cell in error or
  any FN link, or a FP link touching one of its cells.
* ``exclude_border``: GT cells touching the image border (and predicted cells matched only to
  them, or unmatched and touching the border) are left out, with their links.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from celltrace.metrics.matching import Evaluation


def _root_of(lineage) -> dict[int, int]:
    parent = dict(zip(lineage["label"].tolist(), lineage["parent"].tolist()))
    out: dict[int, int] = {}
    for lab in parent:
        r, seen = lab, 0
        while parent.get(r, 0) and parent[r] in parent and seen < len(parent):
            r = parent[r]
            seen += 1
        out[lab] = r
    return out


def lineage_errors(ev: Evaluation, overlap: float = 0, exclude_border: bool = False) -> dict[str, float | int | None]:
    """DistNet2D error rates (see the module docstring); counts and percentages."""
    gg, pg = ev.gt_graph, ev.pred_graph
    g_excl = ev.gt_touches_border() if exclude_border else np.zeros(gg.n_nodes, bool)
    p_border = ev.pred_touches_border() if exclude_border else np.zeros(pg.n_nodes, bool)
    ga, pa = [], []      # matched node pairs
    for t, f in enumerate(ev.frames):
        core = f.inter[1:, 1:]
        if core.size == 0:
            continue
        rule = 2 * core > np.minimum(f.gt_area[:, None], f.pred_area[None, :])
        if overlap > 0:
            rule |= core > overlap
        i, j = np.nonzero(rule & (core > 0))
        ga.append(i + gg.offsets[t])
        pa.append(j + pg.offsets[t])
    ga = np.concatenate(ga) if ga else np.zeros(0, np.int64)
    pa = np.concatenate(pa) if pa else np.zeros(0, np.int64)
    # predicted cells matched only to excluded GT cells are excluded too
    p_excl = np.zeros(pg.n_nodes, bool)
    if exclude_border:
        n_ok = np.bincount(pa[~g_excl[ga]], minlength=pg.n_nodes)
        n_any = np.bincount(pa, minlength=pg.n_nodes)
        p_excl = ((n_any > 0) & (n_ok == 0)) | ((n_any == 0) & p_border)
    keep = ~g_excl[ga] & ~p_excl[pa]
    ga, pa = ga[keep], pa[keep]
    g_deg = np.bincount(ga, minlength=gg.n_nodes)
    p_deg = np.bincount(pa, minlength=pg.n_nodes)
    g_in, p_in = ~g_excl, ~p_excl
    fn_cells = g_in & (g_deg == 0)
    over = g_in & (g_deg >= 2)
    fp_cells = p_in & (p_deg == 0)
    under_n = np.maximum(p_deg - 1, 0) * p_in
    # clusters: connected components over GT + pred nodes
    n = gg.n_nodes + pg.n_nodes
    graph = coo_matrix((np.ones(ga.size), (ga, gg.n_nodes + pa)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    gc, pc = comp[:gg.n_nodes], comp[gg.n_nodes:]
    # links between consecutive frames
    gs, gd, _ = gg.edges
    ps, pd_, _ = pg.edges
    gcons = (gg.frame[gd] == gg.frame[gs] + 1) & g_in[gs] & g_in[gd]
    pcons = (pg.frame[pd_] == pg.frame[ps] + 1) & p_in[ps] & p_in[pd_]
    gs, gd = gs[gcons], gd[gcons]
    ps, pd_ = ps[pcons], pd_[pcons]
    pred_cluster_links = set(zip(pc[ps].tolist(), pc[pd_].tolist()))
    gt_cluster_links = set(zip(gc[gs].tolist(), gc[gd].tolist()))
    fn_link = np.array([(a, b) not in pred_cluster_links for a, b in zip(gc[gs].tolist(), gc[gd].tolist())], bool)
    matched_p = p_deg > 0
    pm = matched_p[ps] & matched_p[pd_]
    fp_link = np.zeros(ps.size, bool)
    fp_link[pm] = [(a, b) not in gt_cluster_links for a, b in zip(pc[ps[pm]].tolist(), pc[pd_[pm]].tolist())]
    # lineages
    root = _root_of(ev.gt.lineage)
    g_root = np.array([root.get(int(lab), int(lab)) for lab in gg.label], np.int64)
    lineages = set(g_root[g_in].tolist())
    bad: set[int] = set(g_root[fn_cells | over].tolist())
    bad |= set(g_root[gs[fn_link]].tolist())
    # under-segmented / FP-linked predicted cells taint the lineages of their matched GT cells
    p_bad = (under_n > 0).copy()
    p_bad[ps[fp_link]] = True
    p_bad[pd_[fp_link]] = True
    bad |= set(g_root[ga[p_bad[pa]]].tolist())
    bad &= lineages
    n_cells = int(g_in.sum())
    n_links = int(gs.size)

    def pct(x: int, d: int) -> float | None:
        return 100.0 * x / d if d else None

    out = {"LIN_FN": int(fn_cells.sum()), "LIN_FP": int(fp_cells.sum()), "LIN_over": int(over.sum()),
           "LIN_under": int(under_n.sum()), "LIN_FN_links": int(fn_link.sum()), "LIN_FP_links": int(fp_link.sum()),
           "LIN_incomplete": len(bad), "LIN_cells": n_cells, "LIN_links": n_links, "LIN_lineages": len(lineages)}
    out.update({"LIN_FN_%": pct(out["LIN_FN"], n_cells), "LIN_FP_%": pct(out["LIN_FP"], n_cells),
                "LIN_over_%": pct(out["LIN_over"], n_cells), "LIN_under_%": pct(out["LIN_under"], n_cells),
                "LIN_FN_links_%": pct(out["LIN_FN_links"], n_links),
                "LIN_FP_links_%": pct(out["LIN_FP_links"], n_links),
                "LIN_incomplete_%": pct(len(bad), len(lineages))})
    return out
