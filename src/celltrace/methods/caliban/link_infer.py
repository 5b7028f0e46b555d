"""Caliban linking inference (paper §3.5.1): learned pair probabilities → LAP links with divisions and
gap closing, on the shared :mod:`celltrace.linking` machinery.

1. The neighbourhood encoder embeds every cell of every frame (frames in batches: its graphs are per
   frame, so this is the parallel part).
2. Frame by frame, for the cells ``i`` of ``t`` (with the history of the tracks built so far) and the
   candidates ``j`` of ``t+1`` within ``gate = gate_factor * r``, the tracking model gives
   ``p = (p_same, p_diff, p_parent-child)``. The frame-pair LAP (:class:`~celltrace.linking.LAPLinker`
   with :class:`~celltrace.linking.GatedCost`) uses ``C_ij = -log p_same`` and shadow costs
   ``d_i = b_j = -1/2 log p_link`` — a link is taken only if ``p_same > p_link`` (and it wins the
   competition with the other links).
3. Divisions (:class:`~celltrace.linking.DivisionDetector` with a learned cost): a new cell ``a`` of
   ``t+1`` beside a mother ``m`` of ``t``. If ``m`` continues into ``b`` the cost is
   ``-log p_pc(m, a)``; if ``m`` ended and ``a, b`` are both new it is
   ``max(-log p_pc(m, a), -log p_pc(m, b))``. A division is accepted for ``cost <= -log p_div``
   (``p_div`` = 0.9, the paper's threshold); the mother's track ends, the daughters start new ones.
4. Gap closing (:class:`~celltrace.linking.GapCloser`): a track end ``e`` and a later start ``s``
   (up to ``max_gap`` missing frames) cost ``-log p_same(history(e), s)``, with end/start costs
   ``-1/2 log p_gap``.

The output are links ``(t0, label0, t1, label1)`` for :meth:`celltrace.Tracking.from_links` (CTC
semantics). Any pair scorer with the interface of :class:`ModelScorer` plugs in (e.g. the ground
truth scorer of :mod:`.link_targets`, which tests this logic independently of a trained model).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from celltrace.frames import Frames, as_frames
from celltrace.linking import DivisionDetector, GapCloser, GatedCost, LAPLinker
from celltrace.methods.caliban.link_features import (REFERENCE_RADIUS, FrameFeatures, estimate_radius, frame_features,
                                                     scaled_neighbor_distance)
from celltrace.methods.caliban.link_targets import PARENT_CHILD, SAME
from celltrace.methods.caliban.linking_model import CalibanLinkModel, graph_batch
from celltrace.methods.config import AT_LEAST_ONE, FRACTION, POSITIVE, MethodConfig
from celltrace.tracking import Tracking


@dataclass
class LinkingConfig(MethodConfig):
    """Caliban linking parameters (lengths as factors of the cell radius ``r``)."""

    method = "Caliban linking"
    # values allowed where not "finite and ≥ 0" (checked by MethodConfig.from_params)
    limits = {"crop_size": AT_LEAST_ONE, "crop_factor": POSITIVE, "reference_radius": POSITIVE,
              "history": AT_LEAST_ONE, "gate_factor": POSITIVE, "link_probability": FRACTION,
              "division_probability": FRACTION, "division_distance_factor": POSITIVE, "gap_probability": FRACTION,
              "batch_frames": AT_LEAST_ONE, "eps": POSITIVE}

    crop_size: int = 16
    """Appearance crop side (paper: 16 px)."""
    crop_factor: float = 2.0
    """The crop samples a window of side ``crop_factor * r`` (16 px at the paper's scale)."""
    reference_radius: float = REFERENCE_RADIUS
    """Nucleus radius (px) at the paper's 0.65 µm/px: the 64 px neighbourhood becomes ``64 r / reference_radius``."""
    history: int = 7
    """Frames of track history given to the LSTM (paper: 7)."""
    gate_factor: float = 4.0
    """Candidates of frame ``t+1`` within ``gate_factor * r`` of a cell of ``t`` are scored."""
    link_probability: float = 0.5
    """Shadow costs ``-1/2 log p_link`` each: a link needs ``p_same > link_probability``."""
    division_probability: float = 0.9
    """Divisions need ``p_parent-child > division_probability`` (paper: 0.9)."""
    division_distance_factor: float = 3.0
    """Largest mother–daughter centroid distance, ``factor * r``."""
    max_gap: int = 2
    """Close gaps of up to ``max_gap`` missing frames (0: off)."""
    gap_distance_factor: float = 3.0
    """Gap-closing gate, ``factor * r``."""
    gap_probability: float = 0.5
    """Gap closing needs ``p_same > gap_probability``."""
    batch_frames: int = 16
    """Frames embedded per encoder batch."""
    eps: float = 1e-6
    """``-log(p + eps)``."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PairScorer(Protocol):
    """``scorer(history (P, H) global node indices, right-aligned, -1 = none; candidates (P,)) ->
    (P, 3) probabilities (same, different, parent–child)``. Nodes are numbered frame by frame."""

    def __call__(self, history: np.ndarray, candidates: np.ndarray) -> np.ndarray: ...


@dataclass
class MovieEmbedding:
    """Per-frame object tables and every node's embedding / centroid / area (nodes frame by frame)."""

    tables: list[pd.DataFrame]
    z: torch.Tensor           # (N, d)
    centroids: torch.Tensor   # (N, 2)
    area: torch.Tensor        # (N,)
    radius: float


@torch.no_grad()
def embed_frames(model: CalibanLinkModel, features: Sequence[FrameFeatures], radius: float,
                 neighbor_distance: float) -> torch.Tensor:
    """Neighbourhood embeddings of all cells of ``features`` (one disjoint graph)."""
    dev = next(model.parameters()).device
    if sum(len(f) for f in features) == 0:
        return torch.zeros((0, model.config.embed_dim), device=dev)
    return model.embed(graph_batch(list(features), radius, neighbor_distance, device=dev))


@torch.no_grad()
def embed_movie(model: CalibanLinkModel, movie: Frames, segmentation: Frames, config: LinkingConfig | None = None,
                radius: float | None = None, progress: bool = False) -> MovieEmbedding:
    """Features and embeddings of every frame, ``batch_frames`` frames at a time (only the
    embeddings and the geometry are kept, not the crops)."""
    from tqdm.auto import tqdm

    cfg = config or LinkingConfig()
    movie, segmentation = as_frames(movie), as_frames(segmentation)
    r = estimate_radius(segmentation) if radius is None else float(radius)
    D = scaled_neighbor_distance(r, cfg.reference_radius)
    model.eval()
    tables, zs, cen, area = [], [], [], []
    T = len(segmentation)
    for s in tqdm(range(0, T, cfg.batch_frames), desc="caliban: embedding", unit="batch", disable=not progress):
        feats = [frame_features(np.asarray(movie[t]), np.asarray(segmentation[t]), r, cfg.crop_size,
                                cfg.crop_factor, D) for t in range(s, min(T, s + cfg.batch_frames))]
        zs.append(embed_frames(model, feats, r, D).cpu())
        for f in feats:
            tables.append(f.table())
            cen.append(f.centroids)
            area.append(f.morphology[:, 0])
    return MovieEmbedding(tables=tables, z=torch.cat(zs) if zs else torch.zeros((0, model.config.embed_dim)),
                          centroids=torch.as_tensor(np.concatenate(cen) if cen else np.zeros((0, 2)), dtype=torch.float32),
                          area=torch.as_tensor(np.concatenate(area) if area else np.zeros(0), dtype=torch.float32),
                          radius=r)


class ModelScorer:
    """:class:`PairScorer` of a trained model over precomputed embeddings: ``softmax`` of the
    tracking model's logits, ``chunk`` pairs at a time."""

    def __init__(self, model: CalibanLinkModel, emb: MovieEmbedding, chunk: int = 8192):
        self.model, self.emb, self.chunk = model, emb, chunk
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def __call__(self, history: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        self.model.eval()
        out = np.zeros((len(candidates), 3))
        if len(candidates) == 0:
            return out
        z, c, a = (x.to(self.device) for x in (self.emb.z, self.emb.centroids, self.emb.area))
        rad = torch.full((z.shape[0],), self.emb.radius, dtype=torch.float32, device=self.device)
        for s in range(0, len(candidates), self.chunk):
            h = torch.as_tensor(history[s:s + self.chunk], dtype=torch.long, device=self.device)
            k = torch.as_tensor(candidates[s:s + self.chunk], dtype=torch.long, device=self.device)
            logits = self.model.head(z, c, a, rad, h, k)
            out[s:s + self.chunk] = torch.softmax(logits.double(), 1).cpu().numpy()
        return out


class CalibanLinker:
    """Frame-by-frame linking with a pair scorer that sees each cell's track history (module
    docstring). ``link(tables)`` has the interface of :meth:`celltrace.linking.LAPLinker.link`."""

    def __init__(self, scorer: PairScorer, radius: float, config: LinkingConfig | None = None):
        self.scorer, self.radius = scorer, float(radius)
        self.config = config or LinkingConfig()

    def _histories(self, pred: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """``(len(nodes), H)``: each node's track so far (following ``pred``), right-aligned."""
        H = self.config.history
        out = np.full((len(nodes), H), -1, np.int64)
        cur = np.asarray(nodes, np.int64).copy()
        for k in range(H - 1, -1, -1):
            ok = cur >= 0
            out[ok, k] = cur[ok]
            cur = np.where(ok, pred[np.maximum(cur, 0)], -1)
        return out

    def _probs(self, pred: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if len(a) == 0:
            return np.zeros((0, 3))
        return np.asarray(self.scorer(self._histories(pred, a), np.asarray(b, np.int64)), np.float64)

    def link(self, objects: Sequence[pd.DataFrame], progress: bool = False) -> np.ndarray:
        """Links ``(t0, label0, t1, label1)`` between the objects of the per-frame tables (nodes are
        numbered frame by frame in table order, as the scorer expects)."""
        from tqdm.auto import tqdm

        cfg, r, eps = self.config, self.radius, self.config.eps
        T = len(objects)
        off = np.concatenate([[0], np.cumsum([len(o) for o in objects])]).astype(np.int64)
        pred = np.full(int(off[-1]), -1, np.int64)  # continuation predecessor of each node
        labels = [o["label"].to_numpy(np.int64) for o in objects]
        shadow = -0.5 * math.log(cfg.link_probability)
        out: list[np.ndarray] = []
        for t in tqdm(range(T - 1), desc="caliban: linking", unit="frame", disable=not progress):
            o0, o1 = objects[t], objects[t + 1]

            def same_cost(_t: int, _a: pd.DataFrame, _b: pd.DataFrame, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
                p = self._probs(pred, off[t] + rows, off[t + 1] + cols)
                return -np.log(p[:, SAME] + eps)

            lap = LAPLinker(cost=GatedCost(same_cost, cfg.gate_factor * r), birth_cost=shadow, death_cost=shadow)
            fl = lap.link_pair(t, o0, o1)
            succ = np.full(len(o0), -1, np.int64)
            succ[fl.rows] = fl.cols

            def division_cost(_t: int, _a: pd.DataFrame, _b: pd.DataFrame, mothers: np.ndarray, daughters: np.ndarray,
                              siblings: np.ndarray) -> np.ndarray:
                pa = self._probs(pred, off[t] + mothers, off[t + 1] + daughters)[:, PARENT_CHILD]
                pb = self._probs(pred, off[t] + mothers, off[t + 1] + siblings)[:, PARENT_CHILD]
                ca, cb = -np.log(pa + eps), -np.log(pb + eps)
                return np.where(succ[mothers] == siblings, ca, np.maximum(ca, cb))

            det = DivisionDetector(max_distance=cfg.division_distance_factor * r,
                                   max_cost=-math.log(cfg.division_probability), cost=division_cost)
            mothers, daughters = det(t, o0, o1, fl.rows, fl.cols)
            cont = ~np.isin(fl.rows, mothers)
            pred[off[t + 1] + fl.cols[cont]] = off[t] + fl.rows[cont]
            rows, cols = np.concatenate([fl.rows, mothers]), np.concatenate([fl.cols, daughters])
            out.append(np.stack([np.full(rows.size, t), labels[t][rows], np.full(rows.size, t + 1), labels[t + 1][cols]], 1))
        links = np.concatenate(out).astype(np.int64) if out else np.zeros((0, 4), np.int64)
        if cfg.max_gap > 0 and T > 2:
            index = [dict(zip(lab.tolist(), range(lab.size))) for lab in labels]

            def node(ts: np.ndarray, labs: np.ndarray) -> np.ndarray:
                return np.array([off[t] + index[t][lab] for t, lab in zip(ts.tolist(), labs.tolist())], np.int64)

            def gap_cost(ends: pd.DataFrame, starts: pd.DataFrame, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
                e = node(ends["t"].to_numpy(np.int64)[rows], ends["label"].to_numpy(np.int64)[rows])
                s = node(starts["t"].to_numpy(np.int64)[cols], starts["label"].to_numpy(np.int64)[cols])
                return -np.log(self._probs(pred, e, s)[:, SAME] + eps)

            closer = GapCloser(max_gap=cfg.max_gap, max_distance=cfg.gap_distance_factor * r, cost=gap_cost,
                               alternative=-0.5 * math.log(cfg.gap_probability))
            extra = closer(objects, links)
            if len(extra):
                links = np.concatenate([links, extra]).astype(np.int64)
        return links


def link_with_model(movie: Frames, segmentation: Frames, model: CalibanLinkModel, config: LinkingConfig | None = None,
                    radius: float | None = None, progress: bool = False) -> tuple[np.ndarray, MovieEmbedding]:
    """Links ``(t0, label0, t1, label1)`` of the objects of ``segmentation`` (labels local to each
    frame) scored by ``model``; also returns the embeddings (its ``tables`` give the labels per frame)."""
    cfg = config or LinkingConfig()
    emb = embed_movie(model, movie, segmentation, cfg, radius, progress)
    links = CalibanLinker(ModelScorer(model, emb), emb.radius, cfg).link(emb.tables, progress=progress)
    return links, emb


def track_with_model(movie: Frames, segmentation: Frames, model: CalibanLinkModel, config: LinkingConfig | None = None,
                     radius: float | None = None, progress: bool = False) -> Tracking:
    """:func:`link_with_model` + :meth:`Tracking.from_links`; timings and counts in ``meta``."""
    t0 = time.perf_counter()
    links, emb = link_with_model(movie, segmentation, model, config, radius, progress)
    t1 = time.perf_counter()
    tracking = Tracking.from_links(as_frames(segmentation), links,
                                   labels_per_frame=[tab["label"].to_numpy(np.int64) for tab in emb.tables])
    tracking.meta.update({"cell_radius": emb.radius, "n_links": int(len(links)),
                          "n_objects": int(sum(len(tab) for tab in emb.tables)),
                          "timing": {"linking_s": t1 - t0, "tracks_s": time.perf_counter() - t1}})
    return tracking


__all__ = ["LinkingConfig", "PairScorer", "MovieEmbedding", "embed_frames", "embed_movie", "ModelScorer",
           "CalibanLinker", "link_with_model", "track_with_model"]
