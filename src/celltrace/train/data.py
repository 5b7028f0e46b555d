"""Training data from Cell Tracking Challenge folders: frame-level samples and train/validation splits.

A *sequence* is a raw-frame folder ``…/<dataset>/NN`` with its ground truth ``NN_GT`` beside it:
``TRA/man_trackTTT.tif`` (a marker for **every** cell of every frame) and ``SEG/man_segTTT.tif``
(full segmentations, for **some** frames, and a SEG frame may annotate only some of its cells).
A sample is one frame: raw image, TRA markers, SEG labels (or ``None``). Whether a dataset's
markers *are* segmentations (simulated data: SIM+ markers equal its SEG masks) is detected from
the frames that have both (:func:`markers_are_masks`).

Splits are over frames of a sequence (:func:`split_frames`): a contiguous tail block (default; the
validation frames are then later in time than all training frames, the honest choice for
temporally correlated frames) or every k-th frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from celltrace.errors import InputError
from celltrace.frames import spread
from celltrace.io.ctc import GT_MASK, SEG_MASK
from celltrace.io.names import numbered_files
from celltrace.io.tiff import read_frame
from celltrace.shifts import fraction_slice

RAW_FRAME = re.compile(r"^t(\d{3,4})\.tiff?$")
SEQUENCE_DIR = re.compile(r"^\d{2}$")


def _numbered(folder: Path, pattern: re.Pattern[str]) -> dict[int, Path]:
    """Frame number → file of ``folder`` (:func:`~celltrace.io.names.numbered_files`); ``{}`` if no folder."""
    return dict(numbered_files(folder, pattern)) if folder.is_dir() else {}


@dataclass
class FrameSample:
    """One frame: ``image`` (raw), ``markers`` (TRA labels), ``seg`` (SEG labels or ``None``)."""

    image: np.ndarray
    markers: np.ndarray
    seg: np.ndarray | None
    t: int
    sequence: str
    markers_are_masks: bool = False


@dataclass
class CTCSequence:
    """A CTC training sequence: raw frames + TRA markers (+ SEG where annotated), read on demand."""

    name: str
    raw_dir: Path
    gt_dir: Path
    raw_files: dict[int, Path]
    tra_files: dict[int, Path]
    seg_files: dict[int, Path]
    x_range: tuple[float, float] | None = None
    """Only this part of the field of view, as fractions of the width ``[x0, x1)`` (a spatial
    hold-out: train on one part of the field, score on the rest); ``None``: all of it."""
    _markers_are_masks: bool | None = field(default=None, repr=False)

    @property
    def frames(self) -> list[int]:
        """Frame indices that have both a raw frame and TRA markers."""
        return sorted(set(self.raw_files) & set(self.tra_files))

    def __len__(self) -> int:
        return len(self.frames)

    def _window(self, a: np.ndarray) -> np.ndarray:
        if self.x_range is None:
            return a
        return np.ascontiguousarray(a[..., fraction_slice(a.shape[-1], *self.x_range)])

    def image(self, t: int) -> np.ndarray:
        return self._window(read_frame(self.raw_files[t]))

    def markers(self, t: int) -> np.ndarray:
        return self._window(read_frame(self.tra_files[t]))

    def seg(self, t: int) -> np.ndarray | None:
        return self._window(read_frame(self.seg_files[t])) if t in self.seg_files else None

    @property
    def markers_are_masks(self) -> bool:
        if self._markers_are_masks is None:
            self._markers_are_masks = markers_are_masks(self)
        return self._markers_are_masks

    def sample(self, t: int) -> FrameSample:
        return FrameSample(self.image(t), self.markers(t), self.seg(t), t, self.name, self.markers_are_masks)


def markers_are_masks(seq: CTCSequence, n_check: int = 3, agreement: float = 0.995) -> bool:
    """True when the TRA markers are full segmentations: on up to ``n_check`` frames with SEG, the
    foregrounds agree on ≥ ``agreement`` of the pixels and every SEG object contains a marker."""
    both = [t for t in sorted(seq.seg_files) if t in seq.tra_files]
    if not both:
        return False
    picks = [both[i] for i in spread(len(both), n_check)]
    for t in picks:
        seg, tra = seq.seg(t), seq.markers(t)
        if np.mean((seg > 0) == (tra > 0)) < agreement:
            return False
        if np.unique(seg[seg > 0]).size != np.unique(tra[(seg > 0) & (tra > 0)]).size:
            return False
    return True


def open_sequence(raw_dir: str | Path, gt_dir: str | Path | None = None) -> CTCSequence:
    """A sequence from its raw folder (``…/02``) and GT folder (default: ``…/02_GT`` beside it)."""
    raw_dir = Path(raw_dir)
    gt = Path(gt_dir) if gt_dir is not None else raw_dir.parent / f"{raw_dir.name}_GT"
    if not raw_dir.is_dir():
        raise InputError(raw_dir, "no such folder")
    if not gt.is_dir():
        raise InputError(gt, "ground-truth folder not found (expected NN_GT beside the sequence NN)")
    raw = _numbered(raw_dir, RAW_FRAME)
    tra = _numbered(gt / "TRA", GT_MASK)
    seg = _numbered(gt / "SEG", SEG_MASK)
    if not raw:
        raise InputError(raw_dir, "no raw frames tNNN.tif")
    if not tra:
        raise InputError(gt / "TRA", "no TRA markers man_trackNNN.tif")
    return CTCSequence(f"{raw_dir.parent.name}/{raw_dir.name}", raw_dir, gt, raw, tra, seg)


def parse_x_range(region: str | Sequence[float] | None) -> tuple[float, float] | None:
    """``"0:0.6"`` (or ``(0, 0.6)``) → ``(0.0, 0.6)``: a part of the field's width; ``None`` → ``None``."""
    if region is None:
        return None
    try:
        a, b = (float(v) for v in (region.split(":") if isinstance(region, str) else region))
    except (ValueError, TypeError):
        raise ValueError(f"region must be 'X0:X1' (fractions of the width), got {region!r}") from None
    if not 0.0 <= a < b <= 1.0:
        raise ValueError(f"region {region!r}: need 0 <= X0 < X1 <= 1")
    return a, b


def find_sequences(paths: Iterable[str | Path], sequences: Sequence[str] | None = None,
                   region: str | Sequence[float] | None = None) -> list[CTCSequence]:
    """Training sequences from dataset folders (``<dataset>`` holding ``NN`` + ``NN_GT``; all its
    sequences with GT, or only those named in ``sequences``) or sequence folders (``…/NN``);
    ``region`` (``"X0:X1"``) keeps only that part of each field of view (:attr:`CTCSequence.x_range`)."""
    x_range = parse_x_range(region)
    out = _find_sequences(paths, sequences)
    for seq in out:
        seq.x_range = x_range
    return out


def _find_sequences(paths: Iterable[str | Path], sequences: Sequence[str] | None) -> list[CTCSequence]:
    out: list[CTCSequence] = []
    for p in map(Path, paths):
        if not p.exists():
            raise InputError(p, "no such folder")
        if _numbered(p, RAW_FRAME):
            out.append(open_sequence(p))
            continue
        found = [d for d in sorted(p.iterdir()) if d.is_dir() and SEQUENCE_DIR.match(d.name)
                 and (p / f"{d.name}_GT").is_dir() and (sequences is None or d.name in sequences)]
        if not found:
            raise InputError(p, "no CTC sequence with ground truth (expected NN/ and NN_GT/ inside)")
        out.extend(open_sequence(d) for d in found)
    return out


def split_frames(frames: Sequence[int], mode: str = "tail", fraction: float = 0.2,
                 every: int = 5) -> tuple[list[int], list[int]]:
    """Split frame indices into (train, validation).

    * ``tail``: the last ``ceil(fraction·n)`` frames validate, the rest train;
    * ``every``: every ``every``-th frame (starting with the ``every-1``-th) validates;
    * ``none``: everything trains.
    """
    frames = sorted(frames)
    n = len(frames)
    if mode == "none" or n == 0:
        return frames, []
    if mode == "tail":
        k = int(np.ceil(fraction * n)) if fraction > 0 else 0
        k = min(k, n - 1)
        return frames[:n - k], frames[n - k:]
    if mode == "every":
        if every < 2:
            raise ValueError("every must be >= 2")
        val = frames[every - 1::every]
        return [t for t in frames if t not in set(val)], val
    raise ValueError(f"unknown split mode {mode!r} (tail, every, none)")


@dataclass
class FrameRef:
    """A frame of a sequence: ``sequences[seq][t]``."""

    seq: int
    t: int


def frame_refs(sequences: Sequence[CTCSequence], split: str = "train", mode: str = "tail", fraction: float = 0.2,
               every: int = 5, require_seg: bool = False) -> list[FrameRef]:
    """The frames of ``split`` ('train', 'val' or 'all') of every sequence (only SEG frames with ``require_seg``)."""
    refs = []
    for i, seq in enumerate(sequences):
        train, val = split_frames(seq.frames, mode, fraction, every)
        chosen = {"train": train, "val": val, "all": seq.frames}[split]
        refs += [FrameRef(i, t) for t in chosen if not require_seg or t in seq.seg_files]
    return refs


def estimated_radius(seq: CTCSequence, frames: int = 3) -> float:
    """The typical cell radius (pixels) of a training sequence as the default method estimates it on a
    movie (on ``frames`` frames spread over the sequence): networks that resample every movie to
    one cell size must see their training data through the same estimate as at inference."""
    from celltrace.methods.classic import ClassicTracker
    from celltrace.movie import Movie

    picks = [seq.frames[i] for i in spread(len(seq.frames), frames)]
    return ClassicTracker().estimate_radius(Movie(frames=np.stack([seq.image(t) for t in picks])))


def training_frames(data_dirs: Iterable[str | Path], config: Any, region: str | None = None,
                    require_seg_val: bool = False) -> tuple[list[CTCSequence], list[FrameRef], list[FrameRef]]:
    """``(sequences, train_refs, val_refs)`` of a training run: the sequences of ``data_dirs``
    (``region`` ``"X0:X1"`` keeps that part of each field) and their train / validation frames by
    ``config.split`` and ``config.val_fraction`` (validation only on SEG frames with ``require_seg_val``)."""
    sequences = find_sequences(data_dirs, region=region)
    return (sequences, frame_refs(sequences, "train", config.split, config.val_fraction),
            frame_refs(sequences, "val", config.split, config.val_fraction, require_seg=require_seg_val))


__all__ = ["FrameSample", "CTCSequence", "open_sequence", "find_sequences", "parse_x_range", "split_frames", "markers_are_masks",
           "FrameRef", "frame_refs", "training_frames"]
