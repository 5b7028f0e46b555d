"""The BoxTrack tracker (paper §3.2, with the paper's future work: new cells and divisions).

Per frame ``t``:

1. every live track's Kalman filter predicts its box ``b̃_t`` (Eq. 4) — the prompt of ``t``;
2. the segmenter returns ``K`` proposals per prompt, conditioned on the track's memory bank;
3. each proposal is scored (:mod:`~celltrace.methods.boxtrack.score`, Eq. 5–8) and the best kept;
   a track whose best score or objectness is too low, or whose mask is empty, ends at ``t − 1``;
4. masks are painted in increasing score (a pixel claimed by two tracks goes to the higher score);
5. **divisions**: a track's painted mask that falls into two parts, each at least
   ``daughter_fraction`` of it, ends and the two parts start daughter tracks (parent = the track);
   so does a track whose mask and previous mask (moved by the prediction) hold two detector objects
   — each mostly inside, unclaimed by other tracks and at least that fraction of the mask — the
   two objects being the daughters;
6. **new cells**: objects of the default detector with less than ``new_cell_overlap`` of their
   pixels under tracked masks start new tracks (also in the first frame, beside the user's boxes);
   without any boxes, the first frame's detections are the prompts. A track lost in step 3 whose
   predicted mask overlaps such an object (IoU ≥ ``revive_iou``) continues with it instead;
7. the kept box updates the Kalman filter; the kept proposal enters the memory bank when its score
   is at least ``memory_threshold`` (the bank evicts by ``memory_policy``).

User boxes (``boxes``: a CSV/JSON file, a label image of the first frame, or a table) prompt at
their frame; a box's ``id`` becomes the track's label when the ids are unique positive integers.
The score of every kept mask goes to ``meta['scores'][(frame, label)]`` (the MOT score column).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from celltrace.errors import CelltraceError
from celltrace.frames import Frames, FrameStore
from celltrace.io.boxes import load_boxes
from celltrace.linking.kalman import BoxKalmanFilter
from celltrace.methods.base import LearnedTracker, register
from celltrace.methods.boxtrack.config import BoxTrackConfig
from celltrace.methods.boxtrack.memory import MemoryBank
from celltrace.methods.boxtrack.score import crop_iou, proposal_scores, shift_crop
from celltrace.methods.boxtrack.window import mask_box
from celltrace.movie import Movie
from celltrace.tracking import Tracking

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "boxtrack.pt"


@dataclass
class Track:
    """A live track: label, Kalman filter, memory bank, last token and mask."""

    label: int
    begin: int
    parent: int
    kalman: BoxKalmanFilter
    memory: MemoryBank
    token: np.ndarray | None = None
    mask: tuple[int, int, np.ndarray] | None = None
    box: np.ndarray | None = None
    history: list[float] = field(default_factory=list)


def _crop_of(labels: np.ndarray, label: int, where: tuple[slice, slice] | None = None
             ) -> tuple[int, int, np.ndarray] | None:
    """The pixels of ``label`` (looked for only in the window ``where`` when given) as a crop
    ``(row0, col0, mask)``; ``None`` when absent."""
    rows, cols = where if where is not None else (slice(0, labels.shape[0]), slice(0, labels.shape[1]))
    r0, c0 = rows.start or 0, cols.start or 0
    m = labels[rows, cols] == label
    box = mask_box(m)
    if box is None:
        return None
    x0, y0, x1, y1 = (int(v) for v in box)
    return r0 + y0, c0 + x0, m[y0:y1, x0:x1]


@register
class BoxTrackTracker(LearnedTracker):
    """Track cells from one box per cell (BoxTrack): a promptable segmenter follows each box,
    a Kalman filter predicts the next prompt, a score picks among mask proposals.

    ``boxes``: the prompts (a ``frame,x0,y0,x1,y1[,id]`` CSV or JSON file, a label image of the
    first frame, or a table with those columns); none: the default detector's first-frame cells.
    ``weights``: the segmenter's weights (default: the shipped ones). ``sam2_checkpoint`` and
    ``sam2_config``: use SAM2 (the ``sam2`` package) as the segmenter instead. Other parameters
    override :class:`BoxTrackConfig` fields (``lambda_a``, ``memory_policy``, …).
    """

    name = "boxtrack"
    default_weights = DEFAULT_WEIGHTS
    description = "BoxTrack: one box per cell in the first frame → promptable segmentation + Kalman prompts + memory"
    config_classes = (BoxTrackConfig,)
    options = {"boxes": "box prompts: CSV/JSON (frame,x0,y0,x1,y1[,id]) or a label image of the first frame",
               "weights": "segmenter weights file (default: the shipped weights/boxtrack.pt)",
               "device": "torch device: cpu, cuda, cuda:N (the CLI's --device; auto there)",
               "sam2_checkpoint": "SAM2 weights on disk: use SAM2 as the segmenter (needs the sam2 extra)",
               "sam2_config": "SAM2 model config name or file, with sam2_checkpoint"}

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", boxes: Any = None,
                 sam2_checkpoint: str | Path | None = None, sam2_config: str | None = None,
                 segmenter: Any = None, **params: Any):
        super().__init__(weights, device, **params)
        self.boxes = boxes
        self.sam2_checkpoint = sam2_checkpoint
        self.sam2_config = sam2_config
        if (sam2_checkpoint is None) != (sam2_config is None):
            raise CelltraceError("boxtrack: sam2_checkpoint and sam2_config go together (give both or neither)")
        self._segmenter = segmenter

    def weights_files(self) -> list[Path]:
        if self.sam2_checkpoint is not None:
            return [Path(self.sam2_checkpoint)]
        return super().weights_files()

    @property
    def segmenter(self) -> Any:
        """The segmentation module: SAM2 when its checkpoint is given, else our compact network."""
        if self._segmenter is None:
            if self.sam2_checkpoint is not None:
                from celltrace.methods.boxtrack.sam2_adapter import SAM2Segmenter

                self._segmenter = SAM2Segmenter.from_files(self.sam2_config, self.sam2_checkpoint, device=self.device)
            else:
                from celltrace.methods.boxtrack.infer import CompactSegmenter

                self._segmenter = CompactSegmenter(self.model, self.device)
                self.config = BoxTrackConfig.from_params(**{**self.model.config.as_dict(), **self.params})
        return self._segmenter

    # ------------------------------------------------------------------ prompts
    def prompts(self, movie: Movie) -> pd.DataFrame:
        """The user's boxes as a table (frame, x0, y0, x1, y1, id); empty when none were given."""
        if self.boxes is None:
            return pd.DataFrame(columns=["frame", "x0", "y0", "x1", "y1", "id"])
        table = load_boxes(self.boxes, frame_shape=movie.frame_shape)
        bad = table[(table["frame"] < 0) | (table["frame"] >= len(movie))]
        if len(bad):
            raise CelltraceError(f"boxes: frame {int(bad['frame'].iloc[0])} is outside the movie (0..{len(movie) - 1})")
        return table

    # ------------------------------------------------------------------ tracking
    def track(self, movie: Movie, masks: Frames | None = None, progress: bool = True) -> Tracking:
        """Track every prompted (and, with ``detect_new``, every detected) cell of ``movie``."""
        from tqdm.auto import tqdm

        from celltrace.methods.classic.tracker import ClassicTracker

        if masks is not None:
            raise CelltraceError("boxtrack segments from its box prompts; it has no linking-only mode (--masks)")
        if not isinstance(movie, Movie):
            movie = Movie(frames=movie)
        segmenter = self.segmenter  # loads the network (fails before any work without weights)
        c = self.config
        lambdas = c.lambdas()
        prompts = self.prompts(movie)
        detector = ClassicTracker()
        need_detector = c.detect_new or not len(prompts)
        radius = detector.estimate_radius(movie) if need_detector else 0.0
        T = len(movie)
        H, W = movie.frame_shape
        store = FrameStore((H, W), np.uint32, prefix="celltrace-boxtrack-")
        rows: list[tuple[int, int, int, int]] = []
        scores: dict[tuple[int, int], float] = {}
        ids = prompts["id"].dropna() if "id" in prompts else pd.Series([], dtype=float)
        use_ids = len(ids) == len(prompts) and len(prompts) > 0 and ids.is_unique and (ids > 0).all() \
            and (ids == ids.round()).all()
        next_label = int(ids.max()) + 1 if use_ids else 1
        live: list[Track] = []
        timing = {"segmenter_s": 0.0, "detector_s": 0.0, "tracking_s": 0.0}
        t_start = time.perf_counter()

        def new_track(label: int | None, t: int, box: np.ndarray, parent: int = 0) -> Track:
            nonlocal next_label
            if label is None:
                label, next_label = next_label, next_label + 1
            kf = BoxKalmanFilter(box, std_position=c.std_position, std_velocity=c.std_velocity)
            return Track(int(label), t, parent, kf, MemoryBank(c.memory_size, c.memory_policy), box=box)

        def finish(track: Track, end: int) -> None:
            if end >= track.begin:
                rows.append((track.label, track.begin, end, track.parent))

        for t in tqdm(range(T), desc="boxtrack", unit="frame", disable=not progress):
            image = np.asarray(movie[t])
            t0 = time.perf_counter()
            # 1-3: prompts → proposals → scores
            starting = [new_track(int(r.id) if use_ids else None, t, np.array([r.x0, r.y0, r.x1, r.y1], float))
                        for r in prompts[prompts["frame"] == t].itertuples()]
            candidates = live + starting
            boxes = np.array([tr.kalman.predict() if tr.begin < t else tr.box for tr in candidates]).reshape(-1, 4)
            proposals = segmenter.propose(image, boxes, [tr.memory.entries for tr in candidates], t)
            t1 = time.perf_counter()
            chosen: list[tuple[Track, Any, int, float]] = []
            lost: list[Track] = []
            predicted_of: dict[int, tuple[int, int, np.ndarray]] = {}
            for tr, props, pbox in zip(candidates, proposals, boxes):
                masks_k = [props.mask(k, c.mask_threshold) for k in range(len(props.objectness))]
                predicted = None
                if tr.mask is not None and tr.box is not None:
                    dx = (pbox[0] + pbox[2] - tr.box[0] - tr.box[2]) / 2
                    dy = (pbox[1] + pbox[3] - tr.box[1] - tr.box[3]) / 2
                    predicted = predicted_of[tr.label] = shift_crop(tr.mask, dy, dx)
                s = proposal_scores(props.tokens, props.objectness, masks_k, tr.token, predicted, lambdas)
                k = int(np.argmax(s["score"]))
                ok = s["score"][k] >= c.min_score and s["objectness"][k] >= c.min_objectness \
                    and masks_k[k][2].sum() >= c.min_area
                if ok or tr.begin == t and tr in starting and masks_k[k][2].sum() >= c.min_area:
                    chosen.append((tr, props, k, float(s["score"][k])))
                elif tr in live:
                    lost.append(tr)  # ends at t − 1 unless a detection revives it (step 6)
            # 4: paint, higher scores last
            labels = np.zeros((H, W), np.uint32)
            for tr, props, k, score in sorted(chosen, key=lambda x: x[3]):
                y0, x0, m = props.mask(k, c.mask_threshold)
                region = labels[y0:y0 + m.shape[0], x0:x0 + m.shape[1]]
                region[m[:region.shape[0], :region.shape[1]]] = tr.label
            detections = det_area = None
            if need_detector and (c.detect_new or t == 0):
                td = time.perf_counter()
                detections = detector.segment(image, radius, dtype=np.uint32)
                det_area = np.bincount(detections.ravel())
                timing["detector_s"] += time.perf_counter() - td
            # 5: divisions
            kept: list[Track] = []
            remember: list[tuple[Track, Any, int, float]] = []
            for tr, props, k, score in chosen:
                py0, px0, pm = props.mask(k, c.mask_threshold)  # the track painted only here
                crop = _crop_of(labels, tr.label, (slice(py0, py0 + pm.shape[0]), slice(px0, px0 + pm.shape[1])))
                if crop is None or crop[2].sum() < c.min_area:
                    if crop is not None:
                        labels[labels == tr.label] = 0
                    if tr in live:
                        finish(tr, t - 1)
                    continue
                parts = self._daughters(labels, tr.label, crop, predicted_of.get(tr.label), detections, det_area)
                if parts is not None and tr.begin < t:
                    finish(tr, t - 1)
                    labels[labels == tr.label] = 0  # small fragments beside the two parts go too
                    kids = []
                    for part in parts:
                        kid = new_track(None, t, mask_box(part))
                        kid.parent = tr.label
                        labels[part] = kid.label
                        kids.append(kid)
                    self._start(kids, labels, image, t, segmenter, scores, kept)
                    continue
                tr.mask = crop
                tr.token = props.tokens[k]
                box = mask_box(crop[2], (crop[0], crop[1]))
                tr.box = tr.kalman.update(box) if tr.begin < t else box
                if tr.begin == t:
                    tr.kalman = BoxKalmanFilter(box, std_position=c.std_position, std_velocity=c.std_velocity)
                    tr.box = box
                if score >= c.memory_threshold or len(tr.memory) == 0:
                    remember.append((tr, props, k, score))
                scores[(t, tr.label)] = score
                kept.append(tr)
            for (tr, _, _, score), entry in zip(remember, segmenter.memory_entries([(p, k) for _, p, k, _ in remember])):
                tr.memory.add(entry, t, score)
            # 6: new cells from the detector (and, without boxes, the first frame's cells)
            if detections is not None and (c.detect_new or not len(prompts)):
                covered = labels > 0
                ids_d = np.unique(detections[detections > 0])
                if ids_d.size:
                    area = ndi.sum_labels(np.ones_like(detections), detections, ids_d)
                    under = ndi.sum_labels(covered, detections, ids_d)
                    fresh = []
                    for lab, a, u in zip(ids_d, area, under):
                        if u < c.new_cell_overlap * a and a - u >= c.min_area:
                            part = (detections == lab) & ~covered
                            box = mask_box(part)
                            crop = _crop_of(part, True)
                            revive = max(((crop_iou(crop, predicted_of[tr.label]), tr) for tr in lost
                                          if tr.label in predicted_of), key=lambda x: x[0], default=(0.0, None))
                            if revive[1] is not None and revive[0] >= c.revive_iou:
                                kid = revive[1]  # the lost track continues with the detection
                                lost.remove(kid)
                                kid.box = kid.kalman.update(box)
                            else:
                                kid = new_track(None, t, box)
                            labels[part] = kid.label
                            fresh.append(kid)
                    self._start(fresh, labels, image, t, segmenter, scores, kept)
            for tr in lost:
                finish(tr, t - 1)
            live = kept
            store.append(labels)
            timing["segmenter_s"] += t1 - t0
            timing["tracking_s"] += time.perf_counter() - t1
        for tr in live:
            finish(tr, T - 1)
        # keep only labels that appear (a track that started and vanished in one frame leaves no row)
        lineage = pd.DataFrame(rows, columns=["label", "begin", "end", "parent"]).sort_values("label")
        present = set(lineage["label"])
        lineage.loc[~lineage["parent"].isin(present), "parent"] = 0
        tracking = Tracking(store.frames(), lineage.reset_index(drop=True))
        timing["total_s"] = time.perf_counter() - t_start
        timing["segmentation_s"] = timing["segmenter_s"] + timing["detector_s"]
        tracking.meta.update({"method": self.name, "scores": scores, "timing": timing,
                              "weights": str(self.sam2_checkpoint or self.weights or DEFAULT_WEIGHTS),
                              "segmenter": "sam2" if self.sam2_checkpoint else "compact",
                              "n_prompts": int(len(prompts))})
        return tracking

    def _daughters(self, labels: np.ndarray, label: int, crop: tuple[int, int, np.ndarray],
                   predicted: tuple[int, int, np.ndarray] | None, detections: np.ndarray | None,
                   det_area: np.ndarray | None = None) -> list[np.ndarray] | None:
        """Two full-frame masks when the track's mask divides (module docstring, step 5), else None.
        ``predicted``: the track's previous mask moved by the Kalman prediction; ``det_area[d]``:
        the pixel count of detector object ``d``."""
        c = self.config
        y0, x0, m = crop
        total = m.sum()
        parts, n = ndi.label(m)
        if n >= 2:
            sizes = ndi.sum_labels(m, parts, np.arange(1, n + 1))
            order = np.argsort(sizes)[::-1]
            if sizes[order[1]] >= c.daughter_fraction * total:
                out = []
                for i in order[:2]:
                    full = np.zeros(labels.shape, bool)
                    full[y0:y0 + m.shape[0], x0:x0 + m.shape[1]] = parts == i + 1
                    out.append(full)
                return out
        if detections is not None:
            # the region the cell may cover now: its mask and its previous mask moved by the
            # prediction, looked at in a window around both (objects are measured by det_area)
            H, W = labels.shape
            spans = [(y0, x0, m)] + ([predicted] if predicted is not None else [])
            margin = max(m.shape)
            wy0 = max(0, min(sy for sy, _, _ in spans) - margin)
            wx0 = max(0, min(sx for _, sx, _ in spans) - margin)
            wy1 = min(H, max(sy + sm.shape[0] for sy, _, sm in spans) + margin)
            wx1 = min(W, max(sx + sm.shape[1] for _, sx, sm in spans) + margin)
            det = detections[wy0:wy1, wx0:wx1]
            lab = labels[wy0:wy1, wx0:wx1]
            region = np.zeros(det.shape, bool)
            for sy, sx, sm in spans:
                ry0, rx0 = max(sy, wy0), max(sx, wx0)
                ry1, rx1 = min(sy + sm.shape[0], wy1), min(sx + sm.shape[1], wx1)
                if ry1 > ry0 and rx1 > rx0:
                    region[ry0 - wy0:ry1 - wy0, rx0 - wx0:rx1 - wx0] |= sm[ry0 - sy:ry1 - sy, rx0 - sx:rx1 - sx]
            ids, counts = np.unique(det[region & (det > 0)], return_counts=True)
            inside = []
            for d, n_in in zip(ids, counts):
                area = det_area[d]
                free = (det == d) & ((lab == 0) | (lab == label))  # not claimed by another track
                if n_in >= 0.5 * area and free.sum() >= c.daughter_fraction * total and free.sum() >= 0.5 * area:
                    inside.append(free)
            if len(inside) == 2 and not (inside[0] & inside[1]).any():
                out = []
                for free in inside:
                    full = np.zeros(labels.shape, bool)
                    full[wy0:wy1, wx0:wx1] = free
                    out.append(full)
                return out
        return None

    def _start(self, tracks: list[Track], labels: np.ndarray, image: np.ndarray, t: int, segmenter: Any,
               scores: dict[tuple[int, int], float], kept: list[Track]) -> None:
        """Give tracks started at ``t`` from a mask (daughters, detections) their object token and
        first memory entry: the segmenter is prompted with the mask's box, the best proposal kept."""
        if not tracks:
            return
        boxes = np.array([tr.box for tr in tracks])
        started = []
        for tr, props in zip(tracks, segmenter.propose(image, boxes, [[] for _ in tracks], t)):
            k = int(np.argmax(props.objectness))
            tr.mask = _crop_of(labels, tr.label)
            if tr.mask is None:
                continue
            tr.token = props.tokens[k]
            scores[(t, tr.label)] = float(props.objectness[k])
            kept.append(tr)
            started.append((tr, props, k))
        for (tr, props, k), entry in zip(started, segmenter.memory_entries([(p, k) for _, p, k in started])):
            tr.memory.add(entry, t, float(props.objectness[k]))


find_weights = BoxTrackTracker.find_weights
"""The weights file: ``path`` if given, else the package's ``weights/boxtrack.pt`` (missing: one error line)."""

__all__ = ["BoxTrackTracker", "find_weights", "DEFAULT_WEIGHTS", "WEIGHTS_DIR"]
