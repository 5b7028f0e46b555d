"""Track statistics: lengths, speeds, mean-squared displacement, division times, cell counts.

Everything is computed from the cell table (one row per cell per frame: frame, label, centroid_y,
centroid_x, area, … — :meth:`celltrace.Tracking.cell_table`) and the lineage table, so a report
measures the masks once. Units are pixels and frames.

* track length of label ℓ: ``end − begin + 1`` frames (one CTC track segment);
* step speed: ``‖c_ℓ(t+1) − c_ℓ(t)‖`` px/frame between consecutive centroids of the same label;
* MSD(τ) = mean over labels ℓ and frames t of ``‖c_ℓ(t+τ) − c_ℓ(t)‖²`` (all overlapping pairs
  within one label; a label has no gaps), reported with the number of pairs per lag;
* division time: the first frame of the daughters; cell-cycle length of a daughter that divides
  again: ``end − begin + 1`` of that daughter (frames from birth to its own division);
* cell count of frame t: number of labels present in t.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class TrackStatistics:
    """The tables of one tracking result (see the module docstring)."""

    tracks: pd.DataFrame      # label, begin, end, parent, length, fate, n_children, mean_speed, path_length, net_displacement, mean_area
    steps: pd.DataFrame       # label, frame, dy, dx, speed  (frame = first frame of the step)
    msd: pd.DataFrame         # lag, msd, n_pairs
    divisions: pd.DataFrame   # parent, frame, daughters, parent_begin, parent_cycle_length
    counts: pd.DataFrame      # frame, n_cells, n_divisions, n_track_ends [, n_cells_gt]

    def summary(self) -> pd.DataFrame:
        """A two-column table (quantity, value) of headline numbers."""
        t, s = self.tracks, self.steps
        cyc = self.divisions["parent_cycle_length"].dropna() if len(self.divisions) else pd.Series(dtype=float)
        rows = [
            ("tracks (label segments)", len(t)),
            ("founder tracks", int((t["parent"] == 0).sum()) if len(t) else 0),
            ("divisions", len(self.divisions)),
            ("tracks ending before the last frame (not dividing)", int((t["fate"] == "lost").sum()) if len(t) else 0),
            ("track length, median [frames]", _fmt(t["length"].median() if len(t) else np.nan)),
            ("track length, mean [frames]", _fmt(t["length"].mean() if len(t) else np.nan)),
            ("speed, mean [px/frame]", _fmt(s["speed"].mean() if len(s) else np.nan)),
            ("speed, median [px/frame]", _fmt(s["speed"].median() if len(s) else np.nan)),
            ("MSD at lag 1 [px²]", _fmt(self.msd["msd"].iloc[0] if len(self.msd) else np.nan)),
            ("cell-cycle length, median [frames]", _fmt(cyc.median() if len(cyc) else np.nan)),
            ("cells per frame, min / mean / max",
             f"{self.counts['n_cells'].min()} / {self.counts['n_cells'].mean():.1f} / {self.counts['n_cells'].max()}"
             if len(self.counts) else "–"),
        ]
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
                     gt_counts: np.ndarray | None = None) -> TrackStatistics:
    """Compute all tables from a cell table and a lineage table (see the module docstring).

    ``max_lag`` caps the MSD lags (default: min(n_frames − 1, 100)). ``gt_counts`` (cells per frame in
    the ground truth) adds a column ``n_cells_gt`` to the counts.
    """
    cells = cells.sort_values(["label", "frame"], kind="stable").reset_index(drop=True)
    lab = cells["label"].to_numpy(np.int64)
    fr = cells["frame"].to_numpy(np.int64)
    yx = cells[["centroid_y", "centroid_x"]].to_numpy(np.float64)

    # steps between consecutive frames of one label
    same = (lab[1:] == lab[:-1]) & (fr[1:] == fr[:-1] + 1)
    d = yx[1:] - yx[:-1]
    steps = pd.DataFrame({"label": lab[:-1][same], "frame": fr[:-1][same], "dy": d[same, 0], "dx": d[same, 1],
                          "speed": np.hypot(d[same, 0], d[same, 1])})

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
        msd_rows.append((tau, float((dd ** 2).sum(axis=1).mean()), n))
    msd = pd.DataFrame(msd_rows, columns=["lag", "msd", "n_pairs"])

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
    return TrackStatistics(tracks=lin, steps=steps, msd=msd, divisions=divisions, counts=counts)


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
    ax.set_ylabel("cells")
    ax.set_title("Cells per frame")
    ax.legend(fontsize=8, loc="best")
    save(fig, "counts")

    t = stats.tracks
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    if len(t):
        ax.hist(t["length"], bins=min(40, max(5, int(t["length"].max()))), color="C0")
    ax.set_xlabel("track length [frames]")
    ax.set_ylabel("tracks")
    ax.set_title("Track lengths")
    save(fig, "track_lengths")

    s = stats.steps
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    if len(s):
        ax.hist(s["speed"], bins=40, color="C1", alpha=0.8, label="steps")
        ms = t["mean_speed"].dropna()
        if len(ms):
            ax2 = ax.twinx()
            ax2.hist(ms, bins=20, histtype="step", color="C4", lw=1.5, label="track means")
            ax2.set_ylabel("tracks", color="C4")
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlabel("speed [px/frame]")
    ax.set_ylabel("steps")
    ax.set_title("Speeds")
    save(fig, "speeds")

    m = stats.msd
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    if len(m) and (m["msd"] > 0).any():
        mm = m[m["msd"] > 0]
        ax.loglog(mm["lag"], mm["msd"], "o-", ms=3, color="C0", label="MSD")
        l0, m0 = float(mm["lag"].iloc[0]), float(mm["msd"].iloc[0])
        lags = np.array([l0, float(mm["lag"].iloc[-1])])
        ax.loglog(lags, m0 * (lags / l0), "k:", lw=1, label="∝ τ (diffusive)")
        ax.loglog(lags, m0 * (lags / l0) ** 2, "k--", lw=1, label="∝ τ² (ballistic)")
        ax.legend(fontsize=8)
    ax.set_xlabel("lag τ [frames]")
    ax.set_ylabel("MSD [px²]")
    ax.set_title("Mean-squared displacement")
    save(fig, "msd")

    dv = stats.divisions
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.0))
    if len(dv):
        axes[0].hist(dv["frame"], bins=min(30, max(5, len(c) // 3)), range=(0, max(len(c), 1)), color="C2")
        cyc = dv["parent_cycle_length"].dropna()
        if len(cyc):
            axes[1].hist(cyc, bins=min(20, max(3, len(cyc))), color="C2")
        else:
            axes[1].text(0.5, 0.5, "no complete cell cycle\n(no mother born by division)", ha="center",
                         va="center", transform=axes[1].transAxes, fontsize=9)
    else:
        for a in axes:
            a.text(0.5, 0.5, "no divisions", ha="center", va="center", transform=a.transAxes)
    axes[0].set_xlabel("frame of division")
    axes[0].set_ylabel("divisions")
    axes[0].set_title("Division times")
    axes[1].set_xlabel("cell-cycle length [frames]")
    axes[1].set_ylabel("mothers")
    axes[1].set_title("Cell-cycle lengths")
    save(fig, "division_times")
    return out
