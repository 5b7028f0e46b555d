"""Live tracking: follow a folder that a microscope fills frame by frame.

    watcher = Watcher("acquisition/", "acquisition_RES")
    summary = watcher.run()     # until acquisition/STOP appears, an idle timeout, or Ctrl-C

Each new frame is segmented and linked causally (:class:`~celltrace.linking.online.OnlineLinker`:
no look-ahead), and the output folder is then again a complete CTC RES folder (``mask*.tif`` +
``res_track.txt``) with ``cells.csv`` and ``run.json``, for the frames so far.

* **Which frames, in which order.** Image files of the folder (``tNNN.tif`` when there are such,
  else any image names with one frame number, :func:`~celltrace.io.names.frame_order`), each taken
  once, in number order. A file is *complete* when it reads as a 2D image of the first frame's
  shape and dtype **and** either a file numbered after it exists or its size and modification time
  are the same at two polls in a row. A file that stays unreadable ``broken_after_s`` seconds after
  it stopped changing stops the session with one line naming it; a file numbered before one
  already taken is skipped with a warning (the past is not rewritten).
* **What a reader sees.** The output is published in versions (:class:`~celltrace.io.snapshots.SnapshotFolder`):
  ``DIR`` is a link to the latest complete version, replaced in one rename, so whoever opens it
  gets a valid result; a reader that resolves it once (celltrace's readers do) reads one version
  throughout. When the session ends ``DIR`` becomes a plain folder.
* **Delay.** Masks are final when written (a frame's track labels never change) and divisions are
  made with the frame that shows the daughters. Gap closing needs ``max_gap + 1`` frames
  (:attr:`OnlineLinker.delay`; 3 by default): until then a gap link (the ``parent`` of a track that
  starts after a gap) is provisional. A division whose daughter vanishes within
  ``division_min_branch_frames`` frames is taken back (her ``parent`` becomes 0)
  :attr:`OnlineLinker.division_delay` frames after it (5 by default). Frames older than the larger
  of the two delays are final (``final_frames``).
* **Ending and resuming.** The session ends when the sentinel file (``STOP``) appears (after the
  frames before it), after ``idle_timeout_s`` without a new frame, or on Ctrl-C / SIGTERM; every
  version holds the online state (``live_state.npz``), so ``resume=True`` continues a stopped
  session exactly where its last version left off.
* **How close to ``celltrace track``.** With a given ``cell_radius`` the segmentation is the
  offline one; the radius is otherwise estimated on the first frame that shows a cell (frames
  before it, a blank field, are published empty; offline: on frames spread over the movie). The linker's differences are listed in :mod:`celltrace.linking.online`; with
  the cell radius given, ``motion_gate_factor=0``, ``division_join_frames=0``,
  ``division_piece_fraction=0``, ``merge_split_frames=0`` and ``split_merged_cells=False``
  classic's live result is the offline one: offline, classic by default keeps a division's two
  daughters one object for their first frame, joins a "daughter" whose branch ends inside her
  sister back to her (:mod:`celltrace.linking.mitosis`), gives a "daughter" that is a cell parting
  from the mother she was merged with back to her own track, and cuts a cell out of a neighbour
  she was merged with (:mod:`celltrace.linking.merges`); all four rewrite published results. Live, the
  division comes with the frame that shows the daughters and stays (unless its branch dies young,
  as above), and a gap stays a gap. The method's step on one linked frame
  (:meth:`~celltrace.methods.base.Tracker.finish_frame`; classic grows dim nuclei into their faint
  rims) runs live as offline, before the frame is published.
* **Methods.** Those that segment frame by frame and link with the standard LAP linker
  (:func:`live_linking`): classic, and caliban with ``linker='lap'`` (whose linker radius is
  measured on the first frame's objects, offline on all frames).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from celltrace.errors import CelltraceError, CelltraceWarning, InputError
from celltrace.io.atomic import check_output
from celltrace.io.ctc import write_lineage
from celltrace.io.names import frame_order
from celltrace.io.runinfo import run_record, write_run
from celltrace.io.snapshots import SnapshotFolder, link_or_copy
from celltrace.io.tiff import IMAGE_SUFFIXES, read_frame, write_frame
from celltrace.linking.features import object_features, radius_from_objects
from celltrace.linking.online import OnlineLinker
from celltrace.linking.standard import LAPLinkingConfig
from celltrace.methods.base import DEFAULT_METHOD, Tracker, load_tracker
from celltrace.movie import CTC_FRAME, OTHER_IMAGE_SUFFIXES, Movie
from celltrace.movie import _read_other_image as read_other_image
from celltrace.stopping import Terminated
from celltrace.tracking import cell_table_of, frame_measurements, label_dtype
from celltrace.units import scale_meta, scale_of

SENTINEL = "STOP"
"""Default name of the file whose appearance in the watched folder ends the session."""
STATE_FILE = "live_state.npz"
"""The online state, saved in every version of the output (what ``resume`` reads)."""
FRAME_SUFFIXES = IMAGE_SUFFIXES + OTHER_IMAGE_SUFFIXES


# ---------------------------------------------------------------------- the growing folder
@dataclass
class FrameFeed:
    """Hands out the complete frames of a growing ``folder``, once each, in number order (the
    rule is in the module docstring). ``after``: the number of the last frame taken; ``taken``:
    the names of the files taken."""

    folder: Path
    broken_after_s: float = 10.0
    after: int | None = None
    taken: set[str] = field(default_factory=set)
    frame_shape: tuple[int, int] | None = None
    dtype: np.dtype | None = None
    _stat: dict[str, tuple[int, int]] = field(default_factory=dict)
    _stable_since: dict[str, float] = field(default_factory=dict)
    _skipped: set[str] = field(default_factory=set)

    def listing(self) -> list[tuple[int, Path]]:
        """``(number, file)`` of the frame files there now, in number order."""
        images = [p for p in self.folder.iterdir()
                  if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".") and p.is_file()]
        ctc = [p for p in images if CTC_FRAME.match(p.name)]
        return frame_order(self.folder, ctc or images)

    def pending(self) -> list[tuple[int, Path]]:
        """The frame files not taken yet (those numbered after :attr:`after`)."""
        out = []
        for number, path in self.listing():
            if self.after is None or number > self.after:
                out.append((number, path))
            elif path.name not in self.taken and path.name not in self._skipped:
                self._skipped.add(path.name)
                warnings.warn(f"{path}: appeared after frame {self.after} was taken; skipped (frames must "
                              f"arrive in order)", CelltraceWarning, stacklevel=2)
        return out

    def ready(self, limit: int | None = None) -> list[tuple[int, Path, np.ndarray]]:
        """Take the frames that are complete now (at most ``limit``): ``(number, file, image)`` in order."""
        out: list[tuple[int, Path, np.ndarray]] = []
        now = time.time()
        pending = self.pending()
        for k, (number, path) in enumerate(pending):
            if limit is not None and len(out) >= limit:
                break
            try:
                st = path.stat()
            except FileNotFoundError:
                break
            sig = (st.st_size, st.st_mtime_ns)
            stable = self._stat.get(path.name) == sig
            self._stat[path.name] = sig
            if stable:
                self._stable_since.setdefault(path.name, now)
            else:
                self._stable_since.pop(path.name, None)
            if not (stable or k + 1 < len(pending)):
                break
            image = self._read(path)
            if image is None:
                break
            out.append((number, path, image))
            self.after = number
            self.taken.add(path.name)
            for d in (self._stat, self._stable_since):
                d.pop(path.name, None)
        return out

    def _read(self, path: Path) -> np.ndarray | None:
        """The image, or None while it may still be being written; a file unreadable long after it
        stopped changing raises InputError."""
        try:
            image = read_frame(path) if path.suffix.lower() in IMAGE_SUFFIXES else read_other_image(path)
            if self.frame_shape is not None and image.shape != self.frame_shape:
                raise InputError(path, f"frame of shape {image.shape} differs from {self.frame_shape} of the first frame")
            if self.dtype is not None and image.dtype != self.dtype:
                raise InputError(path, f"frame of dtype {image.dtype} differs from {self.dtype} of the first frame")
        except InputError:
            since = self._stable_since.get(path.name)
            if since is not None and time.time() - since >= self.broken_after_s:
                raise
            return None
        if self.frame_shape is None:
            self.frame_shape, self.dtype = tuple(image.shape), image.dtype
        return image


# ---------------------------------------------------------------------- a method, online
def live_linking(tracker: Tracker) -> LAPLinkingConfig:
    """The standard-linker settings ``tracker`` links with, if it can track live, else CelltraceError.

    A method can when it segments frame by frame (``estimate_radius`` and ``segment``) and links
    with the standard LAP linker: classic (its config holds the linker's settings) and caliban
    with ``linker='lap'`` (the linker's defaults)."""
    config = getattr(tracker, "config", None)
    if hasattr(tracker, "segment") and hasattr(tracker, "estimate_radius"):
        if isinstance(config, LAPLinkingConfig):
            return config
        if getattr(config, "linker", None) == "lap":
            return LAPLinkingConfig()
    raise CelltraceError(f"method {tracker.name!r} cannot track live: live tracking needs a method that "
                         f"segments frame by frame and links with the standard LAP linker (classic; caliban "
                         f"with linker=lap)")


def linking_radius(tracker: Tracker, segmentation_radius: float, objects: pd.DataFrame) -> float:
    """The cell radius that scales the linker's lengths: the segmentation's (classic), or
    ``sqrt(median area / pi)`` of the first frame's objects (caliban, whose offline linker measures
    it on all frames)."""
    if isinstance(getattr(tracker, "config", None), LAPLinkingConfig):
        return float(segmentation_radius)
    return radius_from_objects([objects])


def online_segmenter(tracker: Tracker, first: np.ndarray | None = None,
                     radius: float | None = None) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """``(segment, radius)``: ``segment(image)`` labels one frame with ``tracker`` at the cell
    radius ``radius`` when given (a resumed session's), else the one the method estimates on the
    frame ``first`` alone (offline: on frames spread over the movie). The watcher calls it on each
    frame until one holds a cell."""
    live_linking(tracker)
    if radius is None:
        if first is None:
            raise ValueError("online_segmenter needs the first frame or the radius")
        radius = float(tracker.estimate_radius(Movie(frames=first[None])))

    def segment(image: np.ndarray) -> np.ndarray:
        return tracker.segment(image, radius, dtype=np.uint32)

    return segment, float(radius)


def relabel(local: np.ndarray, labels: np.ndarray, tracks: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``local`` (a frame's own labels) with each label ``labels[i]`` replaced by ``tracks[i]``
    (other pixels 0), as ``dtype``."""
    lut = np.zeros(int(local.max(initial=0)) + 1, dtype=dtype)
    lut[labels] = tracks
    return lut[local]


class CellTableText:
    """A live session's ``cells.csv``, kept so that each version costs the recent frames only.

    ``frames[t]`` holds frame ``t``'s :func:`~celltrace.tracking.frame_measurements`. The table is
    :func:`~celltrace.tracking.cell_table_of` of all of them, whose only column that can change
    after a frame is published is ``parent``: the lineage's, final for the frames before the
    linker's ``final_frames``. Those frames' rows are formatted once and kept as text
    (``formatted_frames`` of them so far); the others are formatted at each version. The text is
    the one ``to_csv`` writes for the whole table (each value is formatted on its own), and the
    formatting no longer grows with the session (``benchmarks/live_long_session.py``)."""

    def __init__(self, frames: list[pd.DataFrame] | None = None):
        self.frames: list[pd.DataFrame] = list(frames or [])
        self._final: list[str] = []   # CSV rows (no header) of frames 0..formatted_frames-1
        self.formatted_frames = 0

    def text(self, lineage: pd.DataFrame, final_frames: int, scale: dict[str, Any]) -> str:
        """The CSV text (header first) of every frame's rows with their parents in ``lineage``;
        frames before ``final_frames`` have final parents."""
        def table(frames: list[pd.DataFrame]) -> pd.DataFrame:
            return cell_table_of(pd.concat(frames, ignore_index=True), lineage, *scale_of(scale))

        final = min(int(final_frames), len(self.frames))
        if final > self.formatted_frames:
            rows = table(self.frames[self.formatted_frames:final])
            self._final.append(rows.to_csv(index=False, header=False, lineterminator="\n"))
            self.formatted_frames = final
        recent = table(self.frames[self.formatted_frames:] or self.frames[-1:])  # the last frame: the header
        if self.formatted_frames == len(self.frames):
            recent = recent.iloc[:0]
        header, _, rows = recent.to_csv(index=False, lineterminator="\n").partition("\n")
        return header + "\n" + "".join(self._final) + rows


# ---------------------------------------------------------------------- the session
@dataclass
class FrameUpdate:
    """What one frame changed: its index and file, its cells, the tracks so far, the frames that
    are final, seconds from the file's last modification to the published result
    (``latency_s``) and seconds spent on it (``process_s``)."""

    frame: int
    file: Path
    n_cells: int
    n_tracks: int
    final_frames: int
    latency_s: float
    process_s: float


@dataclass
class LiveSummary:
    """How a session ended (``reason``: ``sentinel``, ``idle``, ``interrupted``, ``terminated``,
    ``max_frames``), its frames in all and new in this run, its tracks, and the latency of each
    new frame (seconds)."""

    reason: str
    n_frames: int
    new_frames: int
    n_tracks: int
    latencies_s: list[float]
    out: Path


class Watcher:
    """Track a growing folder into a CTC RES folder kept up to date (module docstring).

    ``method`` / ``params``: as :func:`celltrace.track` (with ``resume``, the saved session's; others
    are refused). ``poll_s``: seconds between looks at the folder; ``sentinel``: the file name that
    ends the session; ``idle_timeout_s``: end after this long without a new frame (None: never);
    ``keep_s``: seconds an old version of the output stays for readers still on it;
    ``broken_after_s``: how long a file may stay unreadable once it stopped changing;
    ``on_update``: called with a :class:`FrameUpdate` after each frame is published;
    ``pixel_size_um`` (y, x) / ``frame_interval_s``: the scale, recorded in ``run.json`` and giving
    ``cells.csv`` its ``y_um, x_um, area_um2, time_s`` columns (a resumed session keeps its own).
    """

    def __init__(self, folder: str | Path, out: str | Path, method: str | None = None,
                 params: dict[str, Any] | None = None, *, poll_s: float = 0.5, sentinel: str = SENTINEL,
                 idle_timeout_s: float | None = None, resume: bool = False, overwrite: bool = False,
                 keep_s: float = 60.0, broken_after_s: float = 10.0,
                 on_update: Callable[[FrameUpdate], None] | None = None, command: str | None = None,
                 pixel_size_um: tuple[float, float] | None = None, frame_interval_s: float | None = None):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(self.folder, "not a folder" if self.folder.exists() else "no such folder to watch")
        self.out = Path(out)
        if resume and not (self.out.exists() or self.out.is_symlink()):
            raise InputError(self.out, "no live session to resume (no such folder)")
        check_output(self.out, overwrite=overwrite or resume, inputs=[("watched folder", self.folder)])
        self.poll_s, self.sentinel, self.idle_timeout_s = float(poll_s), sentinel, idle_timeout_s
        self.on_update, self.command = on_update, command
        self.snapshots = SnapshotFolder(self.out, keep_s=keep_s)
        self.feed = FrameFeed(self.folder, broken_after_s=broken_after_s)
        self.method, self.params = method or DEFAULT_METHOD, dict(params or {})
        self.scale = scale_meta(pixel_size_um, frame_interval_s)
        self.date = datetime.now().astimezone().isoformat(timespec="seconds")
        self.files: list[str] = []
        self.latencies: list[float] = []
        self.cells = CellTableText()
        self.linker: OnlineLinker | None = None
        self._segment: Callable[[np.ndarray], np.ndarray] | None = None
        saved = self._load_state(method) if resume else None
        self.tracker = load_tracker(self.method, **self.params)
        self.linking = live_linking(self.tracker)
        self.segmentation_radius: float | None = None
        if saved is not None:
            self._restore(*saved)

    # ------------------------------------------------------------------ resuming
    def _load_state(self, method: str | None) -> tuple[dict[str, Any], dict[str, np.ndarray], Path]:
        """The saved session (its settings applied to this watcher) and the linker's arrays."""
        current = self.snapshots.current()
        state = None if current is None else current / STATE_FILE
        if state is None or not state.is_file():
            raise InputError(self.out, f"no live session to resume ({STATE_FILE} missing)")
        try:
            with np.load(state, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            saved = json.loads(str(arrays.pop("session")))
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(state, f"not a readable live session state ({exc})") from None
        if method is not None and method != saved["method"]:
            raise InputError(self.out, f"the session tracks with method {saved['method']!r}, not {method!r}")
        if self.params and self.params != saved["params"]:
            raise InputError(self.out, f"the session tracks with parameters {saved['params']}; resuming keeps them")
        self.method, self.params, self.date = saved["method"], saved["params"], saved["date"]
        self.scale = {**scale_meta(*scale_of(saved.get("scale") or {})), **self.scale}  # given values win
        return saved, arrays, current

    def _restore(self, saved: dict[str, Any], arrays: dict[str, np.ndarray], current: Path) -> None:
        self.files = list(saved["files"])
        self.feed.after, self.feed.taken = saved["last_number"], set(self.files)
        self.feed.frame_shape, self.feed.dtype = tuple(saved["frame_shape"]), np.dtype(saved["dtype"])
        self.segmentation_radius = float(saved["segmentation_radius"])
        self._segment, _ = online_segmenter(self.tracker, radius=self.segmentation_radius)
        self.linker = OnlineLinker.from_state(self.linking, saved["linker"], arrays)
        table = pd.read_csv(current / "cells.csv").drop(columns="parent")
        by_frame = {int(t): rows.reset_index(drop=True) for t, rows in table.groupby("frame")}
        self.cells = CellTableText([by_frame.get(t, table.iloc[:0]) for t in range(self.linker.n_frames)])

    # ------------------------------------------------------------------ one frame
    def process(self, number: int, path: Path, image: np.ndarray) -> FrameUpdate:
        """Segment and link ``image`` (the next frame: file ``path``, frame number ``number`` in
        its name) and publish the result."""
        t0 = time.perf_counter()
        try:
            written = path.stat().st_mtime
        except OSError:  # moved away meanwhile: count from now
            written = time.time()
        frame = Movie(frames=image[None], source=path)  # NaN/inf pixels repaired as celltrace.track does
        image = frame[0]
        frame.warn_nonfinite()
        seen = self.linker is not None and self.linker.next_label > 1  # a cell was found before
        if not seen:  # the radius comes from the first frame that shows a cell
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CelltraceWarning)  # "no cell on frame 0": estimated again next frame
                self._segment, self.segmentation_radius = online_segmenter(self.tracker, image)
        local = self._segment(image)
        objects = object_features(local)
        if self.linker is None or (not seen and not objects.empty):
            # a new linker at the radius of the first frame with a cell, after the empty frames so far
            # (a blank frame keeps the linker it has: no replay of the blank frames before it)
            empty = 0 if self.linker is None else self.linker.n_frames
            self.linker = OnlineLinker(self.linking, linking_radius(self.tracker, self.segmentation_radius, objects))
            for _ in range(empty):
                self.linker.add(objects.iloc[:0])
        tracks = self.linker.add(objects)
        n = self.linker.n_frames - 1
        local = self.tracker.finish_frame(local, image, self.segmentation_radius)  # classic: dim rims, as offline
        mask = relabel(local, objects["label"].to_numpy(np.int64), tracks, label_dtype(self.linker.next_label - 1))
        self.cells.frames.append(frame_measurements(mask, np.asarray(image, dtype=np.float64), n))
        self.files.append(path.name)
        self._publish(mask, number)
        latency = time.time() - written
        self.latencies.append(latency)
        update = FrameUpdate(frame=n, file=path, n_cells=len(objects), n_tracks=self.linker.next_label - 1,
                             final_frames=self.linker.final_frames, latency_s=latency,
                             process_s=time.perf_counter() - t0)
        if self.on_update is not None:
            self.on_update(update)
        return update

    def _publish(self, mask: np.ndarray, number: int) -> None:
        """Publish the next version of the output: the earlier masks (hard links), the new mask,
        the lineage, cells.csv, run.json and the state after frame ``number``."""
        T = self.linker.n_frames
        digits, old_digits = (3 if T <= 1000 else 4), (3 if T - 1 <= 1000 else 4)
        previous = self.snapshots.current() if T > 1 else None
        with self.snapshots.version() as tmp:
            for t in range(T - 1):
                link_or_copy(previous / f"mask{t:0{old_digits}d}.tif", tmp / f"mask{t:0{digits}d}.tif")
            write_frame(tmp / f"mask{T - 1:0{digits}d}.tif", mask)
            lineage = self.linker.lineage()
            write_lineage(lineage, tmp / "res_track.txt")
            (tmp / "cells.csv").write_text(self.cells.text(lineage, self.linker.final_frames, self.scale),
                                           encoding="utf-8", newline="")
            write_run(tmp, self._run_record(T))
            self._save_state(tmp / STATE_FILE, number)

    def _run_record(self, T: int) -> dict[str, Any]:
        linker = self.linker
        meta = {**self.scale, "config": self.tracker.resolved_config(), "cell_radius": linker.radius,
                "segmentation_radius": self.segmentation_radius,
                "typical_displacement": linker.motion, "weights_files": [str(p) for p in self.tracker.weights_files()]}
        record = run_record(meta, method=self.method, input=self.folder, n_frames=T,
                            frame_shape=self.feed.frame_shape or (), date=self.date, timings={},
                            overrides=self.params, command=self.command)
        record["live"] = {"delay_frames": linker.lineage_delay, "final_frames": linker.final_frames,
                          "last_file": self.files[-1],
                          "updated": datetime.now().astimezone().isoformat(timespec="seconds")}
        return record

    def _save_state(self, path: Path, number: int) -> None:
        scalars, arrays = self.linker.state()
        session = {"method": self.method, "params": self.params, "date": self.date, "files": self.files,
                   "scale": {k: list(v) if isinstance(v, tuple) else v for k, v in self.scale.items()},
                   "last_number": int(number), "frame_shape": list(self.feed.frame_shape),
                   "dtype": str(self.feed.dtype), "segmentation_radius": self.segmentation_radius, "linker": scalars}
        with open(path, "wb") as fh:
            np.savez(fh, session=np.array(json.dumps(session)), **arrays)

    # ------------------------------------------------------------------ the loop
    def step(self, limit: int | None = None) -> list[FrameUpdate]:
        """Look at the folder once and process the frames that are complete (at most ``limit``)."""
        return [self.process(number, path, image) for number, path, image in self.feed.ready(limit)]

    def run(self, max_frames: int | None = None) -> LiveSummary:
        """Follow the folder until the sentinel appears (and the frames before it are done), the
        idle timeout passes, ``max_frames`` new frames are done, or Ctrl-C / SIGTERM; then make
        the output a plain folder. Returns what happened."""
        start = len(self.files)
        last_frame = time.monotonic()
        reason = "interrupted"
        try:
            while True:
                stop = (self.folder / self.sentinel).exists()
                if self.step(None if max_frames is None else max_frames - (len(self.files) - start)):
                    last_frame = time.monotonic()
                if max_frames is not None and len(self.files) - start >= max_frames:
                    reason = "max_frames"
                    break
                if stop and not self.feed.pending():
                    reason = "sentinel"
                    break
                if self.idle_timeout_s is not None and time.monotonic() - last_frame >= self.idle_timeout_s:
                    reason = "idle"
                    break
                time.sleep(self.poll_s)
        except Terminated:
            reason = "terminated"
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            self.snapshots.close()
        n = self.linker.n_frames if self.linker is not None else 0
        tracks = self.linker.next_label - 1 if self.linker is not None else 0
        return LiveSummary(reason=reason, n_frames=n, new_frames=len(self.files) - start, n_tracks=tracks,
                           latencies_s=list(self.latencies), out=self.out)


__all__ = ["Watcher", "CellTableText", "FrameFeed", "FrameUpdate", "LiveSummary", "live_linking", "linking_radius", "online_segmenter", "relabel", "SENTINEL", "STATE_FILE"]
