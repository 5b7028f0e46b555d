"""The one matching step every metric family shares.

Per frame ``t`` we compute the *overlap table* between the reference labels (GT) and the computed
labels (prediction) with a single ``bincount`` over the pixel pairs ``gt_index * K + pred_index``:

    inter[i, j] = |R_i ∩ S_j|   (row / column 0 = background)

From it every matching rule follows without touching pixels again:

* CTC (Matula et al. 2015): ``R ↔ S  iff  |R ∩ S| > 0.5 · |R|`` (each R matches at most one S).
* IoU: ``IoU(R, S) = |R ∩ S| / (|R| + |S| − |R ∩ S|)`` with an optional one-to-one assignment.
* DistNet2D: ``|R ∩ S| > 0.5 · min(|R|, |S|)`` or ``|R ∩ S| > C``.

:class:`Evaluation` reads each frame of both trackings exactly once, builds the tables (TRA markers
and, where available, the SEG ground truth), and caches what the families derive from them (node
indices, the CTC matching, the graph edges), so all families run off the same numbers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from celltrace.errors import TrackingError
from celltrace.tracking import Tracking, label_problem


# --------------------------------------------------------------------------------------------
# per-frame overlap table
# --------------------------------------------------------------------------------------------
@dataclass
class FrameOverlap:
    """Overlap table of one frame: ``inter[i+1, j+1] = |R_i ∩ S_j|`` (row/column 0: background)."""

    gt_labels: np.ndarray      # (m,) sorted labels > 0 present in the GT frame
    pred_labels: np.ndarray    # (n,) sorted labels > 0 present in the predicted frame
    inter: np.ndarray          # (m+1, n+1) int64 pixel counts

    @property
    def gt_area(self) -> np.ndarray:
        """``|R_i|`` for every GT label (pixels)."""
        return self.inter[1:].sum(axis=1)

    @property
    def pred_area(self) -> np.ndarray:
        """``|S_j|`` for every predicted label (pixels)."""
        return self.inter[:, 1:].sum(axis=0)

    def ctc_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """CTC matching ``|R ∩ S| > 0.5·|R|``: indices (into gt_labels, pred_labels) of matched pairs."""
        core = self.inter[1:, 1:]
        if core.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        gi, pj = np.nonzero(2 * core > self.gt_area[:, None])
        return gi.astype(np.int64), pj.astype(np.int64)

    def seg_jaccards(self) -> np.ndarray:
        """The CTC SEG term of every GT object, in label order: ``J = |R ∩ S| / |R ∪ S|`` with the
        ``S`` matching it under :meth:`ctc_pairs`, else 0."""
        out = np.zeros(self.gt_labels.size)
        gi, pj = self.ctc_pairs()
        if gi.size:
            out[gi] = self.iou()[gi, pj]
        return out

    def point_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Point matching (CAP): S ↔ R iff S lies mostly inside R (``|R ∩ S| > 0.5·|S|``, a point
        marker inside R); of several S inside one R the largest overlap (then the lowest label) wins."""
        core = self.inter[1:, 1:]
        if core.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        cand = 2 * core > self.pred_area[None, :]
        score = np.where(cand, core, -1)
        best = score.argmax(axis=1)
        gi = np.flatnonzero(score[np.arange(core.shape[0]), best] >= 0)
        return gi.astype(np.int64), best[gi].astype(np.int64)

    def iou(self) -> np.ndarray:
        """(m, n) matrix of ``|R ∩ S| / |R ∪ S|``."""
        core = self.inter[1:, 1:].astype(np.float64)
        union = self.gt_area[:, None] + self.pred_area[None, :] - core
        return np.divide(core, union, out=np.zeros_like(core), where=union > 0)


def _present(counts: np.ndarray) -> np.ndarray:
    lab = np.flatnonzero(counts)
    return lab[lab > 0]


def overlap_table(gt: np.ndarray, pred: np.ndarray) -> FrameOverlap:
    """Overlap table of two label images of one frame (one ``bincount`` over label pairs)."""
    if gt.shape != pred.shape:
        raise ValueError(f"frame shapes differ: GT {gt.shape} vs prediction {pred.shape}")
    g = gt.ravel()
    p = pred.ravel()
    if g.size == 0:
        return FrameOverlap(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((1, 1), np.int64))
    if (np.issubdtype(g.dtype, np.signedinteger) and g.min() < 0) or \
            (np.issubdtype(p.dtype, np.signedinteger) and p.min() < 0):
        raise TrackingError("negative label in a mask")
    gmax, pmax = int(g.max()), int(p.max())
    if (gmax + 1) * (pmax + 1) <= 2**22:
        # direct: one bincount over raw label pairs, then keep present rows / columns
        k = pmax + 1
        full = np.bincount(g.astype(np.int64) * k + p.astype(np.int64),  # int64: no uint64 + int mix
                           minlength=(gmax + 1) * k).reshape(gmax + 1, k)
        g_lab = _present(full.sum(axis=1))
        p_lab = _present(full.sum(axis=0))
        inter = full[np.concatenate([[0], g_lab])][:, np.concatenate([[0], p_lab])].astype(np.int64)
        return FrameOverlap(g_lab.astype(np.int64), p_lab.astype(np.int64), inter)
    g_lab, g_idx = _compress(g)
    p_lab, p_idx = _compress(p)
    m, n = g_lab.size, p_lab.size
    pair = g_idx * (n + 1) + p_idx
    inter = np.bincount(pair, minlength=(m + 1) * (n + 1)).reshape(m + 1, n + 1).astype(np.int64)
    return FrameOverlap(g_lab.astype(np.int64), p_lab.astype(np.int64), inter)


def _compress(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels > 0 present in ``flat`` and every pixel's index 0..n (0 = background)."""
    top = int(flat.max()) if flat.size else 0
    if top < 2**24:
        flat = flat.astype(np.int64, copy=False)   # bincount refuses uint64
        counts = np.bincount(flat, minlength=1)
        labels = _present(counts)
        lut = np.zeros(counts.size, dtype=np.int64 if labels.size > 2**31 - 2 else np.int32)
        lut[labels] = np.arange(1, labels.size + 1, dtype=lut.dtype)
        return labels, lut[flat]
    labels, inverse = np.unique(flat, return_inverse=True)   # sparse huge labels
    if labels[0] == 0:
        return labels[1:], inverse
    return labels, inverse + 1


# --------------------------------------------------------------------------------------------
# trackings as graphs
# --------------------------------------------------------------------------------------------
@dataclass
class Graph:
    """Nodes (one per label per frame) and edges of a tracking (the CTC acyclic oriented graph).

    Node ``k`` is ``(frame[k], label[k])``; per frame the labels are sorted and nodes of frame ``t``
    are ``offsets[t]:offsets[t+1]``. Edges: ``src, dst`` node indices and ``semantic`` (0 = track
    link between consecutive frames of one label, 1 = parent link from a parent's last node to a
    child's first node — across a division or a gap).
    """

    labels_per_frame: list[np.ndarray]
    lineage: pd.DataFrame
    offsets: np.ndarray = field(init=False)
    frame: np.ndarray = field(init=False)
    label: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        sizes = [len(x) for x in self.labels_per_frame]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.frame = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
        self.label = (np.concatenate(self.labels_per_frame) if sizes else np.zeros(0)).astype(np.int64)

    @property
    def n_nodes(self) -> int:
        return int(self.offsets[-1])

    def node(self, t: int, label: int) -> int:
        """Index of node (t, label), or −1 if the label is absent from frame t."""
        if not 0 <= t < len(self.labels_per_frame):
            return -1
        labs = self.labels_per_frame[t]
        i = int(np.searchsorted(labs, label))
        return int(self.offsets[t] + i) if i < labs.size and labs[i] == label else -1

    @cached_property
    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(src, dst, semantic)`` of all track links and parent links."""
        src, dst, sem = [], [], []
        for t in range(len(self.labels_per_frame) - 1):
            a, b = self.labels_per_frame[t], self.labels_per_frame[t + 1]
            _, ia, ib = np.intersect1d(a, b, assume_unique=True, return_indices=True)
            src.append(ia + self.offsets[t])
            dst.append(ib + self.offsets[t + 1])
            sem.append(np.zeros(ia.size, np.int64))
        ends = dict(zip(self.lineage["label"].tolist(), self.lineage["end"].tolist()))
        ps, pd_ = [], []
        for lab, begin, parent in zip(self.lineage["label"].tolist(), self.lineage["begin"].tolist(),
                                      self.lineage["parent"].tolist()):
            if parent and parent in ends:
                a = self.node(ends[parent], parent)
                b = self.node(begin, lab)
                if a >= 0 and b >= 0:
                    ps.append(a)
                    pd_.append(b)
        src.append(np.asarray(ps, np.int64))
        dst.append(np.asarray(pd_, np.int64))
        sem.append(np.ones(len(ps), np.int64))
        return (np.concatenate(src).astype(np.int64), np.concatenate(dst).astype(np.int64),
                np.concatenate(sem).astype(np.int64))

    @cached_property
    def successors(self) -> dict[int, list[int]]:
        """Node → successor nodes."""
        out: dict[int, list[int]] = {}
        s, d, _ = self.edges
        for a, b in zip(s.tolist(), d.tolist()):
            out.setdefault(a, []).append(b)
        return out

    @cached_property
    def predecessor(self) -> np.ndarray:
        """Node → its predecessor node (−1 if none; CTC graphs have no merges)."""
        pred = np.full(self.n_nodes, -1, np.int64)
        s, d, _ = self.edges
        pred[d] = s
        return pred


def merge_single_child_chains(lineage: pd.DataFrame) -> dict[int, int]:
    """Map every label to the root of its chain of single-child (gap-closing) links.

    A parent with exactly one child is the same cell seen again after a gap, so identity-based
    measures (MOTA, IDF1, MT/ML, CHOTA) treat parent and single child as one trajectory.
    """
    parent = dict(zip(lineage["label"].tolist(), lineage["parent"].tolist()))
    n_children: dict[int, int] = {}
    for p in parent.values():
        if p:
            n_children[p] = n_children.get(p, 0) + 1
    root: dict[int, int] = {}

    def find(lab: int) -> int:
        chain: list[int] = []
        on_chain: set[int] = set()
        while lab not in root:
            p = parent.get(lab, 0)
            if p and p in parent and n_children.get(p, 0) == 1 and p not in on_chain and p != lab:
                chain.append(lab)
                on_chain.add(lab)
                lab = p
            else:
                root[lab] = lab
                break
        r = root[lab]
        for c in chain:
            root[c] = r
        return r

    for lab in parent:
        find(lab)
    return root


# --------------------------------------------------------------------------------------------
# the shared evaluation context
# --------------------------------------------------------------------------------------------
class Evaluation:
    """One prediction against one ground truth: overlap tables + cached derived matchings.

    Parameters
    ----------
    pred, gt : Tracking
        Computed result and reference (TRA markers + lineage).
    seg : dict frame → label image, optional
        SEG ground truth (only some frames, possibly only some cells).
    rule : str
        ``"ctc"`` (``|R ∩ S| > 0.5·|R|``) or ``"points"`` (a computed point/marker inside R) for the
        matching all families share.
    validate : bool
        Check the prediction against the CTC rules first; raise :class:`TrackingError` (naming
        label and frame, as :meth:`Tracking.validate` does) instead of scoring an invalid result.
        The ground truth is always checked the same way (a broken lineage, e.g. a parent cycle,
        would make the measures meaningless or endless).

    Errors name the folder (``meta["source"]``) or say "the result" / "the ground truth".
    """

    def __init__(self, pred: Tracking, gt: Tracking, seg: dict[int, np.ndarray] | None = None,
                 validate: bool = True, threads: int = 2, rule: str = "ctc"):
        if rule not in ("ctc", "points"):
            raise ValueError(f"rule must be 'ctc' or 'points', not {rule!r}")
        self.rule = rule
        pname, gname = _name(pred, "the result"), _name(gt, "the ground truth")
        if pred.n_frames != gt.n_frames:
            raise TrackingError(f"{pname} has {pred.n_frames} frames, {gname} {gt.n_frames}")
        if tuple(pred.shape[1:]) != tuple(gt.shape[1:]):
            raise TrackingError(f"{pname} has frames of {tuple(pred.shape[1:])} pixels, "
                                f"{gname} of {tuple(gt.shape[1:])}")
        self.pred = pred
        self.gt = gt
        self.T = gt.n_frames
        self.image_shape = tuple(gt.shape[1:])
        seg = {t: np.asarray(s) for t, s in (seg or {}).items() if 0 <= t < self.T}
        for t, s in seg.items():
            problem = label_problem(s) or (None if s.shape == self.image_shape else
                                           f"of shape {s.shape}, the frames are {self.image_shape}")
            if problem:
                raise TrackingError(f"{gname}: SEG frame {t}: {problem}")

        def one(t: int) -> tuple[FrameOverlap, FrameOverlap | None, np.ndarray, np.ndarray]:
            g = _label_frame(gt, t, gname)
            p = _label_frame(pred, t, pname)
            s = overlap_table(seg[t], p) if t in seg else None
            return overlap_table(g, p), s, _border_labels(g), _border_labels(p)

        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                per_frame = list(pool.map(one, range(self.T)))
        else:
            per_frame = [one(t) for t in range(self.T)]
        self.frames: list[FrameOverlap] = [x[0] for x in per_frame]
        self.seg: dict[int, FrameOverlap] = {t: x[1] for t, x in enumerate(per_frame) if x[1] is not None}
        self._gt_border = [x[2] for x in per_frame]
        self._pred_border = [x[3] for x in per_frame]
        self.check_ground_truth()
        if validate:
            self.check_prediction()

    # ---------------------------------------------------------------- validation
    def check_prediction(self) -> None:
        """Raise TrackingError (via :meth:`Tracking.validate`) if the prediction breaks the CTC rules.

        A fast check on the labels already counted by the overlap pass; only when it finds a
        problem is :meth:`Tracking.validate` run for the validator's message (label and frame).
        """
        _check(self.pred, [f.pred_labels for f in self.frames], self.T, "the result")

    def check_ground_truth(self) -> None:
        """Raise TrackingError (via :meth:`Tracking.validate`, naming the GT folder) if the ground
        truth breaks the CTC rules — the same check as :meth:`check_prediction`."""
        _check(self.gt, [f.gt_labels for f in self.frames], self.T, "the ground truth")

    # ---------------------------------------------------------------- graphs
    @cached_property
    def gt_graph(self) -> Graph:
        return Graph([f.gt_labels for f in self.frames], self.gt.lineage)

    @cached_property
    def pred_graph(self) -> Graph:
        return Graph([f.pred_labels for f in self.frames], self.pred.lineage)

    # ---------------------------------------------------------------- CTC matching
    @cached_property
    def ctc(self) -> dict[str, np.ndarray]:
        """CTC matching over all nodes: ``gt_to_pred`` (−1 if unmatched), ``pred_count`` (number of
        GT nodes matched to each predicted node), ``pairs`` (gt node, pred node)."""
        gg, pg = self.gt_graph, self.pred_graph
        gt_to_pred = np.full(gg.n_nodes, -1, np.int64)
        for t, f in enumerate(self.frames):
            gi, pj = f.ctc_pairs() if self.rule == "ctc" else f.point_pairs()
            gt_to_pred[gg.offsets[t] + gi] = pg.offsets[t] + pj
        matched = gt_to_pred >= 0
        pred_count = np.bincount(gt_to_pred[matched], minlength=pg.n_nodes)
        return {"gt_to_pred": gt_to_pred, "pred_count": pred_count,
                "pairs": np.stack([np.flatnonzero(matched), gt_to_pred[matched]], axis=1)}

    @cached_property
    def iou_matrices(self) -> list[np.ndarray]:
        return [f.iou() for f in self.frames]

    def iou_matching(self, threshold: float = 0.5, one_to_one: bool = True) -> np.ndarray:
        """gt node → pred node (−1) by IoU ≥ ``threshold``; one-to-one by a linear assignment that
        maximises the number of matches, then the summed IoU."""
        gg, pg = self.gt_graph, self.pred_graph
        out = np.full(gg.n_nodes, -1, np.int64)
        for t, iou in enumerate(self.iou_matrices):
            if iou.size == 0:
                continue
            cand = iou >= threshold
            if not cand.any():
                continue
            if one_to_one:
                w = np.where(cand, 10.0 + iou, 0.0)
                rows, cols = linear_sum_assignment(w, maximize=True)
                keep = cand[rows, cols]
                rows, cols = rows[keep], cols[keep]
            else:
                rows, cols = np.nonzero(cand)
            out[gg.offsets[t] + rows] = pg.offsets[t] + cols
        return out

    # ---------------------------------------------------------------- borders
    def gt_touches_border(self) -> np.ndarray:
        """Boolean per GT node: the object touches the image border."""
        return np.concatenate([np.isin(f.gt_labels, b) for f, b in zip(self.frames, self._gt_border)])

    def pred_touches_border(self) -> np.ndarray:
        return np.concatenate([np.isin(f.pred_labels, b) for f, b in zip(self.frames, self._pred_border)])


def _name(tracking: Tracking, default: str) -> str:
    """The folder a tracking was read from, else ``default``."""
    return str(tracking.meta.get("source") or default)


def _label_frame(tracking: Tracking, t: int, name: str) -> np.ndarray:
    """Frame ``t`` of ``tracking``'s masks, refused (naming its file) unless a label image."""
    frame = np.asarray(tracking.masks[t])
    problem = label_problem(frame)
    if problem:
        files = tracking.meta.get("mask_files")
        raise TrackingError(f"{files[t] if files and t < len(files) else f'{name}: frame {t}'}: {problem}")
    return frame


def _check(tracking: Tracking, present: list[np.ndarray], T: int, default: str) -> None:
    """Raise TrackingError with :meth:`Tracking.validate`'s message, naming the tracking's folder,
    unless the lineage and the labels present per frame obey the CTC rules."""
    if _labels_consistent(tracking.lineage, present, T):
        return
    name = _name(tracking, default)
    try:
        tracking.validate()
    except TrackingError as exc:
        msg = str(exc)
        raise TrackingError(msg if msg.startswith(name) else f"{name}: {msg}") from None
    raise TrackingError(f"{name} breaks the CTC rules")  # pragma: no cover


def _border_labels(frame: np.ndarray) -> np.ndarray:
    edge = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
    lab = np.unique(edge)
    return lab[lab > 0]


def _labels_consistent(lineage: pd.DataFrame, present: list[np.ndarray], T: int) -> bool:
    """True iff the lineage and the labels present per frame obey every rule of Tracking.problems()."""
    lab = lineage["label"].to_numpy()
    begin = lineage["begin"].to_numpy()
    end = lineage["end"].to_numpy()
    parent = lineage["parent"].to_numpy()
    if (lab < 1).any() or np.unique(lab).size != lab.size:
        return False
    if (begin < 0).any() or (end >= T).any() or (end < begin).any():
        return False
    pos = {int(x): i for i, x in enumerate(lab)}
    for b, p in zip(begin.tolist(), parent.tolist()):
        if p and (p not in pos or end[pos[p]] >= b):
            return False
    n_expected = 0
    for t, labs in enumerate(present):
        expected = np.sort(lab[(begin <= t) & (end >= t)])
        if labs.size != expected.size or not np.array_equal(labs, expected):
            return False
        n_expected += expected.size
    return True
