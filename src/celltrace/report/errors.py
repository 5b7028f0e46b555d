"""Where a result disagrees with the ground truth: one row per error, with frame, labels and position.

Matching (the CTC rule, Matula et al. 2015): in each frame a GT marker ``R`` is matched by the
predicted region ``S`` iff ``|R ∩ S| > 0.5·|R|`` (so ``R`` matches at most one ``S``). From it:

* **FN** — a GT cell matched by no predicted region (missed or badly segmented);
* **FP** — a predicted region that matches no GT cell;
* **merge** — a predicted region that matches two or more GT cells (CTC "NS");
* **split** — a GT cell covered by two or more predicted regions, each over ≥ ``split_fraction``
  of it (the extra pieces usually show up as FP, or the cell as FN);
* **missing link** — a GT link (same track in consecutive frames, or parent → child) whose two ends
  are each matched by exactly one predicted region, but the result does not link those regions
  (a track break or an identity switch);
* **extra link** — a link in the result between two uniquely matched regions whose GT cells are not
  linked (an identity switch, a wrong parent);
* **missed division** — a GT division with no predicted division within ``tolerance`` frames whose
  mother matches the GT mother (or a daughter) and one of whose daughters matches a GT daughter
  (or the mother);
* **false division** — a predicted division that matches no GT division that way.

This is a small, self-contained matching for the report's error view (the counts FN, FP, merge,
missing/extra link follow AOGM's NS/FN/FP/EA/ED closely, but the scores in the report come from
:func:`celltrace.metrics.evaluate`). Pixels are read once per frame; links and divisions are found
afterwards from the per-frame matches and the two lineage tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from celltrace.linking.features import object_features
from celltrace.metrics.matching import overlap_table

KINDS = ["FN", "FP", "merge", "split", "missing link", "extra link", "missed division", "false division"]
EVENT_COLUMNS = ["frame", "kind", "gt_label", "pred_label", "y", "x", "detail"]


@dataclass
class _Frame:
    gt_to_pred: dict[int, int]          # unique matches: GT label → predicted label
    pred_to_gt: dict[int, int]          # predicted label matched by exactly one GT label → that label
    gt_xy: dict[int, tuple[float, float]]
    pred_xy: dict[int, tuple[float, float]]


@dataclass
class ErrorFinder:
    """Accumulates per-frame matches (call :meth:`add` for t = 0, 1, …) and lists the errors."""

    split_fraction: float = 0.1
    tolerance: int = 1
    frames: list[_Frame] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)

    def add(self, t: int, gt: np.ndarray, pred: np.ndarray) -> None:
        """Match frame ``t``: GT label image ``gt`` against predicted label image ``pred``."""
        gt, pred = np.asarray(gt), np.asarray(pred)
        if gt.shape != pred.shape:
            raise ValueError(f"frame {t}: GT shape {gt.shape} differs from the result's {pred.shape}")
        f = overlap_table(gt, pred)
        gl, pl, core = f.gt_labels, f.pred_labels, f.inter[1:, 1:]
        g_area = f.gt_area
        g_obj, p_obj = object_features(gt), object_features(pred)
        gt_xy = {int(l): (float(y), float(x)) for l, y, x in zip(g_obj["label"], g_obj["y"], g_obj["x"])}
        pred_xy = {int(l): (float(y), float(x)) for l, y, x in zip(p_obj["label"], p_obj["y"], p_obj["x"])}
        match = 2 * core > g_area[:, None] if core.size else np.zeros((gl.size, pl.size), bool)
        g_hit = match.any(axis=1)
        p_count = match.sum(axis=0)
        g2p: dict[int, int] = {}
        p2g: dict[int, int] = {}
        for i, j in zip(*np.nonzero(match)):
            g2p[int(gl[i])] = int(pl[j])
            if p_count[j] == 1:
                p2g[int(pl[j])] = int(gl[i])
        ev = self.events
        for i in np.flatnonzero(~g_hit):
            best = int(pl[np.argmax(core[i])]) if pl.size and core[i].max() > 0 else 0
            cover = core[i].max() / g_area[i] if pl.size and g_area[i] else 0.0
            ev.append((t, "FN", int(gl[i]), best, *gt_xy[int(gl[i])],
                       f"best overlap {cover:.0%} (label {best})" if best else "no overlapping region"))
        for j in np.flatnonzero(p_count == 0):
            touched = core[:, j] > 0
            det = ("overlaps GT " + ", ".join(str(int(x)) for x in gl[touched][:4])) if touched.any() else "on background"
            ev.append((t, "FP", 0, int(pl[j]), *pred_xy[int(pl[j])], det))
        for j in np.flatnonzero(p_count >= 2):
            gts = gl[match[:, j]]
            ev.append((t, "merge", int(gts[0]), int(pl[j]), *pred_xy[int(pl[j])],
                       "merges GT " + ", ".join(str(int(x)) for x in gts)))
        if core.size:
            pieces = (core >= self.split_fraction * g_area[:, None]) & (core > 0)
            for i in np.flatnonzero(pieces.sum(axis=1) >= 2):
                ps = pl[pieces[i]]
                ev.append((t, "split", int(gl[i]), int(g2p.get(int(gl[i]), ps[0])), *gt_xy[int(gl[i])],
                           "split into " + ", ".join(str(int(x)) for x in ps)))
        self.frames.append(_Frame(g2p, p2g, gt_xy, pred_xy))

    # ---------------------------------------------------------------- links and divisions
    def finish(self, gt_lineage: pd.DataFrame, pred_lineage: pd.DataFrame) -> "ErrorReport":
        """Add link and division errors (from the lineages) and return the :class:`ErrorReport`."""
        T = len(self.frames)
        F = self.frames
        ev = list(self.events)
        g_edges = _edges(gt_lineage, [set(f.gt_xy) for f in F])
        p_edges = _edges(pred_lineage, [set(f.pred_xy) for f in F])
        p_set = set(p_edges)
        g_set = set(g_edges)
        for (t0, a, t1, b) in g_edges:
            a2, b2 = F[t0].gt_to_pred.get(a), F[t1].gt_to_pred.get(b)
            if a2 is None or b2 is None or F[t0].pred_to_gt.get(a2) != a or F[t1].pred_to_gt.get(b2) != b:
                continue  # an end is unmatched or merged: already an FN / merge error
            if (t0, a2, t1, b2) not in p_set:
                ev.append((t1, "missing link", b, b2, *F[t1].gt_xy[b],
                           f"GT {a}@{t0} → {b}@{t1} but result {a2}@{t0} is not linked to {b2}@{t1}"))
        for (t0, a2, t1, b2) in p_edges:
            a, b = F[t0].pred_to_gt.get(a2), F[t1].pred_to_gt.get(b2)
            if a is None or b is None:
                continue
            if (t0, a, t1, b) not in g_set:
                ev.append((t1, "extra link", b, b2, *F[t1].pred_xy[b2],
                           f"result {a2}@{t0} → {b2}@{t1} links GT {a} to {b}, which are not linked"))
        g_div = _divisions(gt_lineage)
        p_div = _divisions(pred_lineage)
        used_p: set[int] = set()
        for (P, f, D) in g_div:
            fam = {P, *D}
            hit = None
            for k, (P2, f2, D2) in enumerate(p_div):
                if k in used_p or abs(f2 - f) > self.tolerance or not (0 < f2 <= T - 1):
                    continue
                mother_gt = F[f2 - 1].pred_to_gt.get(P2)
                kid_gt = {F[f2].pred_to_gt.get(d) for d in D2}
                if mother_gt in fam and (kid_gt & fam):
                    hit = k
                    break
            if hit is None:
                pts = [F[f].gt_xy[d] for d in D if f < T and d in F[f].gt_xy]
                y, x = np.mean(pts, axis=0) if pts else F[f - 1].gt_xy.get(P, (np.nan, np.nan))
                who = F[f - 1].gt_to_pred.get(P, 0) if f >= 1 else 0
                ev.append((f, "missed division", P, who, float(y), float(x),
                           f"GT {P} → {', '.join(map(str, D))} at frame {f}"
                           + (f"; result follows it as {who}" if who else "")))
            else:
                used_p.add(hit)
        for k, (P2, f2, D2) in enumerate(p_div):
            if k in used_p:
                continue
            pts = [F[f2].pred_xy[d] for d in D2 if f2 < T and d in F[f2].pred_xy]
            y, x = np.mean(pts, axis=0) if pts else (np.nan, np.nan)
            who = F[f2 - 1].pred_to_gt.get(P2, 0) if f2 >= 1 else 0
            ev.append((f2, "false division", who, P2, float(y), float(x),
                       f"result {P2} → {', '.join(map(str, D2))} at frame {f2}"))
        events = pd.DataFrame(ev, columns=EVENT_COLUMNS)
        events["kind"] = pd.Categorical(events["kind"], categories=KINDS)
        events = events.sort_values(["frame", "kind", "gt_label", "pred_label"], kind="stable").reset_index(drop=True)
        events["kind"] = events["kind"].astype(str)
        per_frame = pd.DataFrame(0, index=np.arange(T), columns=KINDS, dtype=np.int64)
        if len(events):
            ct = events.groupby(["frame", "kind"]).size().unstack(fill_value=0)
            for k in ct.columns:
                per_frame.loc[ct.index, k] = ct[k].to_numpy()
        per_frame["total"] = per_frame[KINDS].sum(axis=1)
        per_frame.insert(0, "frame", np.arange(T))
        return ErrorReport(events=events, per_frame=per_frame.reset_index(drop=True))


def _edges(lineage: pd.DataFrame, present: list[set[int]]) -> list[tuple[int, int, int, int]]:
    """Links (t0, label0, t1, label1): a label in consecutive frames, and parent end → child begin."""
    out = []
    T = len(present)
    info = {int(r.label): (int(r.begin), int(r.end), int(r.parent)) for r in lineage.itertuples()}
    for lab, (b, e, p) in info.items():
        for t in range(max(b, 0), min(e, T - 1)):
            if lab in present[t] and lab in present[t + 1]:
                out.append((t, lab, t + 1, lab))
        if p and p in info:
            pe = info[p][1]
            if 0 <= pe < T and 0 <= b < T and p in present[pe] and lab in present[b]:
                out.append((pe, p, b, lab))
    return out


def _divisions(lineage: pd.DataFrame) -> list[tuple[int, int, tuple[int, ...]]]:
    info = {int(r.label): (int(r.begin), int(r.end)) for r in lineage.itertuples()}
    kids: dict[int, list[int]] = {}
    for r in lineage.itertuples():
        if r.parent and int(r.parent) in info and info[int(r.label)][0] == info[int(r.parent)][1] + 1:
            kids.setdefault(int(r.parent), []).append(int(r.label))
    return [(p, info[p][1] + 1, tuple(sorted(d))) for p, d in sorted(kids.items()) if len(d) >= 2]


@dataclass
class ErrorReport:
    """``events``: one row per error (frame, kind, gt_label, pred_label, y, x, detail);
    ``per_frame``: counts of each kind per frame, and their total."""

    events: pd.DataFrame
    per_frame: pd.DataFrame

    def counts(self) -> pd.DataFrame:
        """Total of each kind of error, and the frames where it happens most."""
        rows = []
        for k in KINDS:
            col = self.per_frame[k]
            worst = self.per_frame.loc[col.nlargest(3).index]
            worst = worst[worst[k] > 0]
            rows.append((k, int(col.sum()), int((col > 0).sum()),
                         ", ".join(f"{int(f)} ({int(n)})" for f, n in zip(worst["frame"], worst[k]))))
        return pd.DataFrame(rows, columns=["error", "count", "frames with it", "worst frames (count)"])

    def worst_frames(self, k: int = 4) -> list[int]:
        """The ``k`` frames with most errors (ties: earlier first), only frames with errors."""
        pf = self.per_frame[self.per_frame["total"] > 0]
        return [int(f) for f in pf.sort_values(["total", "frame"], ascending=[False, True])["frame"].head(k)]

    def to_csv(self, folder: str | Path) -> dict[str, Path]:
        folder = Path(folder)
        a, b = folder / "errors.csv", folder / "errors_per_frame.csv"
        self.events.to_csv(a, index=False)
        self.per_frame.to_csv(b, index=False)
        return {"errors": a, "errors_per_frame": b}


def find_errors(pred: Any, gt: Any, progress: bool = False, **options: Any) -> ErrorReport:
    """All errors of ``pred`` against ``gt`` (Tracking objects), reading one frame of each at a time."""
    from tqdm.auto import tqdm

    if pred.n_frames != gt.n_frames:
        raise ValueError(f"the result has {pred.n_frames} frames, the ground truth {gt.n_frames}")
    finder = ErrorFinder(**options)
    for t in tqdm(range(gt.n_frames), desc="errors", unit="frame", disable=not progress):
        finder.add(t, np.asarray(gt.masks[t]), np.asarray(pred.masks[t]))
    return finder.finish(gt.lineage, pred.lineage)


# ------------------------------------------------------------------------------ pictures
MARKS = {"FN": ("FN", (255, 60, 60)), "FP": ("FP", (255, 170, 0)), "merge": ("M", (255, 0, 255)),
         "split": ("S", (0, 200, 255)), "missing link": ("L-", (255, 255, 0)), "extra link": ("L+", (160, 255, 80)),
         "missed division": ("D-", (255, 90, 160)), "false division": ("D+", (120, 160, 255))}


def plot_errors_per_frame(report: ErrorReport, path: str | Path, dpi: int = 100) -> Path:
    """Stacked bars: errors of each kind per frame."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    pf = report.per_frame
    fig, ax = plt.subplots(figsize=(9, 3.0))
    bottom = np.zeros(len(pf))
    for k in KINDS:
        v = pf[k].to_numpy(dtype=float)
        if v.any():
            ax.bar(pf["frame"], v, bottom=bottom, width=1.0, label=f"{k} ({int(v.sum())})",
                   color=np.array(MARKS[k][1]) / 255.0, edgecolor="none")
            bottom += v
    ax.set_xlabel("frame")
    ax.set_ylabel("errors")
    ax.set_xlim(-0.5, max(len(pf) - 0.5, 0.5))
    ax.set_title("Disagreements with the ground truth, per frame")
    if bottom.any():
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    else:
        ax.text(0.5, 0.5, "no errors", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)


@dataclass
class ErrorLabel:
    """One error's tag in a snapshot: ``text`` in ``color``, its marker circle ``(x, y, r)`` and the
    box ``(x0, y0, x1, y1)`` the text occupies (display pixels; below the frame if it did not fit)."""

    text: str
    color: tuple[int, int, int]
    marker: tuple[float, float, float]
    box: tuple[int, int, int, int]


def _intersects(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(C, P) boolean: box c and box p overlap (touching edges do not count)."""
    if not len(others):
        return np.zeros((len(boxes), 0), dtype=bool)
    b, o = boxes[:, None, :], others[None, :, :]
    return (b[..., 0] < o[..., 2]) & (o[..., 0] < b[..., 2]) & (b[..., 1] < o[..., 3]) & (o[..., 1] < b[..., 3])


def place_labels(markers: list[tuple[float, float, float]], sizes: list[tuple[int, int]],
                 image_size: tuple[int, int], gap: int = 2) -> list[tuple[int, int, int, int] | None]:
    """Boxes for labels of the given ``sizes`` (w, h) beside circular ``markers`` (x, y, r), greedily,
    in order: each box lies inside ``image_size`` (W, H) and overlaps no box placed before it.

    Candidates are positions around the marker (right, left, above, below, the diagonals) at growing
    distances; the nearest one that is free wins, with a penalty for covering another marker's circle.
    A label with no free place left in the image gets ``None``. Placed labels are at least ``gap``
    pixels apart.
    """
    W, H = image_size
    circles = np.array([(x - r, y - r, x + r, y + r) for x, y, r in markers], dtype=float).reshape(-1, 4)
    placed: list[tuple[int, int, int, int]] = []
    out: list[tuple[int, int, int, int] | None] = []
    half = gap // 2
    dirs = np.array([(1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (1, 1), (-1, -1), (-1, 1)], dtype=float)
    for k, ((x, y, r), (w, h)) in enumerate(zip(markers, sizes)):
        w, h = int(w) + gap, int(h) + gap
        d = r + 2 + np.arange(0, max(W, H), max(4, h // 2), dtype=float)
        dd = np.repeat(d, len(dirs))
        ux, uy = np.tile(dirs[:, 0], len(d)), np.tile(dirs[:, 1], len(d))
        diag = (ux != 0) & (uy != 0)
        dd = np.where(diag, dd * 0.7071, dd)
        # the box's edge nearest to the marker sits at distance d in direction (ux, uy)
        x0 = np.where(ux > 0, x + dd, np.where(ux < 0, x - dd - w, x - w / 2))
        y0 = np.where(uy > 0, y + dd, np.where(uy < 0, y - dd - h, y - h / 2))
        # first choice, as before: to the right, level with the top of the circle
        x0 = np.concatenate([[x + r + 2], x0])
        y0 = np.concatenate([[y - r], y0])
        cost = np.concatenate([[0.0], d.repeat(len(dirs)) - r - 2 + 0.5])
        cand = np.round(np.stack([x0, y0, x0 + w, y0 + h], axis=1))
        ok = (cand[:, 0] >= 0) & (cand[:, 1] >= 0) & (cand[:, 2] <= W) & (cand[:, 3] <= H)
        ok &= ~_intersects(cand, np.array(placed, dtype=float).reshape(-1, 4)).any(axis=1)
        others = np.delete(circles, k, axis=0)
        cost = cost + 2 * h * _intersects(cand, others).sum(axis=1)
        if not ok.any():
            out.append(None)
            continue
        i = int(np.flatnonzero(ok)[np.argmin(cost[ok])])
        a, b, c, e = (int(v) for v in cand[i])
        placed.append((a, b, c, e))
        out.append((a + half, b + half, c - (gap - half), e - (gap - half)))
    return out


def error_labels(events: pd.DataFrame, renderer: Any) -> list[ErrorLabel]:
    """The tag of each error in ``events`` (one frame) placed beside its marker, no two overlapping;
    tags with no room left in the frame get a row each below it (their text says where the marker is)."""
    from PIL import Image, ImageDraw

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    sy, sx = renderer.scale
    r = max(8, int(round(max(renderer.out_shape) / 28)))
    items = []
    for e in events.itertuples():
        if not np.isfinite(e.y) or not np.isfinite(e.x):
            continue
        tag, col = MARKS[e.kind]
        text = " ".join([tag] + ([f"gt{e.gt_label}"] if e.gt_label else []) + ([f"res{e.pred_label}"] if e.pred_label else []))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=renderer._font, stroke_width=1)
        items.append((text, col, (float(e.x * sx), float(e.y * sy), float(r)), (right - left, bottom - top)))
    dh, dw = renderer.out_shape
    boxes = place_labels([m for _, _, m, _ in items], [s for _, _, _, s in items], (dw, dh))
    out, below = [], dh + 2
    for (text, col, m, (w, h)), box in zip(items, boxes):
        if box is None:  # a row of its own under the frame
            text = f"{text} at x={m[0]:.0f}, y={m[1]:.0f}"
            left, top, right, bottom = draw.textbbox((0, 0), text, font=renderer._font, stroke_width=1)
            box = (2, below, 2 + right - left, below + bottom - top)
            below = box[3] + 2
        out.append(ErrorLabel(text, col, m, box))
    return out


def error_snapshot(raw: np.ndarray, pred_frame: np.ndarray, gt_frame: np.ndarray, events: pd.DataFrame,
                   renderer: Any, t: int) -> np.ndarray:
    """RGB picture of frame ``t``: result contours in track colours, GT markers as thin white
    outlines, every error circled with its tag (FN, FP, M, S, L-, L+, D-, D+) and GT/result labels.

    Tags are placed by :func:`error_labels` so that none overlaps another; a tag placed away from
    its circle is joined to it by a thin line, and tags with no room left in the frame are listed
    in a strip below it."""
    from PIL import Image, ImageDraw

    from celltrace.report.overlay import contour_mask

    rgb = renderer.render(raw, pred_frame, t, centroids={})
    g = renderer.small_labels(gt_frame)
    edge = contour_mask(g) & ~contour_mask(renderer.small_labels(pred_frame))
    rgb = rgb.copy()
    rgb[edge] = (255, 255, 255)
    labels = error_labels(events, renderer)
    H, W = rgb.shape[:2]
    bottom = max([H] + [lab.box[3] + 2 for lab in labels])
    img = Image.new("RGB", (W, bottom), (0, 0, 0))
    img.paste(Image.fromarray(rgb), (0, 0))
    draw = ImageDraw.Draw(img)
    for lab in labels:
        cx, cy, r = lab.marker
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=lab.color, width=2)
    for lab in labels:  # leader lines from the circle to a tag that is not right beside it
        cx, cy, r = lab.marker
        x0, y0, x1, y1 = lab.box
        if y0 >= H:
            continue
        px, py = min(max(cx, x0), x1), min(max(cy, y0), y1)  # nearest point of the box
        dist = float(np.hypot(px - cx, py - cy))
        if dist > r + 6:
            ex, ey = cx + (px - cx) * r / dist, cy + (py - cy) * r / dist
            draw.line([(ex, ey), (px, py)], fill=lab.color, width=1)
    for lab in labels:
        x0, y0, x1, y1 = lab.box
        left, top, _, _ = draw.textbbox((0, 0), lab.text, font=renderer._font, stroke_width=1)
        draw.text((x0 - left, y0 - top), lab.text, fill=lab.color, font=renderer._font, stroke_width=1,
                  stroke_fill=(0, 0, 0))
    return np.asarray(img)
