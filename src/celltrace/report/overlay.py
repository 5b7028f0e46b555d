"""Overlay movie: raw frames with one stable colour per track, contours, division markers, labels.

A frame is rendered as

* the raw image, grey, normalised by the percentiles ``(p_low, p_high)`` of a sample of frames (one
  normalisation for the whole movie, so brightness does not flicker from frame to frame),
  downscaled so that its longer side is at most ``max_size`` pixels;
* the contour of every labelled region (a pixel whose 4-neighbour has another label), in the colour
  of its track label: ``colour(label)`` is a fixed function of the label (a hash → hue), so a track
  keeps its colour in every frame, in every report and in every run;
* a ring around the daughters of each division, in the mother's colour, for a few frames from the
  division on; optionally the track label as text beside each cell.

:class:`OverlayWriter` streams frames to an MP4 (H.264 through imageio-ffmpeg, whose wheel ships
an ffmpeg binary) and keeps a downscaled, subsampled set of frames for a GIF preview, so a 1,000-frame
movie costs the memory of one frame plus the preview.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from celltrace.frames import spread

# ------------------------------------------------------------------------------ colours
_GOLDEN = 0.6180339887498949


def label_colors(labels: np.ndarray) -> np.ndarray:
    """RGB uint8 colour (N, 3) of each label: stable, bright, neighbours in label order far apart.

    hue = frac(hash(label) · φ) with an integer hash (multiplicative, 32 bit), saturation and value
    from further hash bits in [0.65, 1] and [0.85, 1]. Label 0 (background) maps to black.
    """
    lab = np.asarray(labels, dtype=np.uint64).ravel()
    h = (lab * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    hue = np.modf(lab.astype(np.float64) * _GOLDEN + (h & np.uint64(0xFF)).astype(np.float64) / 2048.0)[0]
    sat = 0.65 + 0.35 * ((h >> np.uint64(8)) & np.uint64(0xFF)).astype(np.float64) / 255.0
    val = 0.85 + 0.15 * ((h >> np.uint64(16)) & np.uint64(0xFF)).astype(np.float64) / 255.0
    rgb = _hsv_to_rgb(hue, sat, val)
    rgb[lab == 0] = 0
    return np.round(rgb * 255).astype(np.uint8)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([np.stack(c, axis=-1) for c in
                      [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]], axis=0)
    return table[i, np.arange(h.size)]


def label_color(label: int) -> tuple[int, int, int]:
    """The colour of one label as an (r, g, b) tuple (see :func:`label_colors`)."""
    r, g, b = label_colors(np.array([label]))[0]
    return int(r), int(g), int(b)


def label_color_hex(label: int) -> str:
    """The colour of one label as ``#rrggbb`` (matplotlib, HTML)."""
    return "#%02x%02x%02x" % label_color(label)


# ------------------------------------------------------------------------------ geometry
def display_shape(frame_shape: tuple[int, int], max_size: int = 512) -> tuple[int, int]:
    """(H, W) of the rendered frame: scaled so the longer side is ≤ ``max_size``, both even (H.264)."""
    h, w = frame_shape
    s = min(1.0, max_size / max(h, w))
    dh, dw = max(2, int(round(h * s))), max(2, int(round(w * s)))
    return dh + dh % 2, dw + dw % 2


def intensity_limits(movie: Any, p_low: float = 1.0, p_high: float = 99.8, n_sample: int = 8) -> tuple[float, float]:
    """Percentiles ``(p_low, p_high)`` of up to ``n_sample`` evenly spaced frames (read one at a time)."""
    T = len(movie)
    idx = spread(T, n_sample)
    lows, highs = [], []
    for t in idx:
        f = np.asarray(movie[int(t)], dtype=np.float32)
        step = max(1, int(np.sqrt(f.size / 250_000)))  # percentiles of ≤ ~250k pixels are plenty
        lo, hi = np.percentile(f[::step, ::step], [p_low, p_high])
        lows.append(lo)
        highs.append(hi)
    lo, hi = float(np.median(lows)), float(np.median(highs))
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


@dataclass
class FrameRenderer:
    """Renders (raw frame, label frame) → RGB uint8 image of :func:`display_shape`.

    Parameters
    ----------
    frame_shape : (H, W) of the input frames.
    limits : intensity (low, high) mapped to black and white.
    max_size : longer side of the rendered frame, pixels.
    show_labels : write the track label beside each cell.
    divisions : rows (parent, frame, daughters) — see :meth:`Tracking.divisions`.
    division_frames : how many frames, from the division on, the ring around the daughters stays.
    thick : draw contours two pixels wide (for large frames shown small).
    """

    frame_shape: tuple[int, int]
    limits: tuple[float, float]
    max_size: int = 512
    show_labels: bool = False
    divisions: list[tuple[int, int, tuple[int, ...]]] = field(default_factory=list)
    division_frames: int = 4
    thick: bool | None = None

    def __post_init__(self) -> None:
        H, W = self.frame_shape
        self.out_shape = display_shape(self.frame_shape, self.max_size)
        dh, dw = self.out_shape
        self.scale = (dh / H, dw / W)
        # nearest-neighbour sampling for label images (labels must not be interpolated)
        self._rows = np.minimum(((np.arange(dh) + 0.5) * H / dh).astype(np.int64), H - 1)
        self._cols = np.minimum(((np.arange(dw) + 0.5) * W / dw).astype(np.int64), W - 1)
        if self.thick is None:
            self.thick = max(dh, dw) >= 384
        self._active: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
        for parent, frame, daughters in self.divisions:
            for t in range(int(frame), int(frame) + self.division_frames):
                self._active.setdefault(t, []).append((int(parent), tuple(int(d) for d in daughters)))
        size = max(9, int(round(max(dh, dw) / 40)))
        try:
            self._font = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1
            self._font = ImageFont.load_default()

    def grey(self, raw: np.ndarray) -> np.ndarray:
        """Raw frame → uint8 grey image of the display shape (box-filtered when shrinking)."""
        lo, hi = self.limits
        g = np.clip((np.asarray(raw, dtype=np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
        img = Image.fromarray(g)
        if img.size != (self.out_shape[1], self.out_shape[0]):
            img = img.resize((self.out_shape[1], self.out_shape[0]), Image.BOX if self.scale[0] < 1 else Image.BILINEAR)
        return np.asarray(img)

    def small_labels(self, labels: np.ndarray) -> np.ndarray:
        return np.asarray(labels)[np.ix_(self._rows, self._cols)]

    def render(self, raw: np.ndarray, labels: np.ndarray, t: int,
               centroids: dict[int, tuple[float, float]] | None = None) -> np.ndarray:
        """RGB image of frame ``t``. ``centroids`` (label → (y, x) in input pixels) places text and
        division rings; without it they are computed from the label image."""
        g = self.grey(raw)
        rgb = np.repeat(g[:, :, None], 3, axis=2)
        lab = self.small_labels(labels)
        edge = contour_mask(lab, thick=bool(self.thick))
        if edge.any():
            present, inv = np.unique(lab[edge], return_inverse=True)
            rgb[edge] = label_colors(present)[inv]
        active = self._active.get(t, [])
        if not (self.show_labels or active):
            return rgb
        if centroids is None:
            centroids = _centroids(labels)
        img = Image.fromarray(rgb)
        draw = ImageDraw.Draw(img)
        sy, sx = self.scale
        r = max(6, int(round(max(self.out_shape) / 30)))
        for parent, daughters in active:
            pts = [centroids[d] for d in daughters if d in centroids]
            if not pts:
                continue
            cy, cx = np.mean(pts, axis=0)
            spread = max([np.hypot((y - cy) * sy, (x - cx) * sx) for y, x in pts] + [0.0])
            rr = r + spread
            box = [cx * sx - rr, cy * sy - rr, cx * sx + rr, cy * sy + rr]
            draw.ellipse(box, outline=(255, 255, 255), width=3)
            draw.ellipse([b + d for b, d in zip(box, (1, 1, -1, -1))], outline=label_color(parent), width=1)
        if self.show_labels:
            for label, (y, x) in centroids.items():
                draw.text((x * sx + 3, y * sy - 3), str(label), fill=label_color(label), font=self._font,
                          stroke_width=1, stroke_fill=(0, 0, 0))
        return np.asarray(img)


def contour_mask(lab: np.ndarray, thick: bool = False) -> np.ndarray:
    """Boolean image: labelled pixels with a 4-neighbour of another label (inner contour)."""
    edge = np.zeros(lab.shape, dtype=bool)
    d = lab[1:, :] != lab[:-1, :]
    edge[1:, :] |= d
    edge[:-1, :] |= d
    d = lab[:, 1:] != lab[:, :-1]
    edge[:, 1:] |= d
    edge[:, :-1] |= d
    edge[0, :] = edge[-1, :] = True
    edge[:, 0] = edge[:, -1] = True
    edge &= lab > 0
    if thick:  # widen inwards: also pixels next to a contour pixel of the same label
        grown = edge.copy()
        same = lab[1:, :] == lab[:-1, :]
        grown[1:, :] |= edge[:-1, :] & same
        grown[:-1, :] |= edge[1:, :] & same
        same = lab[:, 1:] == lab[:, :-1]
        grown[:, 1:] |= edge[:, :-1] & same
        grown[:, :-1] |= edge[:, 1:] & same
        edge = grown & (lab > 0)
    return edge


def _centroids(labels: np.ndarray) -> dict[int, tuple[float, float]]:
    from celltrace.tracking import frame_measurements

    df = frame_measurements(np.asarray(labels), None, 0)
    return {int(r.label): (float(r.centroid_y), float(r.centroid_x)) for r in df.itertuples()}


# ------------------------------------------------------------------------------ writers
class OverlayWriter:
    """Streams rendered frames to ``mp4_path`` and keeps a preview for ``gif_path``.

    The GIF keeps at most ``max_frames_gif`` frames (every k-th), each shrunk so its longer side is
    ≤ ``gif_size`` (never enlarged: a movie rendered smaller keeps its own size). At 512 px the cells
    of a 1024² movie are as large as in the MP4; a GIF frame of that size costs ~120 kB (GOWT1), so
    when the GIF would exceed ``gif_max_mb`` it keeps fewer frames, evenly spread, until it fits.
    ``crf`` is x264's constant rate factor (lower: better and larger; 28 keeps contours crisp at
    ~25 kB per 512² frame). Use as a context manager; :meth:`close` writes the GIF and finishes the MP4.
    """

    def __init__(self, mp4_path: str | Path, gif_path: str | Path | None, n_frames: int, fps: float = 8.0,
                 max_frames_gif: int = 60, gif_size: int = 512, gif_max_mb: float = 4.0, crf: int = 28):
        import imageio.v2 as imageio

        self.mp4_path, self.gif_path = Path(mp4_path), (Path(gif_path) if gif_path else None)
        self.fps = float(fps)
        self._writer = imageio.get_writer(str(self.mp4_path), format="FFMPEG", mode="I", fps=self.fps,
                                          codec="libx264", quality=None, pixelformat="yuv420p",
                                          macro_block_size=2, ffmpeg_log_level="error",
                                          output_params=["-crf", str(int(crf)), "-preset", "veryfast",
                                                         "-movflags", "+faststart"])
        step = max(1, int(np.ceil(n_frames / max(1, max_frames_gif))))
        self._gif_every = step
        self._gif_size = int(gif_size)
        self._gif_max_bytes = float(gif_max_mb) * 2**20
        self._gif: list[Image.Image] = []
        self._n = 0
        self.poster: np.ndarray | None = None
        self._poster_at = n_frames // 2
        self.gif_frames = 0  # frames in the written GIF (set by close)

    def append(self, rgb: np.ndarray) -> None:
        self._writer.append_data(rgb)
        if self._n == self._poster_at:
            self.poster = rgb.copy()
        if self.gif_path is not None and self._n % self._gif_every == 0:
            img = Image.fromarray(rgb)
            s = min(1.0, self._gif_size / max(img.size))
            if s < 1:
                img = img.resize((max(1, round(img.size[0] * s)), max(1, round(img.size[1] * s))), Image.BOX)
            self._gif.append(img.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
        self._n += 1

    def close(self) -> None:
        self._writer.close()
        if self.gif_path is not None and self._gif:
            self.gif_frames = write_gif(self._gif, self.gif_path, seconds=self._n / self.fps,
                                        max_bytes=self._gif_max_bytes)
        self._gif = []

    def __enter__(self) -> "OverlayWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def write_gif(frames: list[Image.Image], path: str | Path, seconds: float, max_bytes: float) -> int:
    """Write ``frames`` as a looping GIF lasting about ``seconds``; while the file is larger than
    ``max_bytes`` keep fewer frames (evenly spread). Returns the number of frames written."""
    import io

    keep = list(range(len(frames)))
    while True:
        chosen = [frames[i] for i in keep]
        duration = max(40, int(round(1000 * seconds / len(chosen))))
        buf = io.BytesIO()
        chosen[0].save(buf, format="GIF", save_all=True, append_images=chosen[1:], duration=duration, loop=0,
                       optimize=False, disposal=1)
        size = buf.tell()
        if size <= max_bytes or len(keep) == 1:
            break
        n = min(len(keep) - 1, max(1, int(len(keep) * max_bytes / size * 0.95)))
        keep = [keep[i] for i in spread(len(keep), n)]
    Path(path).write_bytes(buf.getvalue())
    return len(keep)


def write_overlay(movie: Any, tracking: Any, mp4_path: str | Path, gif_path: str | Path | None = None,
                  max_size: int = 512, show_labels: bool = False, fps: float = 8.0, max_frames_gif: int = 60,
                  progress: bool = True) -> Path:
    """Render the whole overlay movie of ``tracking`` on ``movie`` (one frame at a time) to MP4 (+ GIF)."""
    from tqdm.auto import tqdm

    renderer = FrameRenderer(tuple(movie.shape[1:]), intensity_limits(movie), max_size=max_size,
                             show_labels=show_labels, divisions=list(tracking.divisions().itertuples(index=False)))
    with OverlayWriter(mp4_path, gif_path, len(movie), fps=fps, max_frames_gif=max_frames_gif) as w:
        for t in tqdm(range(len(movie)), desc="overlay", unit="frame", disable=not progress):
            w.append(renderer.render(np.asarray(movie[t]), np.asarray(tracking.masks[t]), t))
    return Path(mp4_path)
