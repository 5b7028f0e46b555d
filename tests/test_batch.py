"""celltrace batch on a real 2-worker dask LocalCluster: real sequences (crops of the 02 sequences
and PSC), a corrupt file and a movie without cells; a worker killed while it tracks; resuming."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile

import celltrace
from celltrace import Tracking
from celltrace.api import track_to_folder
from celltrace.batch import BATCH_FILE, COLUMNS, MovieJob, find_movies, local_cluster
from celltrace.cli import main
from celltrace.errors import InputError
from conftest import DATASETS, crop_sequence, extra

BOX = (200, 200, 160, 160)


@pytest.fixture(scope="module")
def client():
    """A real LocalCluster of 2 worker processes, as ``celltrace batch --workers 2`` starts it."""
    from distributed import Client

    cluster = local_cluster(workers=2)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """``data/<dataset>/02``: 4-frame crops of the three 02 sequences and of PSC; ``data/corrupt.tif``
    (a TIFF header and garbage); ``data/blank.tif`` (3 flat frames: no cells)."""
    root = tmp_path_factory.mktemp("batch-data")
    for dataset in DATASETS:
        crop_sequence(dataset, root / dataset / "02", frames=4, box=BOX)
    psc = root / "PhC-C2DL-PSC" / "02"
    psc.mkdir(parents=True)
    y, x, h, w = BOX
    for t in range(4):
        tifffile.imwrite(psc / f"t{t:03d}.tif", tifffile.imread(extra("PhC-C2DL-PSC") / "02" / f"t{t:03d}.tif")[y:y + h, x:x + w])
    (root / "corrupt.tif").write_bytes(b"II*\x00" + b"\x07" * 100)
    tifffile.imwrite(root / "blank.tif", np.full((3, 64, 64), 10, np.uint16), photometric="minisblack")
    return root


def same_result(a: Path, b: Path) -> bool:
    """The two result folders hold the same masks, lineage and cell table."""
    ra, rb = Tracking.from_ctc(a), Tracking.from_ctc(b)
    return (ra.lineage.equals(rb.lineage) and np.array_equal(np.asarray(ra.masks), np.asarray(rb.masks))
            and (a / "cells.csv").read_text() == (b / "cells.csv").read_text())


def test_batch_tracks_real_sequences_records_failures_and_resumes(client, data, tmp_path):
    out = tmp_path / "out"
    table = celltrace.batch([data], out, client=client, progress=False)
    assert list(table.columns) == COLUMNS
    saved = pd.read_csv(out / BATCH_FILE, keep_default_na=False)
    assert list(saved["movie"]) == list(table["movie"]) and list(saved["status"]) == list(table["status"])
    by_name = {Path(m).relative_to(data).as_posix(): r for m, r in zip(table["movie"], table.to_dict("records"))}
    assert set(by_name) == {f"{d}/02" for d in [*DATASETS, "PhC-C2DL-PSC"]} | {"corrupt.tif", "blank.tif"}
    for dataset in [*DATASETS, "PhC-C2DL-PSC"]:
        r = by_name[f"{dataset}/02"]
        res = out / dataset / "02_RES"  # the CTC layout: celltrace evaluate reads OUT/<dataset> against GT
        assert r["status"] == "done" and r["out"] == str(res) and r["frames"] == 4 and r["error"] == ""
        result = Tracking.from_ctc(res).validate()
        assert result.n_tracks == r["tracks"] > 0 and len(result.divisions()) == r["divisions"]
        record = json.loads((res / "run.json").read_text())
        assert record["method"] == "classic" and record["n_tracks"] == r["tracks"]
        assert len(pd.read_csv(res / "cells.csv")) == sum(len(np.unique(f)) - 1 for f in np.asarray(result.masks))
    corrupt, blank = by_name["corrupt.tif"], by_name["blank.tif"]
    assert corrupt["status"] == "failed" and corrupt["error"].startswith(f"{data / 'corrupt.tif'}: not a readable TIFF")
    assert "\n" not in corrupt["error"] and not (out / "corrupt").exists()
    assert blank["status"] == "failed" and "no cells found" in blank["error"]
    # a worker's result equals tracking the movie here
    direct = tmp_path / "direct"
    track_to_folder(data / "Fluo-N2DH-SIM+" / "02", direct, progress=False)
    assert same_result(direct, out / "Fluo-N2DH-SIM+" / "02_RES")

    # run again: finished movies are skipped (outputs untouched), failures are tried again
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != BATCH_FILE}
    again = celltrace.batch([data], out, client=client, progress=False)
    assert list(again["status"]) == ["skipped" if s == "done" else s for s in table["status"]]
    assert again[["frames", "tracks", "divisions"]].equals(table[["frames", "tracks", "divisions"]])
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != BATCH_FILE} == stamps


def test_a_worker_killed_while_tracking_loses_nothing(client, data, tmp_path):
    movies = [crop_sequence(d, tmp_path / "long" / d / "02", frames=8, box=(100, 100, 288, 288))
              for d in ("Fluo-N2DH-SIM+", "Fluo-N2DH-GOWT1")]
    pids = client.run(os.getpid)  # worker address -> process id
    killed: list[int] = []

    def kill_a_worker_while_it_segments() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for pid in pids.values():  # a worker's segmentation scratch folder: it is tracking now
                if any(n.startswith(f"celltrace-seg-{pid}-") for n in os.listdir(tempfile.gettempdir())):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_worker_while_it_segments)
    killer.start()
    table = celltrace.batch(movies, tmp_path / "out", client=client, progress=False)
    killer.join()
    assert killed and killed[0] not in client.run(os.getpid).values()  # really killed (the nanny restarted it)
    assert list(table["status"]) == ["done", "done"]
    for movie, res in zip(movies, table["out"]):
        track_to_folder(movie, tmp_path / "direct" / movie.parent.name, progress=False)
        assert same_result(tmp_path / "direct" / movie.parent.name, Path(res))
        assert not [p for p in Path(res).parent.iterdir() if p.name.startswith(".")]  # no unfinished output left


def test_cli_batch_on_a_running_cluster_from_a_csv_list(client, data, tmp_path, capsys):
    listing = tmp_path / "movies.csv"
    listing.write_text(f"movie,out\n{data / 'Fluo-C2DL-MSC' / '02'},msc\n{data / 'PhC-C2DL-PSC' / '02'},\n")
    out = tmp_path / "out"
    args = ["batch", str(listing), "--out", str(out), "--scheduler", client.scheduler.address, "-q"]
    assert main(args) == 0
    table = pd.read_csv(out / BATCH_FILE)
    assert list(table["out"]) == [str(out / "msc"), str(out / "PhC-C2DL-PSC" / "02_RES")]
    assert list(table["status"]) == ["done", "done"]
    # a complete result made with other parameters is not taken for this run's
    assert main([*args, "--param", "threshold_factor=0.8"]) == 1
    err = capsys.readouterr().err
    assert "use --overwrite" in err and err.count("\n") == 2
    assert main([*args, "--param", "threshold_factor=0.8", "--overwrite"]) == 0
    record = json.loads((out / "msc" / "run.json").read_text())
    assert record["overrides"] == {"threshold_factor": 0.8} and "celltrace batch" in record["command"]
    # each worker's numerical threads: the cores shared out among the 2 workers
    assert set(client.run(lambda: os.environ["OMP_NUM_THREADS"]).values()) == {str(max(1, os.cpu_count() // 2))}


def test_find_movies_in_folders_ctc_datasets_and_csv_lists(tmp_path):
    ds = tmp_path / "Fluo-X"
    for name in ("02", "01_RES", "02_GT/TRA"):
        (ds / name).mkdir(parents=True)
    for t in range(2):
        tifffile.imwrite(ds / "02" / f"t{t:03d}.tif", np.zeros((8, 8), np.uint8))
        tifffile.imwrite(ds / "01_RES" / f"mask{t:03d}.tif", np.zeros((8, 8), np.uint16))
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    for name in ("a.tif", "b.tiff"):
        tifffile.imwrite(stacks / name, np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    (stacks / "broken.tif").write_bytes(b"not a tiff")
    out = tmp_path / "out"
    (out / "movie").mkdir(parents=True)  # an earlier result in the output folder is no movie
    tifffile.imwrite(out / "movie" / "mask000.tif", np.zeros((8, 8), np.uint16))
    assert find_movies([ds], out) == [MovieJob(ds / "02", out / "Fluo-X" / "02_RES")]
    assert find_movies([tmp_path], out) == [MovieJob(ds / "02", out / "Fluo-X" / "02_RES")] + \
        [MovieJob(stacks / n, out / s) for n, s in (("a.tif", "a"), ("b.tiff", "b"), ("broken.tif", "broken"))]
    listing = stacks / "list.csv"
    listing.write_text("movie,out,masks\na.tif,first\n\nb.tiff,,../Fluo-X/02\n")
    assert find_movies([listing, tmp_path / "missing.tif"], out) == [
        MovieJob(stacks / "a.tif", out / "first"), MovieJob(stacks / "b.tiff", out / "b", ds / "02"),
        MovieJob(tmp_path / "missing.tif", out / "missing")]
    with pytest.raises(InputError, match=r"two movies would write here: .*a\.tif and .*a\.tif"):
        find_movies([stacks / "a.tif", stacks / "a.tif"], out)
    listing.write_text("a.tif,x,y,z\n")
    with pytest.raises(InputError, match=r"list\.csv: line 1: expected 'movie,out\[,masks\]'"):
        find_movies([listing], out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: holds no movies"):
        find_movies([tmp_path / "empty"], out)
