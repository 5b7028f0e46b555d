"""Ground truth → training targets of the Caliban tracking model (paper §3.5.4), and the loss.

The objects are the cells of the CTC TRA ground truth (one label per track segment; lineage
``L B E P``). For each frame pair ``(t, t+1)``, each cell ``i`` of ``t`` and each candidate ``j``
of ``t+1`` within the gate ``|c_i - c_j| <= gate``, the class is

* ``SAME`` (0) — ``label_i = label_j`` (the track goes on);
* ``PARENT_CHILD`` (2) — ``parent(label_j) = label_i`` and ``begin(label_j) = t + 1`` (a daughter
  of ``i``, or a single child continuing it right after);
* ``DIFFERENT`` (1) — otherwise.

Cell ``i`` comes with its history: the nodes of its track in ``t-H+1 .. t`` (``H`` = 7 in the
paper), right-aligned and padded with -1 where the track had not begun. ``DIFFERENT`` pairs
outnumber the others by far and divisions are rare, so the loss is class-weighted:
``w_c = (N / (3 N_c))^power`` (``power`` 1 = fully balanced, 0 = unweighted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from celltrace.linking.lap import candidate_pairs
from celltrace.methods.caliban.link_features import FrameFeatures
from celltrace.tracking import Tracking, make_lineage

if TYPE_CHECKING:
    import torch

SAME, DIFFERENT, PARENT_CHILD = 0, 1, 2
CLASS_NAMES = ("same", "different", "parent-child")


@dataclass
class PairTargets:
    """Candidate pairs of frame pair ``(t, t+1)`` as rows of frame ``t`` / columns of ``t+1``, with classes."""

    t: int
    rows: np.ndarray   # (P,) int64 positions in frame t's features
    cols: np.ndarray   # (P,) int64 positions in frame t+1's features
    y: np.ndarray      # (P,) int64 class


def node_offsets(features: Sequence[FrameFeatures]) -> np.ndarray:
    """``offsets[t]`` = global index of the first cell of frame ``t`` (cells numbered frame by frame)."""
    return np.concatenate([[0], np.cumsum([len(f) for f in features])]).astype(np.int64)


def lineage_arrays(lineage: object) -> dict[int, tuple[int, int, int]]:
    """``label -> (begin, end, parent)``."""
    lin = make_lineage(lineage)
    return {int(r.label): (int(r.begin), int(r.end), int(r.parent)) for r in lin.itertuples()}


def pair_classes(t: int, labels_t: np.ndarray, labels_t1: np.ndarray, lineage: dict[int, tuple[int, int, int]]) -> np.ndarray:
    """Class of each pair ``(labels_t[k], labels_t1[k])`` between frames ``t`` and ``t+1``."""
    y = np.full(labels_t.size, DIFFERENT, np.int64)
    y[labels_t == labels_t1] = SAME
    par = np.array([lineage.get(int(b), (0, 0, 0))[2] for b in labels_t1], np.int64)
    beg = np.array([lineage.get(int(b), (-1, 0, 0))[0] for b in labels_t1], np.int64)
    y[(par == labels_t) & (beg == t + 1) & (labels_t != labels_t1)] = PARENT_CHILD
    return y


def frame_pair_targets(features: Sequence[FrameFeatures], lineage: object, gate: float,
                       frames: Sequence[int] | None = None) -> list[PairTargets]:
    """:class:`PairTargets` of the frame pairs ``(t, t+1)``, ``t`` in ``frames`` (default: all),
    over the candidates within ``gate`` pixels."""
    info = lineage_arrays(lineage)
    ts = range(len(features) - 1) if frames is None else frames
    out = []
    for t in ts:
        f0, f1 = features[t], features[t + 1]
        r, c, _ = candidate_pairs(f0.centroids, f1.centroids, gate)
        out.append(PairTargets(int(t), r, c, pair_classes(int(t), f0.labels[r], f1.labels[c], info)))
    return out


def gt_histories(features: Sequence[FrameFeatures], t: int, rows: np.ndarray, length: int = 7) -> np.ndarray:
    """``(len(rows), length)`` global node indices of the GT track of each cell ``rows`` of frame ``t``
    in frames ``t-length+1 .. t`` (last column = the cell itself), -1 before the track began."""
    off = node_offsets(features[: t + 1])
    out = np.full((len(rows), length), -1, np.int64)
    labels = features[t].labels[rows]
    for k in range(length):
        s = t - k
        if s < 0:
            break
        lab_s = features[s].labels
        if lab_s.size == 0:
            break
        pos = np.clip(np.searchsorted(lab_s, labels), 0, lab_s.size - 1)
        hit = lab_s[pos] == labels
        if k > 0:
            hit &= out[:, length - k] >= 0  # contiguous: stop where the track had a hole
        out[hit, length - 1 - k] = off[s] + pos[hit]
    return out


def class_counts(targets: Sequence[PairTargets]) -> np.ndarray:
    """Number of pairs per class."""
    return np.bincount(np.concatenate([p.y for p in targets]) if targets else np.zeros(0, np.int64), minlength=3)


def class_weights(counts: np.ndarray, power: float = 1.0) -> np.ndarray:
    """``w_c = (N / (3 N_c))^power`` (classes without pairs get weight 0)."""
    counts = np.asarray(counts, np.float64)
    w = np.where(counts > 0, counts.sum() / (3 * np.maximum(counts, 1)), 0.0) ** power
    return np.where(counts > 0, w, 0.0)


def weighted_cross_entropy(logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``L = sum_k w_{y_k} (-log softmax(z_k)_{y_k}) / sum_k w_{y_k}``."""
    import torch.nn.functional as F

    return F.cross_entropy(logits, y, weight=weights)


def window_tracking(gt: Tracking, start: int, stop: int) -> Tracking:
    """The tracking restricted to frames ``start .. stop-1`` (renumbered from 0): tracks clipped to the
    window, parents outside it dropped."""
    masks = np.asarray(gt.masks[start:stop])
    rows = []
    lin = gt.lineage
    kept = set()
    for r in lin.itertuples():
        b, e = max(int(r.begin), start), min(int(r.end), stop - 1)
        if b <= e:
            kept.add(int(r.label))
            rows.append([int(r.label), b - start, e - start, int(r.parent)])
    for row in rows:
        if row[3] not in kept:
            row[3] = 0
    return Tracking(masks=masks, lineage=make_lineage(rows) if rows else make_lineage(np.zeros((0, 4), np.int64)))


def gt_links(gt: Tracking) -> np.ndarray:
    """Links ``(t0, l0, t1, l1)`` of a GT tracking: consecutive frames of a track, and parent end ->
    child begin."""
    out = []
    for r in gt.lineage.itertuples():
        out += [(t, int(r.label), t + 1, int(r.label)) for t in range(int(r.begin), int(r.end))]
    end = dict(zip(gt.lineage["label"].tolist(), gt.lineage["end"].tolist()))
    for r in gt.lineage.itertuples():
        if r.parent:
            out.append((int(end[int(r.parent)]), int(r.parent), int(r.begin), int(r.label)))
    return np.array(sorted(out), np.int64).reshape(-1, 4)


class GroundTruthScorer:
    """A pair scorer (see :class:`~celltrace.methods.caliban.link_infer.PairScorer`) that reads the
    answer off the ground truth: the objects are the GT cells themselves (``labels[t]`` = GT labels of
    the nodes of frame ``t``, in node order). The last history node ``(t0, a)`` and candidate
    ``(t1, b)`` get probability ``confidence`` for

    * same: ``a = b``, or ``b`` continues ``a`` as its only child (``parent(b) = a``, ``a`` has one
      child, ``begin(b) = t1``) — CTC semantics make a single child a continuation;
    * parent–child: ``t1 = t0 + 1``, ``parent(b) = a``, ``begin(b) = t1``, ``a`` has several children;
    * different: otherwise,

    and ``(1 - confidence) / 2`` for the two other classes. Linking with it must reproduce the GT
    lineage: it tests the inference logic independently of a trained model.
    """

    def __init__(self, labels: Sequence[np.ndarray], lineage: object, confidence: float = 0.98):
        self.frame = np.concatenate([np.full(len(lab), t, np.int64) for t, lab in enumerate(labels)])
        self.label = np.concatenate([np.asarray(lab, np.int64) for lab in labels])
        info = lineage_arrays(lineage)
        self.parent = {k: v[2] for k, v in info.items()}
        self.begin = {k: v[0] for k, v in info.items()}
        n_children: dict[int, int] = {}
        for p in self.parent.values():
            if p:
                n_children[p] = n_children.get(p, 0) + 1
        self.n_children = n_children
        self.confidence = float(confidence)

    def __call__(self, history: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        last = np.asarray(history)[:, -1]
        t0, a = self.frame[last], self.label[last]
        t1, b = self.frame[candidates], self.label[candidates]
        par = np.array([self.parent.get(int(x), 0) for x in b], np.int64)
        beg = np.array([self.begin.get(int(x), -1) for x in b], np.int64)
        nch = np.array([self.n_children.get(int(x), 0) for x in a], np.int64)
        child = (par == a) & (beg == t1) & (a != b)
        cls = np.full(len(candidates), DIFFERENT, np.int64)
        cls[(a == b) | (child & (nch == 1))] = SAME
        cls[child & (nch > 1) & (t1 == t0 + 1)] = PARENT_CHILD
        p = np.full((len(candidates), 3), (1 - self.confidence) / 2)
        p[np.arange(len(candidates)), cls] = self.confidence
        return p
