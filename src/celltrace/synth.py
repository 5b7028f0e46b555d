"""Synthetic 2D+time fluorescence movies of nuclei, with their ground-truth :class:`Tracking`.

Model
-----
*Simulation* (all cells at once, vectorised per frame, driven by ``numpy.random.default_rng(seed)``).
Each live cell is an ellipse with centre ``(y, x)``, equivalent-disc radius ``r = r0 · s``
(``r0`` drawn from ``radius``, ``s`` a growth factor ≤ 1), aspect ratio ``q`` (``elongation``),
semi-axes ``a = r √q ≥ b = r / √q``, orientation ``θ`` and brightness ``β``. From frame t to t+1:

* each cell dies with probability ``p_death`` (its track ends at t, no children), or divides with
  probability ``p_div`` (``death_rate`` and ``division_rate`` unless ``balance`` adjusts them, below) (the mother ends at t; two daughters begin at t+1 at
  ``c ± g a_k (cos φ, sin φ)`` for a random axis φ and ``g ~ U(division_gap)``, each with
  ``s_d = s / √2`` — half the mother's area — and major axis ``a_k`` along φ, so their centres lie
  ``g (a_1 + a_2)`` apart; each then moves on away from her sister by ``division_push · a_k`` in
  total, 40 % of what remains each frame, so the pair ends ``(g + division_push) (a_1 + a_2)``
  apart), or moves:
  ``c ← c + drift + motion_sigma · N(0, I)``, ``θ ← θ + N(0, 0.1²)``, ``s ← s + growth · (1 − s)``.
  The defaults follow the 44 annotated divisions of Fluo-N2DH-SIM+ 02: sisters' centre distance
  over the sum of their equivalent radii has median 1.15 (quartiles 0.99–1.38) in their first frame
  and 1.36 four frames later (``benchmarks/results/synth-divisions/``);
* cells repel: every pair closer than ``spacing · (r_i + r_j)`` is pushed apart by
  ``repulsion · overlap / 2`` each (one step per frame);
* a track ends when its centre pixel ``⌊c + ½⌋`` leaves the image (leaving the field of view);
* new cells enter at the border, a Poisson number per frame with mean
  ``entry_rate · n_cells`` (sides weighted by their inflow ``length · (0.4 σ + max(0, inward drift))``);
* with ``balance`` the expected count is aimed at ``n_cells``: with the wanted net growth per cell
  ``g = n_cells (1 − entry_rate) / N − 1``, ``p_death = clip(division_rate − g, death_rate, 1 − division_rate)``
  and ``p_div = clip(p_death + g, 0, division_rate)`` (divisions keep their rate unless deaths alone
  cannot remove the surplus; in a full field deaths about match divisions), and the entry mean gains
  ``0.3 · max(0, n_cells − N')`` (N' = count after deaths, divisions and exits);
* no two cells share a centre pixel (duplicates are nudged by one pixel), so every cell keeps at
  least its centre pixel in the masks and the ground truth obeys the CTC rules.

All rates are per cell per frame. The state is kept as a compact table (``float32``/``int32``;
32 bytes per cell per frame), returned as ``tracking.points``.

*Rendering* (lazy: frame t is computed when asked for, from the table and an RNG seeded by
``(seed, t)``, so it is the same whatever the access order). Each cell is evaluated only in its
bounding box; a pixel belongs to the cell with the smallest normalised ellipse distance
``d² = (u/a)² + (v/b)²`` among those with ``d² < 1`` (its own centre pixel always to the cell itself).
The fluorescence of a pixel of cell i is ``β_i (0.7 + 0.3 (1 − d²)) (1 + texture_i(u, v)) e^{−bleach_rate · t}``
(brighter interior, a cell-attached texture of three plane waves 60° apart), blurred by a Gaussian of
``blur_sigma``, plus ``background``, plus noise of variance ``I / photons + noise_sigma²`` (shot noise
in the Gaussian approximation and read noise); intensities are fractions of ``full_scale``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from celltrace.frames import LazyFrames
from celltrace.movie import Movie
from celltrace.tracking import Tracking, label_dtype, make_lineage

POINT_COLUMNS = ["frame", "label", "y", "x", "semi_major", "semi_minor", "angle", "brightness"]
_FLOAT_COLUMNS = POINT_COLUMNS[2:]
_DEFAULT_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 4095.0, np.dtype(np.float32): 1.0}


@dataclass(frozen=True)
class SynthConfig:
    """Every setting of a synthetic movie (see the module docstring for the model).

    Lengths are in pixels (``drift`` is ``(dy, dx)`` per frame, ``radius`` the range of the
    equivalent-disc radius ``√(ab)``, ``elongation`` of the aspect ratio ``a/b``), rates per cell per frame, intensities fractions of ``full_scale``
    (default 255 for uint8, 4095 — a 12-bit camera — for uint16, 1.0 for float32).
    """

    n_frames: int = 30
    shape: tuple[int, int] = (256, 256)
    n_cells: int = 20
    seed: int = 0
    radius: tuple[float, float] = (6.0, 10.0)
    elongation: tuple[float, float] = (1.0, 1.5)
    motion_sigma: float = 2.0
    drift: tuple[float, float] = (0.0, 0.0)
    division_rate: float = 0.02
    division_gap: tuple[float, float] = (0.85, 1.25)
    division_push: float = 0.2
    death_rate: float = 0.002
    entry_rate: float = 0.005
    balance: bool = True
    growth: float = 0.05
    repulsion: float = 0.5
    spacing: float = 1.0
    intensity: tuple[float, float] = (0.35, 0.6)
    background: float = 0.08
    texture: float = 0.25
    blur_sigma: float = 1.0
    noise_sigma: float = 0.02
    photons: float | None = 2000.0
    bleach_rate: float = 0.002
    dtype: Any = np.uint16
    full_scale: float | None = None

    def __post_init__(self) -> None:
        dt = np.dtype(self.dtype)
        if dt not in _DEFAULT_FULL_SCALE:
            raise ValueError(f"dtype must be uint8, uint16 or float32, not {dt}")
        object.__setattr__(self, "dtype", dt)
        object.__setattr__(self, "shape", (int(self.shape[0]), int(self.shape[1])))
        H, W = self.shape
        if self.n_frames < 1 or H < 1 or W < 1:
            raise ValueError(f"need at least one frame of at least 1×1 pixels, got {self.n_frames} × {self.shape}")
        if self.n_cells < 0 or self.n_cells > H * W // 4:
            raise ValueError(f"n_cells={self.n_cells} must be between 0 and a quarter of the pixels ({H * W // 4})")
        if not 0 < self.radius[0] <= self.radius[1]:
            raise ValueError(f"radius range {self.radius} must satisfy 0 < low <= high")
        if not 1.0 <= self.elongation[0] <= self.elongation[1]:
            raise ValueError(f"elongation range {self.elongation} must satisfy 1 <= low <= high")
        if not 0 < self.division_gap[0] <= self.division_gap[1]:
            raise ValueError(f"division_gap range {self.division_gap} must satisfy 0 < low <= high")
        for name in ("division_rate", "death_rate", "entry_rate", "growth"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}={v} must lie in [0, 1]")
        if self.division_rate + self.death_rate > 1.0:
            raise ValueError("division_rate + death_rate must not exceed 1")
        for name in ("motion_sigma", "division_push", "repulsion", "spacing", "blur_sigma", "noise_sigma", "bleach_rate", "texture"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    @property
    def scale(self) -> float:
        """Output value of intensity 1.0."""
        return float(self.full_scale) if self.full_scale is not None else _DEFAULT_FULL_SCALE[self.dtype]


# ---------------------------------------------------------------------------------------- simulation
def _centre_pixel(y32: np.ndarray, x32: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel holding each centre: ``⌊c + ½⌋`` of the stored float32 coordinates (one definition
    shared by simulation and rendering, so both agree bit for bit)."""
    cy = np.floor(np.asarray(y32, dtype=np.float32).astype(np.float64) + 0.5).astype(np.int64)
    cx = np.floor(np.asarray(x32, dtype=np.float32).astype(np.float64) + 0.5).astype(np.int64)
    return cy, cx


def _repel(y: np.ndarray, x: np.ndarray, r: np.ndarray, strength: float, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """One repulsion step: pairs closer than ``spacing (r_i + r_j)`` move apart by ``strength · overlap / 2`` each."""
    n = y.size
    if n < 2 or strength <= 0 or spacing <= 0:
        return y, x
    tree = cKDTree(np.column_stack([y, x]), balanced_tree=False, compact_nodes=False)
    pairs = tree.query_pairs(2.0 * spacing * float(r.max()), output_type="ndarray")
    if pairs.size == 0:
        return y, x
    i, j = pairs[:, 0], pairs[:, 1]
    dy, dx = y[j] - y[i], x[j] - x[i]
    dist = np.hypot(dy, dx)
    overlap = spacing * (r[i] + r[j]) - dist
    keep = overlap > 0
    i, j, dy, dx, dist, overlap = i[keep], j[keep], dy[keep], dx[keep], dist[keep], overlap[keep]
    same = dist < 1e-9  # coincident centres: a fixed direction per pair, deterministic
    if same.any():
        ang = (i[same] * 0.6180339887 + j[same] * 0.4142135624) * 2 * np.pi
        dy[same], dx[same], dist[same] = np.sin(ang), np.cos(ang), 1.0
    push = 0.5 * strength * overlap / dist
    fy = np.bincount(j, weights=push * dy, minlength=n) - np.bincount(i, weights=push * dy, minlength=n)
    fx = np.bincount(j, weights=push * dx, minlength=n) - np.bincount(i, weights=push * dx, minlength=n)
    return y + fy, x + fx


def _dedup(y: np.ndarray, x: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> None:
    """Nudge cells (in place, by one pixel, kept inside) until no two share a centre pixel."""
    H, W = shape
    for _ in range(100):
        cy, cx = _centre_pixel(y.astype(np.float32), x.astype(np.float32))
        key = cy * W + cx
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        dup = first[inv] != np.arange(key.size)
        if not dup.any():
            return
        k = int(dup.sum())
        y[dup] = np.clip(y[dup] + rng.integers(-1, 2, k), 0, H - 1)
        x[dup] = np.clip(x[dup] + rng.integers(-1, 2, k), 0, W - 1)
    raise RuntimeError("could not give every cell its own centre pixel; use fewer cells")


def _border_entries(cfg: SynthConfig, k: int, r: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Centres of ``k`` cells entering through the border, within half a radius of the edge."""
    H, W = cfg.shape
    dy, dx = cfg.drift
    base = 0.4 * cfg.motion_sigma
    # sides: top (inward +y), bottom (−y), left (+x), right (−x)
    w = np.array([W * (base + max(0.0, dy)), W * (base + max(0.0, -dy)),
                  H * (base + max(0.0, dx)), H * (base + max(0.0, -dx))])
    w = w / w.sum() if w.sum() > 0 else np.array([W, W, H, H], float) / (2 * (H + W))
    side = rng.choice(4, size=k, p=w)
    along = rng.uniform(0, 1, k)
    depth = rng.uniform(0, 0.5, k) * r
    y = np.where(side == 0, depth, np.where(side == 1, H - 1 - depth, along * (H - 1)))
    x = np.where(side == 2, depth, np.where(side == 3, W - 1 - depth, along * (W - 1)))
    return np.clip(y, 0, H - 1), np.clip(x, 0, W - 1)


@dataclass
class SimulatedCells:
    """Ground truth without pixels: the per-cell-per-frame table and the CTC lineage.

    ``points`` columns: frame, label (int32), y, x, semi_major, semi_minor, angle (radians, major axis
    from the +x axis towards +y), brightness (float32); rows sorted by frame. ``lineage``: label,
    begin, end, parent.
    """

    points: pd.DataFrame
    lineage: pd.DataFrame
    config: SynthConfig


def simulate_cells(config: SynthConfig) -> SimulatedCells:
    """Run the cell simulation of ``config`` (no rendering): table of states and lineage."""
    cfg = config
    H, W = cfg.shape
    T = cfg.n_frames
    rng = np.random.default_rng(cfg.seed)
    rng_gap = np.random.default_rng([cfg.seed, 0xD171])  # own stream: frames before a division keep their draws
    sqrt2 = math.sqrt(2.0)

    # state of the live cells (float64 while simulating; stored as float32)
    n0 = cfg.n_cells
    y = rng.uniform(0, H - 1, n0)
    x = rng.uniform(0, W - 1, n0)
    r0 = rng.uniform(*cfg.radius, n0)
    s = np.ones(n0)
    q = rng.uniform(*cfg.elongation, n0)
    theta = rng.uniform(0, np.pi, n0)
    bright = rng.uniform(*cfg.intensity, n0)
    for _ in range(30):  # relax the uniform start into a non-overlapping one
        y, x = _repel(y, x, r0, max(cfg.repulsion, 0.5), max(cfg.spacing, 1.0))
        y, x = np.clip(y, 0, H - 1), np.clip(x, 0, W - 1)
    _dedup(y, x, cfg.shape, rng)
    away_y, away_x = np.zeros(n0), np.zeros(n0)  # what remains of each daughter's move away from her sister
    label = np.arange(1, n0 + 1, dtype=np.int64)
    next_label = n0 + 1

    lin_label, lin_begin, lin_parent = [label.copy()], [np.zeros(n0, np.int64)], [np.zeros(n0, np.int64)]
    end_label: list[np.ndarray] = []
    end_frame: list[np.ndarray] = []
    chunks: dict[str, list[np.ndarray]] = {c: [] for c in POINT_COLUMNS}

    for t in range(T):
        n = label.size
        r = r0 * s
        chunks["frame"].append(np.full(n, t, np.int32))
        chunks["label"].append(label.astype(np.int32))
        for name, v in (("y", y), ("x", x), ("semi_major", r * np.sqrt(q)), ("semi_minor", r / np.sqrt(q)),
                        ("angle", theta), ("brightness", bright)):
            chunks[name].append(v.astype(np.float32))
        if t == T - 1:
            end_label.append(label)
            end_frame.append(np.full(n, t, np.int64))
            break

        # fate of each cell: death, division or survival
        p_div, p_death = cfg.division_rate, cfg.death_rate
        if cfg.balance and n > 0:  # aim the expected count at n_cells: more deaths, then fewer divisions
            g = (cfg.n_cells * (1.0 - cfg.entry_rate)) / n - 1.0  # wanted net growth per cell
            p_death = float(np.clip(cfg.division_rate - g, cfg.death_rate, 1.0 - cfg.division_rate))
            p_div = float(np.clip(p_death + g, 0.0, cfg.division_rate))
        u = rng.random(n)
        dies = u < p_death
        divides = ~dies & (u < p_death + p_div)
        stays = ~(dies | divides)

        # survivors: random walk + drift, orientation jitter, growth
        ns = int(stays.sum())
        step_y, step_x = 0.4 * away_y[stays], 0.4 * away_x[stays]
        ys = y[stays] + step_y + cfg.drift[0] + cfg.motion_sigma * rng.standard_normal(ns)
        xs = x[stays] + step_x + cfg.drift[1] + cfg.motion_sigma * rng.standard_normal(ns)
        aways_y, aways_x = away_y[stays] - step_y, away_x[stays] - step_x
        ths = theta[stays] + 0.1 * rng.standard_normal(ns)
        ss = s[stays] + cfg.growth * (1.0 - s[stays])

        # daughters: two per mother, side by side along a random axis, half the area each
        m = np.flatnonzero(divides)
        nm = m.size
        phi = rng.uniform(0, np.pi, nm)
        qd = rng.uniform(*cfg.elongation, (nm, 2))
        sd = np.repeat(s[m] / sqrt2, 2).reshape(nm, 2)
        gap = rng_gap.uniform(*cfg.division_gap, nm)
        ad = (r0[m, None] * sd) * np.sqrt(qd) * np.array([1.0, -1.0])  # signed semi-major axes along φ
        off = gap[:, None] * ad
        yd = (y[m, None] + off * np.sin(phi)[:, None]).ravel()
        xd = (x[m, None] + off * np.cos(phi)[:, None]).ravel()
        awayd_y = (cfg.division_push * ad * np.sin(phi)[:, None]).ravel()
        awayd_x = (cfg.division_push * ad * np.cos(phi)[:, None]).ravel()
        bd = (bright[m, None] * rng.uniform(0.9, 1.1, (nm, 2))).ravel()

        # entries through the border
        lam = cfg.entry_rate * cfg.n_cells
        if cfg.balance:
            lam += 0.3 * max(0, cfg.n_cells - (ns + 2 * nm))
        k = int(rng.poisson(lam))
        r0e = rng.uniform(*cfg.radius, k)
        ye, xe = _border_entries(cfg, k, r0e, rng)

        ny = np.concatenate([ys, yd, ye])
        nx = np.concatenate([xs, xd, xe])
        nr0 = np.concatenate([r0[stays], np.repeat(r0[m], 2), r0e])
        nsz = np.concatenate([ss, sd.ravel(), np.ones(k)])
        nq = np.concatenate([q[stays], qd.ravel(), rng.uniform(*cfg.elongation, k)])
        nth = np.concatenate([ths, np.repeat(phi, 2), rng.uniform(0, np.pi, k)])
        nb = np.concatenate([bright[stays], bd, rng.uniform(*cfg.intensity, k)])
        naway_y = np.concatenate([aways_y, awayd_y, np.zeros(k)])
        naway_x = np.concatenate([aways_x, awayd_x, np.zeros(k)])
        nlabel = np.concatenate([label[stays], np.zeros(2 * nm + k, np.int64)])
        nparent = np.concatenate([np.zeros(ns, np.int64), np.repeat(label[m], 2), np.zeros(k, np.int64)])
        newborn = np.arange(nlabel.size) >= ns

        ny, nx = _repel(ny, nx, nr0 * nsz, cfg.repulsion, cfg.spacing)
        cy, cx = _centre_pixel(ny.astype(np.float32), nx.astype(np.float32))
        gone = ~newborn & ((cy < 0) | (cy >= H) | (cx < 0) | (cx >= W))  # left the field of view
        ended = np.concatenate([label[dies | divides], nlabel[gone]])
        end_label.append(ended)
        end_frame.append(np.full(ended.size, t, np.int64))
        keep = ~gone
        ny, nx, nr0, nsz, nq, nth, nb, naway_y, naway_x = (
            v[keep] for v in (ny, nx, nr0, nsz, nq, nth, nb, naway_y, naway_x))
        nlabel, nparent, newborn = nlabel[keep], nparent[keep], newborn[keep]
        np.clip(ny, 0, H - 1, out=ny)
        np.clip(nx, 0, W - 1, out=nx)
        _dedup(ny, nx, cfg.shape, rng)

        nnew = int(newborn.sum())
        nlabel[newborn] = np.arange(next_label, next_label + nnew)
        next_label += nnew
        lin_label.append(nlabel[newborn])
        lin_begin.append(np.full(nnew, t + 1, np.int64))
        lin_parent.append(nparent[newborn])
        y, x, r0, s, q, theta, bright, label = ny, nx, nr0, nsz, nq, nth, nb, nlabel
        away_y, away_x = naway_y, naway_x

    labels_all = np.concatenate(lin_label)
    end_of = np.full(next_label, -1, np.int64)
    for labs, ts in zip(end_label, end_frame):
        end_of[labs] = ts
    lineage = make_lineage(np.column_stack([labels_all, np.concatenate(lin_begin), end_of[labels_all],
                                            np.concatenate(lin_parent)]))
    columns = {}
    for c in POINT_COLUMNS:  # concatenate one column at a time, freeing its chunks: low peak memory
        columns[c] = np.concatenate(chunks.pop(c)) if T else np.empty(0, np.float32)
    points = pd.DataFrame(columns, copy=False)
    return SimulatedCells(points=points, lineage=lineage, config=cfg)


# ---------------------------------------------------------------------------------------- rendering
_WAVE_A = np.array([0.7548776662, 0.5698402910, 0.4142135624])  # irrational multipliers: label → texture
_WAVE_B = np.array([0.3247179572, 0.6180339887, 0.2360679775])
_WAVE_C = np.array([0.8477075953, 0.1795090463, 0.4655712319])


class _Renderer:
    """Renders frame t of a simulation: label mask and image, only within each cell's bounding box."""

    def __init__(self, sim: SimulatedCells):
        self.cfg = sim.config
        pts = sim.points
        self.label = pts["label"].to_numpy()
        self.cols = {c: pts[c].to_numpy() for c in _FLOAT_COLUMNS}
        frames = pts["frame"].to_numpy()
        self.offsets = np.searchsorted(frames, np.arange(self.cfg.n_frames + 1))
        max_label = int(sim.lineage["label"].max()) if len(sim.lineage) else 0
        self.mask_dtype = label_dtype(max_label)
        self.winners = functools.lru_cache(maxsize=2)(self._winners)

    def _cells(self, t: int) -> dict[str, np.ndarray]:
        a, b = self.offsets[t], self.offsets[t + 1]
        out = {c: v[a:b] for c, v in self.cols.items()}
        out["label"] = self.label[a:b]
        return out

    def _winners(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Foreground pixels (flat indices) and the frame-local index of the cell owning each.

        Owner = argmin over cells of ``d²`` (cells with ``d² < 1`` there); a cell's centre pixel is its own.
        """
        H, W = self.cfg.shape
        c = self._cells(t)
        n = c["label"].size
        if n == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        y, x = c["y"], c["x"]
        cos, sin = np.cos(c["angle"]), np.sin(c["angle"])
        inv_a2, inv_b2 = 1.0 / c["semi_major"] ** 2, 1.0 / c["semi_minor"] ** 2
        cy, cx = _centre_pixel(y, x)
        half = np.ceil(c["semi_major"]).astype(np.int64) + 1
        pix_parts, key_parts = [cy * W + cx], [np.arange(n, dtype=np.int64)]  # centre pixels: priority 0
        cell_bits = max(1, int(n).bit_length())
        for h in np.unique(half):
            idx = np.flatnonzero(half == h)
            off = np.arange(-h, h + 1)
            py = cy[idx, None] + off  # (k, P)
            px = cx[idx, None] + off
            dy = (py - y[idx, None]).astype(np.float32)[:, :, None]  # (k, P, 1)
            dx = (px - x[idx, None]).astype(np.float32)[:, None, :]  # (k, 1, P)
            ci, si = cos[idx, None, None], sin[idx, None, None]
            u = dx * ci + dy * si
            v = dy * ci - dx * si
            d2 = u * u * inv_a2[idx, None, None] + v * v * inv_b2[idx, None, None]
            inside = (d2 < 1.0) & ((py >= 0) & (py < H))[:, :, None] & ((px >= 0) & (px < W))[:, None, :]
            k, i, j = np.nonzero(inside)
            pix_parts.append(py[k, i] * W + px[k, j])
            q = (d2[k, i, j] * 65535.0).astype(np.int64) + 1  # 1..65535: quantised distance, 0 = centre
            key_parts.append((q << cell_bits) | idx[k])
        pix = np.concatenate(pix_parts)
        key = np.concatenate(key_parts)
        best = np.full(H * W, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, pix, key)  # order-free: the same owner whatever the evaluation order
        fg = np.flatnonzero(best != np.iinfo(np.int64).max)
        owner = best[fg] & ((1 << cell_bits) - 1)
        return fg, owner

    def mask(self, t: int) -> np.ndarray:
        H, W = self.cfg.shape
        fg, owner = self.winners(t)
        out = np.zeros(H * W, self.mask_dtype)
        out[fg] = self._cells(t)["label"][owner]
        return out.reshape(H, W)

    def image(self, t: int) -> np.ndarray:
        cfg = self.cfg
        H, W = cfg.shape
        fg, owner = self.winners(t)
        c = self._cells(t)
        img = np.zeros(H * W, np.float32)
        if fg.size:
            y, x, ang = c["y"][owner], c["x"][owner], c["angle"][owner]
            dy = (fg // W - y).astype(np.float32)
            dx = (fg % W - x).astype(np.float32)
            cos, sin = np.cos(ang), np.sin(ang)
            u = dx * cos + dy * sin
            v = dy * cos - dx * sin
            d2 = np.minimum((u / c["semi_major"][owner]) ** 2 + (v / c["semi_minor"][owner]) ** 2, 1.0)
            value = c["brightness"][owner] * (0.7 + 0.3 * (1.0 - d2))
            if cfg.texture > 0:
                lab = c["label"].astype(np.float64)[:, None]
                # three waves 60° apart interfere into spots (chromatin-like), not stripes
                wdir = (np.modf(lab[:, :1] * _WAVE_A[:1])[0] * np.pi + np.arange(3) * (np.pi / 3))
                wdir = wdir.astype(np.float32)[owner]
                wlen = (4.0 + 3.0 * np.modf(lab * _WAVE_B)[0]).astype(np.float32)[owner]  # wavelengths 4–7 px
                wph = (np.modf(lab * _WAVE_C)[0] * 2 * np.pi).astype(np.float32)[owner]  # phases
                tex = np.zeros(fg.size, np.float32)
                for w in range(3):
                    kk = (2 * np.pi) / wlen[:, w]
                    tex += np.cos(kk * (u * np.cos(wdir[:, w]) + v * np.sin(wdir[:, w])) + wph[:, w])
                value = value * (1.0 + (cfg.texture / 3.0) * tex)
            img[fg] = value * np.float32(math.exp(-cfg.bleach_rate * t))
        img = img.reshape(H, W)
        if cfg.blur_sigma > 0:
            ndi.gaussian_filter(img, cfg.blur_sigma, output=img)
        img += np.float32(cfg.background)
        rng = np.random.default_rng([cfg.seed, 0x51A7, t])
        var = np.full_like(img, cfg.noise_sigma ** 2)
        if cfg.photons:
            var += np.maximum(img, 0) / np.float32(cfg.photons)
        if cfg.noise_sigma > 0 or cfg.photons:
            img += np.sqrt(var) * rng.standard_normal((H, W), dtype=np.float32)
        img *= np.float32(cfg.scale)
        if cfg.dtype.kind == "f":
            return img.astype(cfg.dtype, copy=False)
        hi = np.iinfo(cfg.dtype).max
        return np.clip(np.rint(img), 0, hi).astype(cfg.dtype)


def render(sim: SimulatedCells) -> tuple[Movie, Tracking]:
    """Lazy movie and ground-truth tracking of a simulation (frames rendered on access)."""
    cfg = sim.config
    r = _Renderer(sim)
    meta = {"synthetic": asdict(cfg)}
    movie = Movie(frames=LazyFrames(cfg.n_frames, cfg.shape, cfg.dtype, r.image),
                  name=f"synthetic-seed{cfg.seed}", meta=dict(meta))
    tracking = Tracking(masks=LazyFrames(cfg.n_frames, cfg.shape, r.mask_dtype, r.mask),
                        lineage=sim.lineage, points=sim.points, meta=dict(meta))
    return movie, tracking


def synthetic_movie(n_frames: int = 30, shape: tuple[int, int] = (256, 256), n_cells: int = 20, seed: int = 0, *,
                    radius: tuple[float, float] = (6.0, 10.0), elongation: tuple[float, float] = (1.0, 1.5),
                    motion_sigma: float = 2.0, drift: tuple[float, float] = (0.0, 0.0),
                    division_rate: float = 0.02, division_gap: tuple[float, float] = (0.85, 1.25),
                    division_push: float = 0.2, death_rate: float = 0.002, entry_rate: float = 0.005,
                    balance: bool = True, growth: float = 0.05, repulsion: float = 0.5, spacing: float = 1.0,
                    intensity: tuple[float, float] = (0.35, 0.6), background: float = 0.08, texture: float = 0.25,
                    blur_sigma: float = 1.0, noise_sigma: float = 0.02, photons: float | None = 2000.0,
                    bleach_rate: float = 0.002, dtype: Any = np.uint16,
                    full_scale: float | None = None) -> tuple[Movie, Tracking]:
    """A synthetic movie of moving, dividing, dying, entering and leaving nuclei, and its ground truth.

    Parameters are those of :class:`SynthConfig` (model in the module docstring). The cells are
    simulated up front (``tracking.points`` holds one row per cell per frame: frame, label, y, x,
    semi_major, semi_minor, angle, brightness); frames and masks are rendered lazily, deterministically
    for ``seed`` whatever the access order. The ground truth obeys the CTC rules
    (:meth:`Tracking.validate`).

    Returns
    -------
    (Movie, Tracking)
        ``movie[t]`` is a ``dtype`` image; ``tracking.masks[t]`` its label mask (uint16, or uint32 past
        65,535 labels).
    """
    cfg = SynthConfig(n_frames=n_frames, shape=tuple(shape), n_cells=n_cells, seed=seed, radius=tuple(radius),
                      elongation=tuple(elongation), motion_sigma=motion_sigma, drift=tuple(drift),
                      division_rate=division_rate, division_gap=tuple(division_gap), division_push=division_push,
                      death_rate=death_rate, entry_rate=entry_rate, balance=balance,
                      growth=growth, repulsion=repulsion, spacing=spacing, intensity=tuple(intensity),
                      background=background, texture=texture, blur_sigma=blur_sigma, noise_sigma=noise_sigma,
                      photons=photons, bleach_rate=bleach_rate, dtype=dtype, full_scale=full_scale)
    return render(simulate_cells(cfg))


__all__ = ["SynthConfig", "SimulatedCells", "simulate_cells", "render", "synthetic_movie", "POINT_COLUMNS"]
