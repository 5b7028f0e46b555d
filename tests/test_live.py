"""Live tracking (celltrace.live, linking/online.py, io/snapshots.py): a writer thread fills a folder
frame by frame while a Watcher follows it; the output must be a valid CTC RES folder after every
frame, and the end result the one `celltrace track` gives on the whole sequence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

import celltrace
from celltrace.errors import CelltraceWarning, InputError, OutputExistsError
from celltrace.io.ctc import read_ctc, write_ctc_sequence
from celltrace.linking.features import object_features
from celltrace.linking.online import OnlineLinker
from celltrace.linking.standard import link_objects
from celltrace.io.snapshots import SnapshotFolder, link_or_copy
from celltrace.live import FrameFeed, Watcher
from celltrace.methods.classic import ClassicConfig
from celltrace.synth import synthetic_movie
from celltrace.tracking import Tracking, cell_table_of
from celltrace.units import scale_of
from conftest import REPO, crop_sequence

GOWT1_BOX = (200, 200, 384, 384)  # 10 tracks and 2 gap links in the first 12 frames of GOWT1 02


def write_slowly(src: Path, dst: Path, pause: float = 0.02, every: float = 0.05, sentinel: str | None = "STOP") -> None:
    """Copy the frames of ``src`` into ``dst`` one by one, each written in two halves with a pause
    between them (a reader polling meanwhile finds a truncated file), then create the sentinel."""
    for p in sorted(src.iterdir()):
        data = p.read_bytes()
        with open(dst / p.name, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
            time.sleep(pause)
            fh.write(data[len(data) // 2:])
        time.sleep(every)
    if sentinel:
        (dst / sentinel).touch()


def same_result(a: Tracking, b: Tracking) -> None:
    assert a.n_frames == b.n_frames
    assert all(np.array_equal(np.asarray(a.masks[t]), np.asarray(b.masks[t])) for t in range(a.n_frames))
    pd.testing.assert_frame_equal(a.lineage, b.lineage)


def same_links(live: Tracking, offline: Tracking, settled: int) -> None:
    """One segmentation (the same objects), the same links between them into frames before
    ``settled`` (the live linker keeps the divisions it has not decided yet when the movie ends)."""
    assert live.n_frames == offline.n_frames
    for t in range(live.n_frames):
        a, b = np.asarray(live.masks[t]), np.asarray(offline.masks[t])
        assert np.array_equal(a > 0, b > 0)
        assert len(np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)[0]) == len(np.unique(a))
    assert ({x for x in live.object_links() if x[2] < settled}
            == {x for x in offline.object_links() if x[2] < settled})


# ---------------------------------------------------------------------- real data, end to end
def test_watch_follows_a_growing_folder_and_ends_with_the_offline_result(tmp_path):
    frames = 12
    src = crop_sequence("Fluo-N2DH-GOWT1", tmp_path / "src", frames=frames, box=GOWT1_BOX)
    watched, out = tmp_path / "acquisition", tmp_path / "RES"
    watched.mkdir()
    reads = {"ok": 0, "errors": []}
    stop_reading = threading.Event()

    def reader() -> None:  # a second reader validating the output while it changes
        while not stop_reading.is_set():
            if os.path.lexists(out):
                try:
                    read_ctc(out).validate()
                    reads["ok"] += 1
                except Exception as exc:  # noqa: BLE001 -- every failure is recorded and fails the test
                    reads["errors"].append(repr(exc))
            time.sleep(0.005)

    reader_thread = threading.Thread(target=reader)
    updates = []

    def on_update(u) -> None:
        tr = read_ctc(out).validate()  # after every frame: the frames so far, valid
        assert tr.n_frames == u.frame + 1
        pd.read_csv(out / "cells.csv")
        updates.append(u)
        if len(updates) == frames:  # the session will now end and replace the versions: stop reading first
            stop_reading.set()
            reader_thread.join()

    # the two settings the offline tracker takes from the whole movie, fixed: the cell radius (live:
    # estimated on the first frame, then given to the offline run) and the motion gate (off)
    watcher = Watcher(watched, out, params={"motion_gate_factor": 0}, poll_s=0.02, on_update=on_update)
    writer = threading.Thread(target=write_slowly, args=(src, watched))
    writer.start()
    reader_thread.start()
    summary = watcher.run()
    writer.join()
    stop_reading.set()
    assert summary.reason == "sentinel" and summary.n_frames == frames and len(summary.latencies_s) == frames
    assert reads["errors"] == [] and reads["ok"] > frames
    assert out.is_dir() and not out.is_symlink() and not (tmp_path / ".RES.live").exists()
    live = read_ctc(out).validate()
    assert (live.lineage["parent"] > 0).sum() >= 1  # gap closing was exercised
    # live reports a division with the frame that shows two daughters (a published mask is final):
    # offline, the same without joining the daughters for a frame (division_join_frames), a
    # daughter back into her sister (division_piece_fraction), giving a parted cell back her track
    # (merge_split_frames) or cutting merged cells apart
    same = dict(cell_radius=watcher.linker.radius, motion_gate_factor=0, division_join_frames=0,
                division_piece_fraction=0, merge_split_frames=0, split_merged_cells=False)
    offline = celltrace.track(src, progress=False, **same)
    same_result(live, offline)  # no division here was taken back: the very same result
    # ... dim nuclei grown into their faint rims included (finish_frame): live grew them too
    plain = celltrace.track(src, progress=False, dim_rim_factor=0, **same)
    grown = sum(int(((np.asarray(live.masks[t]) > 0) & (np.asarray(plain.masks[t]) == 0)).sum()) for t in range(frames))
    assert grown > 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "cells.csv"),
                                  offline.cell_table(celltrace.open_movie(src)), check_dtype=False)


def test_watch_with_caliban_segments_as_offline(tmp_path):
    src = crop_sequence("Fluo-N2DH-GOWT1", tmp_path / "src", frames=4, box=GOWT1_BOX)
    (src / "STOP").touch()
    watcher = Watcher(src, tmp_path / "RES", method="caliban", params={"cell_radius": 25.0}, poll_s=0.01)
    assert watcher.run().reason == "sentinel"
    live = read_ctc(tmp_path / "RES").validate()
    offline = watcher.tracker.track(celltrace.open_movie(src), progress=False)  # the same settings, model loaded once
    for t in range(4):  # the same segmentation (the linker's radius is measured on the first frame only)
        a, b = np.asarray(live.masks[t]), np.asarray(offline.masks[t])
        assert np.array_equal(a > 0, b > 0) and len(np.unique(a)) == len(np.unique(b)) > 2


# ---------------------------------------------------------------------- stopping and resuming
def synthetic_sequence(folder: Path, frames: int = 24, seed: int = 3) -> Path:
    movie, _ = synthetic_movie(n_frames=frames, shape=(160, 160), n_cells=14, seed=seed)
    return write_ctc_sequence(np.asarray(movie.frames), folder)


def test_resume_continues_a_stopped_session_exactly(tmp_path):
    src = synthetic_sequence(tmp_path / "seq")
    out = tmp_path / "RES"
    first = Watcher(src, out, poll_s=0.01)
    assert len(first.step(limit=9)) == 9  # and never closed, as after a kill -9: the output is still a link
    assert out.is_symlink() and read_ctc(out).validate().n_frames == 9
    (src / "STOP").touch()
    with pytest.raises(OutputExistsError):
        Watcher(src, out)
    with pytest.raises(InputError, match="method"):
        Watcher(src, out, method="caliban", resume=True)
    resumed = Watcher(src, out, poll_s=0.01, resume=True)
    assert resumed.linker.n_frames == 9
    second = resumed.run()
    assert second.reason == "sentinel" and second.new_frames == 15 and second.n_frames == 24
    assert len(second.latencies_s) == 15
    whole = Watcher(src, tmp_path / "RES_once", poll_s=0.01).run()
    same_result(read_ctc(out).validate(), read_ctc(whole.out).validate())
    pd.testing.assert_frame_equal(pd.read_csv(out / "cells.csv"), pd.read_csv(whole.out / "cells.csv"))


def test_cells_csv_is_the_whole_table_at_every_version_though_final_rows_are_formatted_once(tmp_path):
    """Each version's cells.csv is the text of the whole cell table formatted at once, with the
    parents of that version, while the rows of final frames are formatted only once; parents that
    change after their rows were published (a division taken back, a gap link) change in it."""
    src = synthetic_sequence(tmp_path / "seq")
    (src / "STOP").touch()
    seen: dict[tuple[int, int], int] = {}
    changed = []

    def on_update(u) -> None:
        text = (tmp_path / "RES" / "cells.csv").read_text(encoding="utf-8")
        whole = cell_table_of(pd.concat(watcher.cells.frames, ignore_index=True), watcher.linker.lineage(),
                              *scale_of(watcher.scale))
        assert text == whole.to_csv(index=False, lineterminator="\n")
        for f, lab, parent in whole[["frame", "label", "parent"]].itertuples(index=False):
            if seen.setdefault((f, lab), parent) != parent:
                changed.append((f, lab))
                seen[(f, lab)] = parent
        assert watcher.cells.formatted_frames == watcher.linker.final_frames  # the rest is formatted anew

    watcher = Watcher(src, tmp_path / "RES", poll_s=0.01, pixel_size_um=(0.5, 0.5), frame_interval_s=30.0,
                      on_update=on_update)
    assert watcher.run().n_frames == 24
    assert changed  # some rows' parents changed after they were first published
    assert "y_um" in (tmp_path / "RES" / "cells.csv").read_text().partition("\n")[0]


def test_a_session_that_starts_on_blank_frames_sizes_its_cells_on_the_first_frame_that_shows_some(tmp_path):
    """Three frames of camera noise, then a movie: the radius and the linker come from the first
    frame with cells (a noise frame measured 2 px and gave a thousand "cells"), the blank frames
    stay empty, and the rest is what a session starting on the movie gives."""
    movie = synthetic_sequence(tmp_path / "movie", frames=8)
    first = tifffile.imread(movie / "t000.tif")
    level = float(np.median(first))
    noise = 1.4826 * float(np.median(np.abs(first[first <= level] - level)))
    rng = np.random.default_rng(0)
    src = tmp_path / "acquisition"
    src.mkdir()
    for t in range(3):
        blank = np.clip(rng.normal(level, max(noise, 1.0), first.shape), 0, None).astype(first.dtype)
        tifffile.imwrite(src / f"t{t:03d}.tif", blank)
    for t, f in enumerate(sorted(movie.glob("t*.tif"))):
        tifffile.imwrite(src / f"t{t + 3:03d}.tif", tifffile.imread(f))
    (src / "STOP").touch()
    (movie / "STOP").touch()
    blank_first = Watcher(src, tmp_path / "RES", poll_s=0.01)
    assert blank_first.run().n_frames == 11
    plain = Watcher(movie, tmp_path / "RES_plain", poll_s=0.01)
    plain.run()
    assert blank_first.segmentation_radius == plain.segmentation_radius > 3
    assert blank_first.linker.radius == plain.linker.radius
    a, b = read_ctc(tmp_path / "RES").validate(), read_ctc(tmp_path / "RES_plain").validate()
    assert all(not np.asarray(a.masks[t]).any() for t in range(3))
    for t in range(8):
        assert np.array_equal(np.asarray(a.masks[t + 3]) > 0, np.asarray(b.masks[t]) > 0)
    assert a.n_tracks == b.n_tracks


def test_scale_reaches_the_live_table_and_survives_resume(tmp_path):
    src = synthetic_sequence(tmp_path / "seq", frames=8)
    out = tmp_path / "RES"
    first = Watcher(src, out, poll_s=0.01, pixel_size_um=(0.5, 0.25), frame_interval_s=60.0)
    assert len(first.step(limit=4)) == 4
    resumed = Watcher(src, out, poll_s=0.01, resume=True)  # no scale given: the session's own
    (src / "STOP").touch()
    resumed.run()
    cells = pd.read_csv(out / "cells.csv")
    assert np.allclose(cells["y_um"], cells["centroid_y"] * 0.5) and np.allclose(cells["x_um"], cells["centroid_x"] * 0.25)
    assert np.allclose(cells["area_um2"], cells["area"] * 0.125) and np.allclose(cells["time_s"], cells["frame"] * 60.0)
    record = json.loads((out / "run.json").read_text())
    assert record["pixel_size_um"] == [0.5, 0.25] and record["frame_interval_s"] == 60.0
    assert read_ctc(out).meta["frame_interval_s"] == 60.0


def test_idle_timeout_ends_a_session_without_frames(tmp_path):
    (tmp_path / "empty").mkdir()
    t0 = time.monotonic()
    summary = Watcher(tmp_path / "empty", tmp_path / "RES", poll_s=0.02, idle_timeout_s=0.2).run()
    assert summary.reason == "idle" and summary.n_frames == 0 and time.monotonic() - t0 < 5
    assert not os.path.lexists(tmp_path / "RES")
    with pytest.raises(InputError, match="no live session to resume"):
        Watcher(tmp_path / "empty", tmp_path / "RES", resume=True)


def test_cli_watch_stops_on_ctrl_c_and_resumes(tmp_path):
    src = synthetic_sequence(tmp_path / "seq", frames=16, seed=5)
    watched, out = tmp_path / "acquisition", tmp_path / "RES"
    watched.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "celltrace.cli", "watch", str(watched), "--out", str(out), "--poll", "0.02"]
    files = sorted(src.iterdir())
    for p in files[:8]:
        (watched / p.name).write_bytes(p.read_bytes())
    proc = subprocess.Popen(cmd + ["--param", "motion_gate_factor=0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.is_symlink() and len(list(out.glob("mask*.tif"))) >= 6):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "stopped by Ctrl-C" in stdout
    stopped = read_ctc(out).validate()
    assert 6 <= stopped.n_frames <= 8 and not out.is_symlink()
    writer = threading.Thread(target=write_slowly, args=(src, watched), kwargs={"every": 0.0, "pause": 0.0})
    writer.start()  # rewrites the first frames (ignored: already taken) and adds the rest
    # the parameters are the saved session's
    done = subprocess.run(cmd + ["--resume", "--quiet"], env=env, capture_output=True, text=True, timeout=120)
    writer.join()
    assert done.returncode == 0, done.stderr
    final = read_ctc(out).validate()
    radius = json.loads((out / "run.json").read_text())["derived"]["cell_radius"]
    # divisions taken back online and offline alike; the daughter that stays continues her mother
    # under a new label online (the mother's label was written), so compare the links between objects
    offline = celltrace.track(src, progress=False, cell_radius=radius, motion_gate_factor=0, division_join_frames=0,
                              division_piece_fraction=0, merge_split_frames=0, split_merged_cells=False)
    same_links(final, offline, settled=final.n_frames - OnlineLinker(ClassicConfig(), radius).lineage_delay)


# ---------------------------------------------------------------------- the parts
def link_offline_and_online(seg: np.ndarray, config: ClassicConfig, radius: float, restore_at: int | None = None
                            ) -> tuple[Tracking, Tracking, OnlineLinker, float]:
    """The objects of ``seg`` linked by the standard (offline) linker and by the online one, frame
    by frame (saved and restored after frame ``restore_at``): ``(online, offline, the online
    linker, the offline motion)``."""
    objects = [object_features(s) for s in seg]
    links, motion = link_objects(config, objects, radius)
    offline = Tracking.from_links(seg, links, labels_per_frame=[o["label"].to_numpy() for o in objects])
    linker = OnlineLinker(config, radius)
    masks = []
    for t, o in enumerate(objects):
        tracks = linker.add(o)
        lut = np.zeros(seg[t].max() + 1, np.int64)
        lut[o["label"].to_numpy()] = tracks
        masks.append(lut[seg[t]])
        if t == restore_at:  # save and restore: the same continuation
            scalars, arrays = linker.state()
            linker = OnlineLinker.from_state(config, scalars, arrays)
    return Tracking(masks=np.stack(masks), lineage=linker.lineage()).validate(), offline, linker, motion


def test_online_linker_makes_the_offline_links(tmp_path):
    _, gt = synthetic_movie(n_frames=30, shape=(200, 200), n_cells=20, seed=1)
    seg = np.asarray(gt.masks).copy()
    rng = np.random.default_rng(0)
    for t in range(2, 28, 2):  # objects missing for a frame: gaps to close
        labels = np.unique(seg[t])[1:]
        seg[t][seg[t] == rng.choice(labels)] = 0
    config = ClassicConfig(division_min_branch_frames=0)  # online, no division is taken back
    online, offline, linker, motion = link_offline_and_online(seg, config, 8.0, restore_at=14)
    assert linker.delay == config.max_gap + 1 and linker.motion == pytest.approx(motion)
    assert (offline.lineage["parent"] > 0).sum() >= 3
    same_result(online, offline)


def test_online_linker_closes_a_jump_as_the_offline_linker_does():
    """A cell that moves 14 px in one frame (frame gate r = 10, gap gate 1.5 r): both linkers join
    her end to her start in the next frame (``close_jumps``), offline in one track, online under a
    new label whose parent is her first track (that frame's label was already written)."""
    yy, xx = np.mgrid[:60, :120]
    centres = [20, 23, 26, 40, 43, 46]  # the jump: 26 -> 40
    seg = np.stack([((yy - 30) ** 2 + (xx - c) ** 2 <= 36).astype(np.int32) for c in centres])
    seg[:, 5:12, 100:107] = 2  # a second, still cell
    config = ClassicConfig(motion_gate_factor=0)
    assert config.close_jumps
    online, offline, _, _ = link_offline_and_online(seg, config, 10.0)
    assert len(offline.lineage) == 2 and len(online.lineage) == 3
    jumped = online.lineage[online.lineage["begin"] == 3].iloc[0]
    assert jumped["parent"] == online.lineage[online.lineage["end"] == 2].iloc[0]["label"]
    assert set(online.object_links()) == set(offline.object_links())
    objects = [object_features(s) for s in seg]
    no_jumps, _ = link_objects(ClassicConfig(motion_gate_factor=0, close_jumps=False), objects, 10.0)
    assert len(no_jumps) == len(set(offline.object_links())) - 1


def test_online_linker_takes_back_the_divisions_the_offline_linker_takes_back():
    """SIM+ 02's annotated cells (frames 100–149: 25 divisions), some missing for a frame (gaps),
    some cut in two for a frame (a "daughter" that vanishes at once), linked with the default settings (``division_min_branch_frames`` 3): the online linker decides
    each division 5 frames after it and makes the offline links between objects, save/restore
    halfway included."""
    from conftest import ctc_gt
    from celltrace.io.tiff import read_frame

    tra = ctc_gt("Fluo-N2DH-SIM+") / "TRA"
    seg = [read_frame(tra / f"man_track{t:03d}.tif") for t in range(100, 150)]
    rng = np.random.default_rng(0)
    for t in range(3, 45, 3):  # a cell missing for a frame (gaps), another cut in two for a frame
        labels = np.unique(seg[t])[1:]
        gone, cut = rng.choice(labels, 2, replace=False)
        seg[t] = np.where(seg[t] == gone, 0, seg[t])
        cell = seg[t] == cut
        xs = np.nonzero(cell)[1]
        seg[t] = np.where(cell & (np.arange(seg[t].shape[1]) > np.median(xs))[None, :], seg[t].max() + 1, seg[t])
    objects = [object_features(s) for s in seg]
    config = ClassicConfig()
    assert config.division_min_branch_frames == 3
    links, _ = link_objects(config, objects, 17.0)
    kept_all, _ = link_objects(ClassicConfig(division_min_branch_frames=0), objects, 17.0)
    linker = OnlineLinker(config, 17.0)
    track_of = []
    for t, o in enumerate(objects):
        track_of.append(dict(zip(o["label"].tolist(), linker.add(o).tolist())))
        if t == 25:
            linker = OnlineLinker.from_state(config, *linker.state())
    T, settled = len(objects), len(objects) - linker.division_delay
    assert linker.division_delay == 5 and linker.final_frames == T - 5
    obj = [{track: lab for lab, track in frame.items()} for frame in track_of]
    online = set()
    for t in range(T - 1):
        online |= {(t, obj[t][k], t + 1, obj[t + 1][k]) for k in obj[t].keys() & obj[t + 1].keys()}
    for lab, b, e, parent in linker.lineage().itertuples(index=False):
        if parent > 0:
            pe = int(linker.tracks[parent][1])
            online.add((pe, obj[pe][parent], b, obj[b][lab]))

    def before(rows) -> set:
        return {tuple(int(v) for v in r) for r in rows if r[2] < settled}

    def n_divisions(rows) -> int:
        _, counts = np.unique(rows[:, 0] * 10_000 + rows[:, 1], return_counts=True)
        return int((counts == 2).sum())

    assert n_divisions(kept_all) - n_divisions(links) >= 2  # the offline linker took some back
    assert {x for x in online if x[2] < settled} == before(links)


def test_frame_feed_takes_a_file_only_once_complete(tmp_path):
    frame = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 251)
    tifffile.imwrite(tmp_path / "whole.tif", frame)
    data = (tmp_path / "whole.tif").read_bytes()
    watched = tmp_path / "w"
    watched.mkdir()
    feed = FrameFeed(watched, broken_after_s=0.3)
    (watched / "img_1.tif").write_bytes(data[:100])
    assert feed.ready() == [] and feed.ready() == []  # unchanged but unreadable: still being written
    with open(watched / "img_1.tif", "ab") as fh:
        fh.write(data[100:])
    assert feed.ready() == []  # changed since the last look
    (number, path, image), = feed.ready()  # unchanged for two looks and readable
    assert number == 1 and path.name == "img_1.tif" and np.array_equal(image, frame)
    tifffile.imwrite(watched / "img_2.tif", frame)
    tifffile.imwrite(watched / "img_3.tif", frame)
    assert [n for n, _, _ in feed.ready()] == [2]  # a later file exists: 2 is complete; 3 not yet
    tifffile.imwrite(watched / "img_0.tif", frame)
    with pytest.warns(CelltraceWarning, match="img_0.tif: appeared after frame 2"):
        assert [n for n, _, _ in feed.ready()] == [3]
    tifffile.imwrite(watched / "img_4.tif", frame[:32])
    feed.ready()
    with pytest.raises(InputError, match=r"img_4.tif: frame of shape \(32, 64\) differs"):
        for _ in range(40):
            feed.ready()
            time.sleep(0.02)


def test_output_versions_replace_a_folder_and_stay_for_their_readers(tmp_path):
    out = tmp_path / "RES"
    out.mkdir()
    (out / "old.txt").write_text("an earlier result (--overwrite)")
    snapshots = SnapshotFolder(out, keep_s=60)
    with snapshots.version() as v:
        (v / "a.txt").write_text("1")
    assert out.is_symlink() and sorted(p.name for p in out.iterdir()) == ["a.txt"]
    pinned = Path(os.path.realpath(out))  # a reader on the first version
    with snapshots.version() as v:
        link_or_copy(pinned / "a.txt", v / "a.txt")
        (v / "b.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    assert (pinned / "a.txt").read_text() == "1"  # still there for that reader
    with pytest.raises(RuntimeError):
        with snapshots.version() as v:
            (v / "c.txt").write_text("3")
            raise RuntimeError("failed while writing")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]  # the failed version never shows
    snapshots.prune(keep_s=0)
    assert not pinned.exists()
    snapshots.close()
    assert out.is_dir() and not out.is_symlink() and sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RES"]  # no version, link or temporary left
