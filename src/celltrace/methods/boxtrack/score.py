"""The memory-aware mask selection score of BoxTrack (paper Eq. 5–8).

For the proposals ``k`` of one track at frame ``t``:

* affinity   ``s_a = cos(z_t^k, z_{t−1})`` — the proposal's object token against the token kept
  for the track at its last frame (Eq. 5);
* motion     ``s_m = IoU(M_t^k, M̃_t)`` — the proposal's mask against the track's previous mask
  moved by the Kalman filter's predicted displacement (Eq. 6, motion-compensated);
* objectness ``s_o = σ(MLP(z_t^k))`` (Eq. 7);
* ``s = λa s_a + λm s_m + λo s_o`` with ``λa + λm + λo = 1`` (Eq. 8).

A term that does not exist yet (no previous token or mask: the first frame of a track) is left out
and the remaining weights are rescaled to sum 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Crop = tuple[int, int, np.ndarray]
"""A mask on part of the frame: ``(row0, col0, boolean array)``."""


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``cos(a_k, b)`` for the rows ``a_k`` of ``a`` (0 where a vector is zero)."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.asarray(b, dtype=np.float64).ravel()
    na = np.linalg.norm(a, axis=1) * np.linalg.norm(b)
    return np.where(na > 0, a @ b / np.where(na > 0, na, 1.0), 0.0)


def crop_iou(a: Crop, b: Crop) -> float:
    """IoU of two masks given on parts of the frame (1 when both are empty)."""
    ya, xa, ma = a
    yb, xb, mb = b
    na, nb = int(ma.sum()), int(mb.sum())
    if na + nb == 0:
        return 1.0
    y0, x0 = max(ya, yb), max(xa, xb)
    y1, x1 = min(ya + ma.shape[0], yb + mb.shape[0]), min(xa + ma.shape[1], xb + mb.shape[1])
    inter = 0
    if y1 > y0 and x1 > x0:
        inter = int((ma[y0 - ya:y1 - ya, x0 - xa:x1 - xa] & mb[y0 - yb:y1 - yb, x0 - xb:x1 - xb]).sum())
    return inter / (na + nb - inter)


def shift_crop(mask: Crop, dy: float, dx: float) -> Crop:
    """A mask moved by ``(dy, dx)`` pixels (rounded)."""
    y, x, m = mask
    return int(round(y + dy)), int(round(x + dx)), m


def proposal_scores(tokens: np.ndarray, objectness: np.ndarray, masks: Sequence[Crop],
                    previous_token: np.ndarray | None, predicted_mask: Crop | None,
                    lambdas: tuple[float, float, float]) -> dict[str, np.ndarray]:
    """Scores of ``K`` proposals: ``tokens (K, d)``, ``objectness (K,)`` probabilities, ``masks``
    (K crops). Returns ``affinity``, ``motion``, ``objectness`` and ``score`` (each ``(K,)``; a
    missing term is NaN and does not count)."""
    la, lm, lo = lambdas
    k = len(objectness)
    obj = np.asarray(objectness, dtype=np.float64)
    aff = cosine(tokens, previous_token) if previous_token is not None else np.full(k, np.nan)
    mot = np.array([crop_iou(m, predicted_mask) for m in masks]) if predicted_mask is not None else np.full(k, np.nan)
    weights = np.array([la if previous_token is not None else 0.0, lm if predicted_mask is not None else 0.0, lo])
    if weights.sum() <= 0:
        weights = np.array([0.0, 0.0, 1.0])
    weights = weights / weights.sum()
    score = weights[0] * np.nan_to_num(aff) + weights[1] * np.nan_to_num(mot) + weights[2] * obj
    return {"affinity": aff, "motion": mot, "objectness": obj, "score": score}


__all__ = ["proposal_scores", "cosine", "crop_iou", "shift_crop", "Crop"]
