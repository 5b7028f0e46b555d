"""A constant-velocity Kalman filter on a bounding box (the motion model of SORT, ByteTrack,
SAMURAI and BoxTrack, Eq. 4).

State ``x = (cx, cy, w, h, vx, vy, vw, vh)`` (box centre, size and their velocities per frame),
measurement ``z = (cx, cy, w, h)``. With ``F = [[I, I], [0, I]]`` and ``H = [I, 0]``:

* predict: ``x ← F x``, ``P ← F P Fᵀ + Q``;
* update:  ``S = H P Hᵀ + R``, ``K = P Hᵀ S⁻¹``, ``x ← x + K (z − H x)``, ``P ← (I − K H) P``.

The noise scales with the box (as in SORT/ByteTrack): the standard deviations are
``σ_pos · s`` for positions and sizes and ``σ_vel · s`` for velocities, ``s = max(w, h)``, so the
same settings serve small and large cells. Boxes come in and go out as ``(x0, y0, x1, y1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)


def box_to_measurement(box: Sequence[float]) -> np.ndarray:
    """``(x0, y0, x1, y1)`` → ``(cx, cy, w, h)``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0])


def measurement_to_box(z: Sequence[float]) -> np.ndarray:
    """``(cx, cy, w, h)`` → ``(x0, y0, x1, y1)`` (sizes clipped at 1 pixel)."""
    cx, cy, w, h = (float(v) for v in z[:4])
    w, h = max(w, 1.0), max(h, 1.0)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


class BoxKalmanFilter:
    """Constant-velocity Kalman filter on one box (module docstring).

    ``std_position`` (σ_pos) and ``std_velocity`` (σ_vel) are fractions of the box's larger side
    (SORT/ByteTrack: 1/20 and 1/160); ``std_measurement`` is the measurement noise, same unit.
    """

    def __init__(self, box: Sequence[float], std_position: float = 1 / 20, std_velocity: float = 1 / 160,
                 std_measurement: float = 1 / 20):
        self.std_position = std_position
        self.std_velocity = std_velocity
        self.std_measurement = std_measurement
        z = box_to_measurement(box)
        self.x = np.concatenate([z, np.zeros(4)])
        s = max(z[2], z[3], 1.0)
        std = np.r_[np.full(4, 2 * std_position * s), np.full(4, 10 * std_velocity * s)]
        self.P = np.diag(std ** 2)

    def _scale(self) -> float:
        return float(max(self.x[2], self.x[3], 1.0))

    def predict(self) -> np.ndarray:
        """Advance one frame; returns the predicted box ``(x0, y0, x1, y1)``."""
        s = self._scale()
        q = np.r_[np.full(4, self.std_position * s), np.full(4, self.std_velocity * s)] ** 2
        self.x = _F @ self.x
        self.P = _F @ self.P @ _F.T + np.diag(q)
        return self.box

    def update(self, box: Sequence[float]) -> np.ndarray:
        """Correct with a measured box; returns the filtered box."""
        z = box_to_measurement(box)
        r = (self.std_measurement * self._scale()) ** 2
        S = _H @ self.P @ _H.T + np.eye(4) * r
        K = np.linalg.solve(S, _H @ self.P).T  # P Hᵀ S⁻¹ (S, P symmetric)
        self.x = self.x + K @ (z - _H @ self.x)
        self.P = (np.eye(8) - K @ _H) @ self.P
        return self.box

    @property
    def box(self) -> np.ndarray:
        """The current box estimate ``(x0, y0, x1, y1)``."""
        return measurement_to_box(self.x[:4])

    @property
    def velocity(self) -> np.ndarray:
        """Estimated ``(vx, vy)`` of the box centre, pixels per frame."""
        return self.x[4:6].copy()


__all__ = ["BoxKalmanFilter", "box_to_measurement", "measurement_to_box"]
