"""Segmentation module at inference: box prompts (+ memory) in, mask proposals with object tokens out.

Every segmenter BoxTrack can use (our compact network, SAM2 through its adapter) answers the same
two calls, so the tracking module does not know which one runs:

* ``propose(image, boxes, memories, t) -> list[Proposals]``: for each box (``(x0, y0, x1, y1)``,
  pixel edges) and its track's memory entries, ``K`` mask proposals on the frame, their object
  tokens and objectness probabilities;
* ``memory_entry(proposals, k) -> tokens``: what the memory bank stores when proposal ``k`` is kept
  (``memory_entries`` does it for several at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from celltrace.methods.boxtrack.memory import MemoryEntry
from celltrace.methods.boxtrack.model import PromptableSegmenter
from celltrace.methods.boxtrack.targets import normalise
from celltrace.methods.boxtrack.window import boxes_in_windows, crop_windows, paste_window, prompt_windows


@dataclass
class Proposals:
    """``K`` proposals of one prompt: ``probs (K, h, w)`` mask probabilities on the frame region
    starting at ``origin = (row0, col0)``; ``tokens (K, d)`` object tokens; ``objectness (K,)``
    probabilities; ``state``: what the segmenter needs to build a memory entry."""

    origin: tuple[int, int]
    probs: np.ndarray
    tokens: np.ndarray
    objectness: np.ndarray
    state: Any = None

    def mask(self, k: int, threshold: float = 0.5) -> tuple[int, int, np.ndarray]:
        """Proposal ``k`` as a boolean crop ``(row0, col0, mask)``."""
        return self.origin[0], self.origin[1], self.probs[k] > threshold


class Segmenter(Protocol):
    def propose(self, image: np.ndarray, boxes: np.ndarray, memories: Sequence[Sequence[MemoryEntry]],
                t: int) -> list[Proposals]: ...

    def memory_entry(self, proposals: Proposals, k: int) -> Any: ...

    def memory_entries(self, chosen: Sequence[tuple[Proposals, int]]) -> list[Any]: ...


class CompactSegmenter:
    """Our promptable segmenter (:class:`PromptableSegmenter`) behind the :class:`Segmenter` calls."""

    def __init__(self, model: PromptableSegmenter, device: str = "cpu", batch: int = 64):
        self.model = model
        self.config = model.config
        self.device = device
        self.batch = batch
        self._frame: tuple[int, torch.Tensor] | None = None

    def _prepared(self, image: np.ndarray) -> torch.Tensor:
        key = id(image)
        if self._frame is None or self._frame[0] != key:
            self._frame = (key, torch.from_numpy(normalise(image)).to(self.device))
        return self._frame[1]

    @torch.no_grad()
    def propose(self, image: np.ndarray, boxes: np.ndarray, memories: Sequence[Sequence[MemoryEntry]],
                t: int) -> list[Proposals]:
        c = self.config
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return []
        frame = self._prepared(image)
        windows = prompt_windows(boxes, c.context, c.min_window)
        corners = torch.from_numpy(boxes_in_windows(boxes, windows)).float().to(self.device)
        crops = crop_windows(frame, windows, c.window)
        out: list[Proposals] = []
        for s in range(0, len(boxes), self.batch):
            sl = slice(s, s + self.batch)
            mems = list(memories[sl])
            e = max((len(m) for m in mems), default=0)
            memory = ages = valid = None
            if e:
                n = len(mems)
                first = next(m[0].tokens for m in mems if m)
                memory = first.new_zeros((n, e, *first.shape))
                ages = torch.ones(n, e, device=self.device)
                valid = torch.zeros(n, e, dtype=torch.bool, device=self.device)
                for i, m in enumerate(mems):
                    for j, entry in enumerate(m):
                        memory[i, j] = entry.tokens
                        ages[i, j] = max(1, t - entry.frame)
                        valid[i, j] = True
            res = self.model(crops[sl], corners[sl], memory=memory, ages=ages, valid=valid)
            probs = torch.sigmoid(res["masks"])
            objectness = torch.sigmoid(res["objectness"]).cpu().numpy()
            tokens = res["tokens"].cpu().numpy()
            for i in range(len(mems)):
                win = windows[s + i]
                pasted = [paste_window(probs[i, k], win, tuple(frame.shape)) for k in range(probs.shape[1])]
                (rows, cols) = pasted[0][0]
                state = (res["features"][i], probs[i], res["tokens"][i])
                out.append(Proposals((rows.start, cols.start), np.stack([p for _, p in pasted]), tokens[i],
                                     objectness[i], state))
        return out

    def memory_entry(self, proposals: Proposals, k: int) -> torch.Tensor:
        return self.memory_entries([(proposals, k)])[0]

    @torch.no_grad()
    def memory_entries(self, chosen: Sequence[tuple[Proposals, int]]) -> list[torch.Tensor]:
        """Memory entries of several kept proposals, encoded in one batch."""
        if not chosen:
            return []
        feats = torch.stack([p.state[0] for p, _ in chosen])
        probs = torch.stack([p.state[1][k] for p, k in chosen])[:, None]
        tokens = torch.stack([p.state[2][k] for p, k in chosen])
        return list(self.model.encode_memory(feats, probs, tokens))


__all__ = ["Proposals", "Segmenter", "CompactSegmenter"]
