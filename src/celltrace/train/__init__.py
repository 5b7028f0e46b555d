"""Shared training machinery for the learned methods: one seeded, resumable loop
(:func:`fit`), CTC training data and splits, geometric augmentations.

Method-specific entry points (``train_caliban_segmentation``…) live with their method;
:data:`TRAINERS` maps a method name to the function the ``celltrace train METHOD`` command calls.
"""

from celltrace.train.augment import apply_transform, augment, draw_transform
from celltrace.train.data import CTCSequence, FrameSample, find_sequences, frame_refs, open_sequence, split_frames
from celltrace.train.loop import History, fit, load_checkpoint, save_checkpoint, seed_everything

from celltrace.methods.trainers import TRAINERS, trainer  # re-exported; the registry is torch-free


__all__ = ["fit", "History", "save_checkpoint", "load_checkpoint", "seed_everything", "augment", "draw_transform",
           "apply_transform", "CTCSequence", "FrameSample", "find_sequences", "open_sequence", "split_frames",
           "frame_refs", "TRAINERS", "trainer"]
