"""Shared training machinery for the learned methods: one seeded, resumable loop
(:func:`fit`), CTC training data and splits, geometric augmentations.

Method-specific entry points (``train_caliban_segmentation``…) live with their method;
:data:`TRAINERS` maps a method name to the function the ``celltrace train METHOD`` command calls.
"""

from celltrace.train.augment import apply_transform, augment, draw_transform
from celltrace.train.data import CTCSequence, FrameSample, find_sequences, frame_refs, open_sequence, split_frames
from celltrace.train.loop import History, fit, load_checkpoint, save_checkpoint, seed_everything

# method name -> "module:function" called as function(data_dirs, out, **options) -> weights path
TRAINERS: dict[str, str] = {
    "caliban": "celltrace.methods.caliban.seg_train:train_caliban",
    "caliban-linking": "celltrace.methods.caliban.link_train:train_caliban_linking",
    "embedtrack": "celltrace.methods.embedtrack.train:train_embedtrack",
    "boxtrack": "celltrace.methods.boxtrack.train:train_boxtrack",
    "cap": "celltrace.methods.cap.train:train_cap",
    "distnet2d": "celltrace.methods.distnet2d.train:train_distnet2d",
}


def trainer(method: str):
    """The training entry point registered for ``method`` (imported on first use)."""
    import importlib

    from celltrace.errors import CelltraceError

    if method not in TRAINERS:
        raise CelltraceError(f"no training entry point for method {method!r}; trainable: {', '.join(sorted(TRAINERS))}")
    module, func = TRAINERS[method].split(":")
    return getattr(importlib.import_module(module), func)


__all__ = ["fit", "History", "save_checkpoint", "load_checkpoint", "seed_everything", "augment", "draw_transform",
           "apply_transform", "CTCSequence", "FrameSample", "find_sequences", "open_sequence", "split_frames",
           "frame_refs", "TRAINERS", "trainer"]
