"""Track statistics: lengths, speeds, mean-squared displacement, division times, cell counts.

Everything is computed from the cell table (one row per cell per frame: frame, label, centroid_y,
centroid_x, area, … — :meth:`celltrace.Tracking.cell_table`) and the lineage table, so a report
measures the masks once. The base columns are in pixels and frames; when the scale is known
(pixel size in µm, frame interval in s; :mod:`celltrace.units`) columns in physical units are
added beside them — lengths in µm, areas in µm², speeds per minute, MSD lags in minutes, division
and cell-cycle times in hours — and the summary and the plots use them (:class:`Units`).

* track length of label ℓ: ``end − begin + 1`` frames (one CTC track segment);
* step speed: ``‖c_ℓ(t+1) − c_ℓ(t)‖`` px/frame between consecutive centroids of the same label;
* MSD(τ) = mean over labels ℓ and frames t of ``‖c_ℓ(t+τ) − c_ℓ(t)‖²`` (all overlapping pairs
  within one label; a label has no gaps), reported with the number of pairs per lag;
* division time: the first frame of the daughters; cell-cycle length of a daughter that divides
  again: ``end − begin + 1`` of that daughter (frames from birth to its own division);
* cell count of frame t: number of labels present in t.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from celltrace.units import PixelSize


@dataclass(frozen=True)
class Units:
    """The units the statistics are shown in: µm where the pixel size is known (else px), minutes
    for speeds and MSD lags and hours for division and cycle times where the frame interval is
    known (else frames)."""

    pixel_size_um: PixelSize | None = None
    frame_interval_s: float | None = None

    @property
    def length(self) -> str:
        return "µm" if self.pixel_size_um else "px"

    @property
    def per(self) -> str:
        """The time unit of speeds and MSD lags."""
        return "min" if self.frame_interval_s else "frame"

    @property
    def long_time(self) -> str:
        """The time unit of division and cell-cycle times."""
        return "h" if self.frame_interval_s else "frames"

    @property
    def speed_column(self) -> str:
        """The steps/tracks column holding speeds in these units (``speed`` in px/frame)."""
        if not self.pixel_size_um and not self.frame_interval_s:
            return "speed"
        return f"speed_{'um' if self.pixel_size_um else 'px'}_per_{self.per}"

    def minutes(self, frames: np.ndarray | float) -> np.ndarray | float:
        return frames * self.frame_interval_s / 60.0

    def hours(self, frames: np.ndarray | float) -> np.ndarray | float:
        return frames * self.frame_interval_s / 3600.0


@dataclass
class TrackStatistics:
    """The tables of one tracking result (see the module docstring)."""

    tracks: pd.DataFrame      # label, begin, end, parent, length, fate, n_children, mean_speed, path_length, net_displacement, mean_area
    steps: pd.DataFrame       # label, frame, dy, dx, speed  (frame = first frame of the step)
    msd: pd.DataFrame         # lag, msd, n_pairs
    divisions: pd.DataFrame   # parent, frame, daughters, parent_begin, parent_cycle_length
    counts: pd.DataFrame      # frame, n_cells, n_divisions, n_track_ends [, n_cells_gt]
    units: Units = field(default_factory=Units)
    """Beside the pixel/frame columns, with a known scale: steps/tracks ``speed_um_per_min`` (or
    ``speed_px_per_min`` / ``speed_um_per_frame``), tracks ``path_length_um``,
    ``net_displacement_um``, ``mean_area_um2``, ``duration_h``; msd ``msd_um2``, ``lag_min``;
    divisions ``time_h``, ``parent_cycle_length_h``; counts ``time_h``."""

    def summary(self) -> pd.DataFrame:
        """A two-column table (quantity, value) of headline numbers, in :attr:`units`."""
        t, s, u = self.tracks, self.steps, self.units
        cyc_col = "parent_cycle_length_h" if u.frame_interval_s else "parent_cycle_length"
        cyc = self.divisions[cyc_col].dropna() if len(self.divisions) else pd.Series(dtype=float)
        speed = s[u.speed_column] if len(s) else pd.Series(dtype=float)
        msd_col = "msd_um2" if u.pixel_size_um else "msd"
        lag1 = f"{u.minutes(1):.3g} min" if u.frame_interval_s else "1"
        rows = [
            ("tracks (label segments)", len(t)),
            ("founder tracks", int((t["parent"] == 0).sum()) if len(t) else 0),
            ("divisions", len(self.divisions)),
            ("tracks ending before the last frame (not dividing)", int((t["fate"] == "lost").sum()) if len(t) else 0),
            ("track length, median [frames]", _fmt(t["length"].median() if len(t) else np.nan)),
            ("track length, mean [frames]", _fmt(t["length"].mean() if len(t) else np.nan)),
            (f"speed, mean [{u.length}/{u.per}]", _fmt(speed.mean() if len(speed) else np.nan)),
            (f"speed, median [{u.length}/{u.per}]", _fmt(speed.median() if len(speed) else np.nan)),
            (f"MSD at lag {lag1} [{u.length}²]", _fmt(self.msd[msd_col].iloc[0] if len(self.msd) else np.nan)),
            (f"cell-cycle length, median [{u.long_time}]", _fmt(cyc.median() if len(cyc) else np.nan)),
            ("cells per frame, min / mean / max",
             f"{self.counts['n_cells'].min()} / {self.counts['n_cells'].mean():.1f} / {self.counts['n_cells'].max()}"
             if len(self.counts) else "–"),
        ]
        if u.pixel_size_um or u.frame_interval_s:
            from celltrace.units import format_interval, format_pixel_size

            rows.append(("scale", f"pixel {format_pixel_size(u.pixel_size_um)}, "
                                  f"interval {format_interval(u.frame_interval_s)}"))
        return pd.DataFrame(rows, columns=["quantity", "value"])

    def to_csv(self, folder: str | Path) -> dict[str, Path]:
        """Write tracks.csv, steps.csv, msd.csv, divisions.csv, counts.csv into ``folder``."""
        folder = Path(folder)
        out = {}
        for name in ("tracks", "steps", "msd", "divisions", "counts"):
            df = getattr(self, name).copy()
            if name == "divisions" and len(df):
                df["daughters"] = df["daughters"].map(lambda d: " ".join(str(x) for x in d))
            path = folder / f"{name}.csv"
            df.to_csv(path, index=False)
            out[name] = path
        return out


def _fmt(x: float) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.3g}"


def track_statistics(cells: pd.DataFrame, lineage: pd.DataFrame, n_frames: int, max_lag: int | None = None,
                     gt_counts: np.ndarray | None = None, pixel_size_um: PixelSize | None = None,
                     frame_interval_s: float | None = None) -> TrackStatistics:
    """Compute all tables from a cell table and a lineage table (see the module docstring).

    ``max_lag`` caps the MSD lags (default: min(n_frames − 1, 100)). ``gt_counts`` (cells per frame in
    the ground truth) adds a column ``n_cells_gt`` to the counts. ``pixel_size_um`` (y, x) and
    ``frame_interval_s`` add the columns in physical units (:attr:`TrackStatistics.units`);
    distances in µm are measured on centroids scaled per axis, so non-square pixels are right.
    """
    units = Units(pixel_size_um, frame_interval_s)
    cells = cells.sort_values(["label", "frame"], kind="stable").reset_index(drop=True)
    lab = cells["label"].to_numpy(np.int64)
    fr = cells["frame"].to_numpy(np.int64)
    yx = cells[["centroid_y", "centroid_x"]].to_numpy(np.float64)
    yxu = yx * np.asarray(pixel_size_um, dtype=np.float64) if pixel_size_um else yx  # in units.length

    # steps between consecutive frames of one label
    same = (lab[1:] == lab[:-1]) & (fr[1:] == fr[:-1] + 1)
    d = yx[1:] - yx[:-1]
    steps = pd.DataFrame({"label": lab[:-1][same], "frame": fr[:-1][same], "dy": d[same, 0], "dx": d[same, 1],
                          "speed": np.hypot(d[same, 0], d[same, 1])})
    if units.speed_column != "speed":
        du = (yxu[1:] - yxu[:-1])[same]
        steps[units.speed_column] = np.hypot(du[:, 0], du[:, 1]) / (units.minutes(1) if frame_interval_s else 1)

    # MSD: per label, all pairs at each lag (vectorised per lag over the whole table)
    max_lag = min(n_frames - 1, 100) if max_lag is None else max_lag
    msd_rows = []
    for tau in range(1, max(max_lag, 0) + 1):
        if len(lab) <= tau:
            break
        ok = (lab[tau:] == lab[:-tau]) & (fr[tau:] == fr[:-tau] + tau)
        n = int(ok.sum())
        if n == 0:
            break
        dd = yx[tau:][ok] - yx[:-tau][ok]
        du = yxu[tau:][ok] - yxu[:-tau][ok]
        msd_rows.append((tau, float((dd ** 2).sum(axis=1).mean()), n, float((du ** 2).sum(axis=1).mean())))
    msd = pd.DataFrame(msd_rows, columns=["lag", "msd", "n_pairs", "msd_um2"])
    if pixel_size_um is None:
        msd = msd.drop(columns="msd_um2")
    if frame_interval_s:
        msd.insert(1, "lag_min", units.minutes(msd["lag"].to_numpy(np.float64)))

    # per track
    lin = lineage[["label", "begin", "end", "parent"]].copy().astype(np.int64)
    children: dict[int, list[int]] = {}
    for c, p in zip(lin["label"], lin["parent"]):
        if p:
            children.setdefault(int(p), []).append(int(c))
    begins = dict(zip(lin["label"], lin["begin"]))
    fates, nkids = [], []
    for r in lin.itertuples():
        kids = children.get(int(r.label), [])
        nkids.append(len(kids))
        if len([k for k in kids if begins[k] == r.end + 1]) >= 2:
            fates.append("divided")
        elif kids:
            fates.append("continues")  # single child after a gap (or a one-daughter "division")
        elif r.end >= n_frames - 1:
            fates.append("to end")
        else:
            fates.append("lost")
    lin["length"] = lin["end"] - lin["begin"] + 1
    lin["fate"] = fates
    lin["n_children"] = nkids
    g = steps.groupby("label")["speed"]
    lin["mean_speed"] = lin["label"].map(g.mean())
    lin["path_length"] = lin["label"].map(g.sum()).fillna(0.0)
    first = cells.groupby("label")[["centroid_y", "centroid_x"]].first()
    last = cells.groupby("label")[["centroid_y", "centroid_x"]].last()
    net = np.hypot(last["centroid_y"] - first["centroid_y"], last["centroid_x"] - first["centroid_x"])
    lin["net_displacement"] = lin["label"].map(net)
    lin["mean_area"] = lin["label"].map(cells.groupby("label")["area"].mean())
    if units.speed_column != "speed":
        lin["mean_" + units.speed_column] = lin["label"].map(steps.groupby("label")[units.speed_column].mean())
    if pixel_size_um:
        sy, sx = pixel_size_um
        gu = pd.DataFrame({"label": lab, "y": yxu[:, 0], "x": yxu[:, 1]}).groupby("label")
        first_u, last_u = gu.first(), gu.last()
        lin["path_length_um"] = lin["label"].map(steps.assign(
            step_um=np.hypot(*(yxu[1:] - yxu[:-1])[same].T)).groupby("label")["step_um"].sum()).fillna(0.0)
        lin["net_displacement_um"] = lin["label"].map(np.hypot(last_u["y"] - first_u["y"], last_u["x"] - first_u["x"]))
        lin["mean_area_um2"] = lin["mean_area"] * sy * sx
    if frame_interval_s:
        lin["duration_h"] = units.hours(lin["length"].to_numpy(np.float64))

    # divisions
    ends = dict(zip(lin["label"], lin["end"]))
    div_rows = []
    for parent, kids in sorted(children.items()):
        at = sorted(k for k in kids if parent in ends and begins[k] == ends[parent] + 1)
        if len(at) >= 2:
            pb = int(begins[parent])
            born_by_division = _born_by_division(parent, lin)
            div_rows.append((parent, int(ends[parent]) + 1, tuple(at), pb,
                             float(ends[parent] - pb + 1) if born_by_division else np.nan))
    divisions = pd.DataFrame(div_rows, columns=["parent", "frame", "daughters", "parent_begin", "parent_cycle_length"])
    if frame_interval_s:
        divisions["time_h"] = units.hours(divisions["frame"].to_numpy(np.float64))
        divisions["parent_cycle_length_h"] = units.hours(divisions["parent_cycle_length"].to_numpy(np.float64))

    # counts per frame
    n_cells = np.bincount(fr, minlength=n_frames)[:n_frames]
    n_div = np.bincount(divisions["frame"].to_numpy(np.int64), minlength=n_frames)[:n_frames] if len(divisions) \
        else np.zeros(n_frames, np.int64)
    lost = lin[lin["fate"] == "lost"]["end"].to_numpy(np.int64)
    n_end = np.bincount(lost, minlength=n_frames)[:n_frames] if len(lost) else np.zeros(n_frames, np.int64)
    counts = pd.DataFrame({"frame": np.arange(n_frames), "n_cells": n_cells, "n_divisions": n_div,
                           "n_track_ends": n_end})
    if gt_counts is not None:
        counts["n_cells_gt"] = np.asarray(gt_counts, dtype=np.int64)[:n_frames]
    if frame_interval_s:
        counts.insert(1, "time_h", units.hours(counts["frame"].to_numpy(np.float64)))
    return TrackStatistics(tracks=lin, steps=steps, msd=msd, divisions=divisions, counts=counts, units=units)


def _born_by_division(label: int, lin: pd.DataFrame) -> bool:
    row = lin[lin["label"] == label].iloc[0]
    p = int(row["parent"])
    if not p:
        return False
    sibs = lin[(lin["parent"] == p) & (lin["begin"] == row["begin"])]
    return len(sibs) >= 2


# ------------------------------------------------------------------------------ plots
def plot_statistics(stats: TrackStatistics, folder: str | Path, dpi: int = 100) -> dict[str, Path]:
    """Write one PNG per quantity into ``folder``; returns name → path.

    counts.png (cells per frame, GT dashed if known, divisions and lost tracks as ticks),
    track_lengths.png, speeds.png, msd.png (log-log, with slope-1 and slope-2 guides),
    division_times.png (divisions per frame and cell-cycle lengths).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    folder = Path(folder)
    out: dict[str, Path] = {}
    u = stats.units
    timed = bool(u.frame_interval_s)

    def save(fig: "plt.Figure", name: str) -> None:
        fig.tight_layout()
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        out[name] = path

    c = stats.counts
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.plot(c["frame"], c["n_cells"], color="C0", label="result")
    if "n_cells_gt" in c:
        ax.plot(c["frame"], c["n_cells_gt"], color="k", ls="--", lw=1, label="ground truth")
    for f in c["frame"][c["n_divisions"] > 0]:
        ax.axvline(f, color="C2", lw=0.8, alpha=0.6)
    ax.plot([], [], color="C2", lw=0.8, label="division")
    ends = c[c["n_track_ends"] > 0]
    if len(ends):
        ax.plot(ends["frame"], ends["n_cells"], "x", color="C3", ms=5, label="track lost")
    ax.set_xlabel("frame")
    if timed:
        top = ax.secondary_xaxis("top", functions=(u.hours, lambda h: h * 3600.0 / u.frame_interval_s))
        top.set_xlabel("time [h]")
    ax.set_ylabel("cells")
    ax.set_title("Cells per frame")
    ax.legend(fontsize=8, loc="best")
    save(fig, "counts")

    t = stats.tracks
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    if len(t):
        ax.hist(t["duration_h"] if timed else t["length"], bins=min(40, max(5, int(t["length"].max()))), color="C0")
    ax.set_xlabel("track duration [h]" if timed else "track length [frames]")
    ax.set_ylabel("tracks")
    ax.set_title("Track lengths")
    save(fig, "track_lengths")

    s = stats.steps
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    if len(s):
        ax.hist(s[u.speed_column], bins=40, color="C1", alpha=0.8, label="steps")
        ms = t["mean_" + u.speed_column].dropna()
        if len(ms):
            ax2 = ax.twinx()
            ax2.hist(ms, bins=20, histtype="step", color="C4", lw=1.5, label="track means")
            ax2.set_ylabel("tracks", color="C4")
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlabel(f"speed [{u.length}/{u.per}]")
    ax.set_ylabel("steps")
    ax.set_title("Speeds")
    save(fig, "speeds")

    lag_col = "lag_min" if timed else "lag"
    msd_col = "msd_um2" if u.pixel_size_um else "msd"
    m = stats.msd
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    if len(m) and (m[msd_col] > 0).any():
        mm = m[m[msd_col] > 0]
        ax.loglog(mm[lag_col], mm[msd_col], "o-", ms=3, color="C0", label="MSD")
        l0, m0 = float(mm[lag_col].iloc[0]), float(mm[msd_col].iloc[0])
        lags = np.array([l0, float(mm[lag_col].iloc[-1])])
        ax.loglog(lags, m0 * (lags / l0), "k:", lw=1, label="∝ τ (diffusive)")
        ax.loglog(lags, m0 * (lags / l0) ** 2, "k--", lw=1, label="∝ τ² (ballistic)")
        ax.legend(fontsize=8)
    ax.set_xlabel(f"lag τ [{'min' if timed else 'frames'}]")
    ax.set_ylabel(f"MSD [{u.length}²]")
    ax.set_title("Mean-squared displacement")
    save(fig, "msd")

    dv = stats.divisions
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.0))
    if len(dv):
        span = (0, u.hours(max(len(c), 1)) if timed else max(len(c), 1))
        axes[0].hist(dv["time_h"] if timed else dv["frame"], bins=min(30, max(5, len(c) // 3)), range=span,
                     color="C2")
        cyc = dv["parent_cycle_length_h" if timed else "parent_cycle_length"].dropna()
        if len(cyc):
            axes[1].hist(cyc, bins=min(20, max(3, len(cyc))), color="C2")
        else:
            axes[1].text(0.5, 0.5, "no complete cell cycle\n(no mother born by division)", ha="center",
                         va="center", transform=axes[1].transAxes, fontsize=9)
    else:
        for a in axes:
            a.text(0.5, 0.5, "no divisions", ha="center", va="center", transform=a.transAxes)
    axes[0].set_xlabel("time of division [h]" if timed else "frame of division")
    axes[0].set_ylabel("divisions")
    axes[0].set_title("Division times")
    axes[1].set_xlabel(f"cell-cycle length [{u.long_time}]")
    axes[1].set_ylabel("mothers")
    axes[1].set_title("Cell-cycle lengths")
    save(fig, "division_times")
    return out
