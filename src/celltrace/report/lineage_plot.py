"""Lineage trees: time on the x axis, one tree per founder cell, divisions as branches.

Layout of one tree (a founder and everything descended from it): every leaf gets its own row; a
mother sits halfway between its first and last daughter; a single child (a track continued under a
new label after a gap) stays on its mother's row and is joined by a dashed line. A track is drawn
from its first to its last frame in its colour from :func:`~celltrace.report.overlay.label_color`,
the same colour as in the overlay movie. Markers:

* ● (black) — a division (the mother's last frame);
* ✕ (red) — a track that ends before the last frame without dividing or continuing (lost / died /
  left the field: "ends early");
* ○ — a founder that appears after the first frame.

Many trees are split into pages of at most ``rows_per_page`` rows (one PNG each).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from celltrace.report.overlay import label_colors


@dataclass
class TreeLayout:
    """Row (y) of every label and the founders in drawing order."""

    y: dict[int, float]
    founders: list[int]
    rows: dict[int, int]          # founder → number of rows its tree takes


def layout_trees(lineage: pd.DataFrame) -> TreeLayout:
    """Rows for every label: leaves numbered top to bottom, mothers centred over their daughters."""
    lin = lineage[["label", "begin", "end", "parent"]].astype(np.int64)
    labels = set(int(x) for x in lin["label"])
    kids: dict[int, list[int]] = {}
    begin = dict(zip(lin["label"].astype(int), lin["begin"].astype(int)))
    for c, p in zip(lin["label"].astype(int), lin["parent"].astype(int)):
        if p and p in labels:
            kids.setdefault(p, []).append(c)
    for p in kids:
        kids[p].sort(key=lambda c: (begin[c], c))
    founders = sorted((int(r.label) for r in lin.itertuples() if not r.parent or int(r.parent) not in labels),
                      key=lambda lab: (begin[lab], lab))
    y: dict[int, float] = {}
    rows: dict[int, int] = {}
    next_row = 0.0
    for f in founders:
        start = next_row
        # iterative post-order (deep trees must not hit the recursion limit)
        stack: list[tuple[int, bool]] = [(f, False)]
        while stack:
            node, done = stack.pop()
            ch = kids.get(node, [])
            if not ch:
                y[node] = next_row
                next_row += 1
            elif done:
                if len(ch) == 1:
                    y[node] = y[ch[0]]
                else:
                    y[node] = 0.5 * (y[ch[0]] + y[ch[-1]])
            else:
                stack.append((node, True))
                for c in reversed(ch):
                    stack.append((c, False))
        rows[f] = int(round(next_row - start))
        next_row += 0.6  # gap between trees
    return TreeLayout(y=y, founders=founders, rows=rows)


def plot_lineage(lineage: pd.DataFrame, n_frames: int, folder: str | Path, name: str = "lineage",
                 rows_per_page: int = 60, max_pages: int = 20, title: str = "Lineage trees",
                 dpi: int = 100, frame_interval_s: float | None = None) -> list[Path]:
    """Draw the lineage trees of ``lineage`` into ``folder/{name}_{k}.png``; return the paths.

    With ``frame_interval_s`` a second time axis in hours runs along the top.

    At most ``max_pages`` pages are drawn (the later founders are then left out and the last page's
    title says how many).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    folder = Path(folder)
    lin = lineage[["label", "begin", "end", "parent"]].astype(np.int64).reset_index(drop=True)
    if len(lin) == 0:
        fig, ax = plt.subplots(figsize=(8, 1.5))
        ax.text(0.5, 0.5, "no tracks", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        path = folder / f"{name}_0.png"
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        return [path]
    lay = layout_trees(lin)
    info = {int(r.label): (int(r.begin), int(r.end), int(r.parent)) for r in lin.itertuples()}
    kids: dict[int, list[int]] = {}
    for lab, (_, _, p) in info.items():
        if p in info:
            kids.setdefault(p, []).append(lab)
    colors = dict(zip(lin["label"].astype(int), label_colors(lin["label"].to_numpy()) / 255.0))

    # pages of founders
    pages: list[list[int]] = [[]]
    used = 0
    for f in lay.founders:
        if pages[-1] and used + lay.rows[f] > rows_per_page:
            pages.append([])
            used = 0
        pages[-1].append(f)
        used += lay.rows[f]
    left_out = sum(len(p) for p in pages[max_pages:])
    pages = pages[:max_pages]

    paths = []
    for k, page in enumerate(pages):
        members: list[int] = []
        for f in page:
            stack = [f]
            while stack:
                n = stack.pop()
                members.append(n)
                stack.extend(kids.get(n, []))
        ys = [lay.y[m] for m in members]
        y0, y1 = min(ys), max(ys)
        n_rows = y1 - y0 + 1
        fig_h = min(60.0, max(2.4, 0.8 + 0.16 * n_rows))
        fig, ax = plt.subplots(figsize=(10, fig_h))
        segs, cols, dashed = [], [], []
        div_pts, lost_pts, appear_pts = [], [], []
        show_text = len(members) <= 150
        for m in members:
            b, e, p = info[m]
            ym = lay.y[m]
            segs.append([(b - 0.3, ym), (e + 0.3, ym)])
            cols.append(colors[m])
            ch = kids.get(m, [])
            at = [c for c in ch if info[c][0] == e + 1]
            if len(at) >= 2:
                div_pts.append((e, ym))
            for c in ch:
                cb = info[c][0]
                if len(at) >= 2 and c in at:
                    dashed.append(([(e, ym), (e + 0.5, ym), (e + 0.5, lay.y[c]), (cb, lay.y[c])], False))
                else:
                    dashed.append(([(e, ym), (cb, lay.y[c])], True))
            if not ch and e < n_frames - 1:
                lost_pts.append((e, ym))
            if (p == 0 or p not in info) and b > 0:
                appear_pts.append((b, ym))
            if show_text and m not in page:  # founders are named on the y axis
                ax.text(b, ym - 0.18, str(m), fontsize=6, color="0.25", va="bottom", ha="left")
        ax.add_collection(LineCollection(segs, colors=cols, linewidths=2.2, capstyle="butt"))
        solid = [s for s, d in dashed if not d]
        gaps = [s for s, d in dashed if d]
        if solid:
            ax.add_collection(LineCollection(solid, colors="0.3", linewidths=0.9))
        if gaps:
            ax.add_collection(LineCollection(gaps, colors="0.3", linewidths=0.9, linestyles="dashed"))
        if div_pts:
            ax.plot(*zip(*div_pts), "o", color="k", ms=4, label="division", zorder=3)
        if lost_pts:
            ax.plot(*zip(*lost_pts), "x", color="red", ms=6, mew=1.8, label="ends early (lost)", zorder=3)
        if appear_pts:
            ax.plot(*zip(*appear_pts), "o", mfc="white", mec="0.2", ms=4, label="appears", zorder=3)
        ax.set_xlim(-0.5, max(n_frames - 0.5, 1))
        ax.set_ylim(y1 + 0.8, y0 - 0.8)  # first tree on top
        ax.set_yticks([lay.y[f] for f in page])
        ax.set_yticklabels([str(f) for f in page], fontsize=7 if len(page) > 30 else 8)
        ax.set_ylabel("founder track")
        ax.set_xlabel("frame")
        if frame_interval_s:
            top = ax.secondary_xaxis("top", functions=(lambda f: f * frame_interval_s / 3600.0,
                                                       lambda h: h * 3600.0 / frame_interval_s))
            top.set_xlabel("time [h]")
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)
        ax.grid(axis="x", color="0.9", lw=0.6)
        ttl = f"{title} ({len(lay.founders)} founders, {len(lin)} tracks)"
        if len(pages) > 1:
            ttl += f" — page {k + 1}/{len(pages)}"
        if left_out and k == len(pages) - 1:
            ttl += f"; {left_out} more founders not drawn"
        ax.set_title(ttl, fontsize=10)
        if div_pts or lost_pts or appear_pts:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        fig.tight_layout()
        path = folder / f"{name}_{k}.png"
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        paths.append(path)
    return paths
