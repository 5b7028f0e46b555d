"""Result formats checked by independent consumers (lxml for TrackMate XML, the geff validator,
the ome-zarr reader, deepcell-tracking's documented .trk layout), files from other tools, the
registry (detection, convert, info, the napari reader) and one-line errors for broken files."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import geff
import networkx as nx
import numpy as np
import pytest
from conftest import ctc_gt
from lxml import etree

from celltrace.cli import CONVERT_TARGETS, RESULT_TARGETS, main
from celltrace.errors import InputError
from celltrace.io.formats import FORMATS, detect_format, read_result, write_result
from celltrace.io.geff import read_geff, write_geff
from celltrace.io.omezarr import read_omezarr, write_omezarr
from celltrace.io.table import read_cell_table
from celltrace.io.trackmate import read_trackmate, write_trackmate
from celltrace.io.trk import read_trk, write_trk
from celltrace.napari._reader import get_reader
from celltrace.synth import synthetic_movie
from celltrace.tracking import Tracking


@pytest.fixture(scope="module")
def synth() -> tuple:
    """A 12-frame synthetic movie with a division, and its ground truth with units."""
    movie, gt = synthetic_movie(n_frames=12, shape=(96, 96), n_cells=4, seed=0)
    gt = Tracking(masks=np.asarray(gt.masks), lineage=gt.lineage, meta={"pixel_size_um": (0.5, 0.5), "frame_interval_s": 30.0})
    assert len(gt.divisions()) == 1
    return movie, gt


def gap_tracking() -> Tracking:
    """Label 1 in frames 0-1, its gap continuation 2 in frames 3-4; label 3 divides into 4 and 5."""
    masks = np.zeros((5, 20, 30), np.uint16)
    masks[0:2, 2:6, 2:6] = 1
    masks[3:5, 2:6, 3:7] = 2
    masks[0:2, 10:16, 10:16] = 3
    masks[2:5, 10:13, 10:14] = 4
    masks[2:5, 14:18, 10:14] = 5
    lineage = [(1, 0, 1, 0), (2, 3, 4, 1), (3, 0, 1, 0), (4, 2, 4, 3), (5, 2, 4, 3)]
    return Tracking(masks=masks, lineage=lineage).validate()


# ---------------------------------------------------------------------- TrackMate XML
def test_trackmate_xml_has_the_structure_trackmate_reads(synth, tmp_path):
    _, gt = synth
    path = write_trackmate(gt, tmp_path / "t.xml", image_name="/data/movie.tif")
    root = etree.parse(str(path)).getroot()                      # an independent parser
    cells = gt.cell_table()
    assert root.tag == "TrackMate" and root.get("version")
    model = root.find("Model")
    assert model.get("spatialunits") == "µm" and model.get("timeunits") == "s"
    spots = root.findall("Model/AllSpots/SpotsInFrame/Spot")
    assert len(spots) == len(cells) == int(root.find("Model/AllSpots").get("nspots"))
    ids = [int(s.get("ID")) for s in spots]
    assert len(set(ids)) == len(ids)
    for s in spots:
        for attr in ("name", "POSITION_X", "POSITION_Y", "POSITION_Z", "POSITION_T", "FRAME", "RADIUS",
                     "QUALITY", "VISIBILITY"):
            assert s.get(attr) is not None, attr
        assert float(s.get("POSITION_T")) == pytest.approx(30.0 * int(s.get("FRAME")))
    by_id = {int(s.get("ID")): s for s in spots}
    first = cells.iloc[0]
    spot0 = next(s for s in spots if int(s.get("CELLTRACE_LABEL")) == first.label and int(s.get("FRAME")) == first.frame)
    assert float(spot0.get("POSITION_X")) == pytest.approx(first.centroid_x * 0.5)   # calibrated µm
    edges = root.findall("Model/AllTracks/Track/Edge")
    lin = gt.lineage
    assert len(edges) == int((lin.end - lin.begin).sum() + (lin.parent > 0).sum())
    for e in edges:
        assert {"SPOT_SOURCE_ID", "SPOT_TARGET_ID", "LINK_COST"} <= set(e.attrib)
        assert int(by_id[int(e.get("SPOT_SOURCE_ID"))].get("FRAME")) < int(by_id[int(e.get("SPOT_TARGET_ID"))].get("FRAME"))
    sources = [int(e.get("SPOT_SOURCE_ID")) for e in edges]
    splits = [s for s in set(sources) if sources.count(s) == 2]
    assert len(splits) == 1 and max(sources.count(s) for s in set(sources)) == 2   # the division
    tracks = root.findall("Model/AllTracks/Track")
    assert {t.get("TRACK_ID") for t in tracks} == {t.get("TRACK_ID") for t in root.findall("Model/FilteredTracks/TrackID")}
    assert all(t.get("name") for t in tracks)
    image = root.find("Settings/ImageData")
    assert (image.get("filename"), image.get("folder")) == ("movie.tif", "/data")
    assert (image.get("width"), image.get("height"), image.get("nframes")) == ("96", "96", "12")
    assert float(image.get("pixelwidth")) == 0.5 and float(image.get("timeinterval")) == 30.0


def test_trackmate_file_from_trackmate_itself_gets_lineage_from_edges(synth, tmp_path):
    _, gt = synth
    root = etree.parse(str(write_trackmate(gt, tmp_path / "t.xml"))).getroot()
    for spot in root.iter("Spot"):                      # TrackMate's own files have no celltrace label
        del spot.attrib["CELLTRACE_LABEL"]
    etree.ElementTree(root).write(str(tmp_path / "fiji.xml"))
    back = read_trackmate(tmp_path / "fiji.xml").validate()
    assert back.n_tracks == gt.n_tracks and len(back.divisions()) == 1
    assert sorted((back.lineage.end - back.lineage.begin).tolist()) == sorted((gt.lineage.end - gt.lineage.begin).tolist())


def test_trackmate_without_units_is_in_pixels_and_frames(tmp_path):
    tr = gap_tracking()
    root = etree.parse(str(write_trackmate(tr, tmp_path / "t.xml"))).getroot()
    assert root.find("Model").get("spatialunits") == "pixel" and root.find("Model").get("timeunits") == "frame"
    back = read_trackmate(tmp_path / "t.xml")
    assert back.lineage.equals(tr.lineage) and "pixel_size_um" not in back.meta
    assert len(root.findall("Model/AllTracks/Track")) == 2      # the gap edge joins 1 → 2 in one track


# ---------------------------------------------------------------------- GEFF
def test_geff_passes_the_geff_validator_and_foreign_graphs_read(synth, tmp_path):
    _, gt = synth
    path = write_geff(gt, tmp_path / "g.geff")
    geff.validate_structure(str(path))                          # raises if invalid
    graph, meta = geff.read(str(path))
    assert meta.track_node_props == {"tracklet": "track_id"} and meta.sphere == "radius"
    assert [a.unit for a in meta.axes] == ["second", "micrometer", "micrometer"]
    # a graph from another tool: positions and edges only, no track ids
    plain = nx.DiGraph()
    plain.add_nodes_from((n, {k: d[k] for k in ("t", "y", "x")}) for n, d in graph.nodes(data=True))
    plain.add_edges_from(graph.edges())
    geff.write(plain, str(tmp_path / "other.zarr"), axis_names=["t", "y", "x"], axis_types=["time", "space", "space"])
    back = read_geff(tmp_path / "other.zarr").validate()
    assert back.n_tracks == gt.n_tracks and len(back.divisions()) == 1 and back.shape[0] == gt.n_frames


# ---------------------------------------------------------------------- OME-Zarr
def test_omezarr_opens_in_the_ome_zarr_reader(synth, tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    movie, gt = synth
    path = write_omezarr(gt, tmp_path / "r.ome.zarr", movie=movie)
    nodes = list(Reader(parse_url(str(path)))())
    image = next(n for n in nodes if n.metadata.get("name") == "raw")
    label = next(n for n in nodes if n.metadata.get("name") == "tracks")
    assert np.array_equal(np.asarray(image.data[0]), np.asarray(movie))
    assert np.array_equal(np.asarray(label.data[0]), np.asarray(gt.masks))
    assert [a["unit"] for a in label.metadata["axes"]] == ["second", "micrometer", "micrometer"]
    back = read_omezarr(path)
    assert back.lineage.equals(gt.lineage) and back.meta["pixel_size_um"] == (0.5, 0.5)


# ---------------------------------------------------------------------- DeepCell .trk
def test_trk_has_deepcell_layout_and_keeps_gaps_apart_from_divisions(tmp_path):
    tr = gap_tracking()
    raw = np.arange(5 * 20 * 30, dtype=np.uint16).reshape(5, 20, 30)
    path = write_trk(tr, tmp_path / "r.trk", movie=raw)
    with tarfile.open(path) as tar:
        assert set(tar.getnames()) == {"raw.npy", "tracked.npy", "lineage.json"}
        lineage = json.loads(tar.extractfile("lineage.json").read())
        tracked = np.load(io.BytesIO(tar.extractfile("tracked.npy").read()))
        stored_raw = np.load(io.BytesIO(tar.extractfile("raw.npy").read()))
    assert tracked.shape == stored_raw.shape == (5, 20, 30, 1) and tracked.dtype == np.int32
    assert np.array_equal(stored_raw[..., 0], raw)
    # deepcell-tracking's is_valid_lineage rules: frames are where the label is; daughters begin
    # the frame after the mother ends; parent names a listed mother
    for key, cell in lineage.items():
        assert set(cell) >= {"label", "frames", "parent", "daughters", "frame_div", "capped"}
        assert cell["frames"] == np.flatnonzero((tracked[..., 0] == int(key)).any(axis=(1, 2))).tolist()
        for d in cell["daughters"]:
            assert lineage[str(d)]["frames"][0] == cell["frames"][-1] + 1 and lineage[str(d)]["parent"] == int(key)
    assert lineage["3"]["daughters"] == [4, 5] and lineage["3"]["capped"] and lineage["3"]["frame_div"] == 2
    assert lineage["2"]["parent"] is None and lineage["2"]["gap_parent"] == 1     # a gap is no division
    back = read_trk(path)
    assert back.lineage.equals(tr.lineage) and np.array_equal(np.asarray(back.masks), np.asarray(tr.masks))
    assert np.array_equal(back.meta["raw"], raw)


def test_trk_from_deepcell_with_holes_in_frames_is_split(tmp_path):
    tracked = np.zeros((4, 8, 8, 1), np.int32)
    tracked[[0, 1, 3], 1:3, 1:3] = 7
    lineage = {"7": {"label": 7, "frames": [0, 1, 3], "parent": None, "daughters": [], "frame_div": None, "capped": False}}
    path = tmp_path / "dc.trk"
    _write_tar(path, {"lineage.json": json.dumps(lineage).encode(), "raw.npy": _npy(np.zeros_like(tracked)),
                      "tracked.npy": _npy(tracked)})
    back = read_trk(path).validate()
    assert back.lineage.values.tolist() == [[7, 0, 1, 0], [8, 3, 3, 7]]
    assert (np.asarray(back.masks)[3] == 8).sum() == 4


# ---------------------------------------------------------------------- CSV
def test_csv_with_and_without_unit_columns(synth, tmp_path):
    movie, gt = synth
    Tracking(masks=gt.masks, lineage=gt.lineage).to_csv(tmp_path / "cells.csv", movie)  # no scale: no unit columns
    back = read_cell_table(tmp_path / "cells.csv", shape=gt.shape)
    assert back.lineage.equals(gt.lineage) and "pixel_size_um" not in back.meta
    assert "mean_intensity" in back.points                     # other columns are kept
    table = gt.cell_table()
    table["y_um"], table["x_um"] = table.centroid_y * 0.5, table.centroid_x * 0.5
    table["area_um2"], table["time_s"] = table.area * 0.25, table.frame * 30.0
    table.to_csv(tmp_path / "units.csv", index=False)
    back = read_cell_table(tmp_path / "units.csv")
    assert back.meta["pixel_size_um"] == pytest.approx((0.5, 0.5)) and back.meta["frame_interval_s"] == pytest.approx(30.0)
    assert back.lineage.equals(gt.lineage) and back.shape[0] == gt.n_frames
    assert back.validate() is back


# ---------------------------------------------------------------------- registry, convert, info, napari
def test_registry_names_the_cli_targets():
    assert tuple(FORMATS) == RESULT_TARGETS and set(RESULT_TARGETS) <= set(CONVERT_TARGETS)


def test_every_format_is_read_by_convert_info_and_the_napari_reader(tmp_path, capsys):
    src = tmp_path / "src"
    write_result(gap_tracking(), src, "ctc-res")
    outputs = {}
    for to in RESULT_TARGETS:
        assert main(["convert", str(src), str(tmp_path / f"out-{to}"), "--to", to, "-q"]) == 0
        outputs[to] = next(p for p in tmp_path.iterdir() if p.name.startswith(f"out-{to}"))
        assert detect_format(outputs[to]) == to
    ref = gap_tracking()
    for name, path in outputs.items():
        for to in ("ctc-res", "trackmate"):
            dst = tmp_path / f"back-{name}-{to}"
            assert main(["convert", str(path), str(dst), "--to", to, "-q"]) == 0, name
        back = read_result(tmp_path / f"back-{name}-ctc-res")
        assert back.lineage.equals(ref.lineage), name
        if FORMATS[name].masks:
            assert np.array_equal(np.asarray(back.masks), np.asarray(ref.masks)), name
        assert main(["info", str(path)]) == 0
        out = capsys.readouterr().out
        assert "tracks     5" in out and "divisions  1" in out and "valid" in out, (name, out)
        layers = get_reader(str(path))(str(path))             # the napari reader opens every format
        assert [kind for _, _, kind in layers] == ["labels", "tracks"], name


def test_convert_takes_frame_size_from_movie_for_formats_without_it(synth, tmp_path):
    movie, gt = synth
    write_result(gt, tmp_path / "m.txt", "mot")
    write_result(gt, tmp_path / "src", "ctc-res")
    from celltrace.io.ctc import write_ctc_sequence

    write_ctc_sequence(movie.frames, tmp_path / "seq")
    assert main(["convert", str(tmp_path / "m.txt"), str(tmp_path / "res"), "--to", "ctc-res", "--movie",
                 str(tmp_path / "seq"), "-q"]) == 0
    assert read_result(tmp_path / "res").shape == gt.shape


# ---------------------------------------------------------------------- bad files: one line each
def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _write_tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _one_line(path, says: str, read=read_result) -> None:
    with pytest.raises(InputError) as err:
        read(path)
    msg = str(err.value)
    assert says in msg and str(path) in msg and "\n" not in msg, msg


def test_broken_files_give_one_line_naming_the_file(tmp_path):
    tr = gap_tracking()
    # OME-Zarr whose label array lost its metadata (a truncated copy)
    store = write_omezarr(tr, tmp_path / "cut.ome.zarr")
    (store / "labels" / "tracks" / "s0" / "zarr.json").unlink()
    _one_line(store, "label image 'tracks' is incomplete")
    shutil.rmtree(store / "labels" / "tracks")
    _one_line(store, "label image 'tracks' is incomplete")
    # TrackMate XML: a spot without a position, an edge to a missing spot, not XML at all
    xml = write_trackmate(tr, tmp_path / "t.xml").read_text()
    (tmp_path / "nox.xml").write_text(xml.replace('POSITION_X="', 'POSITION_Q="', 1))
    _one_line(tmp_path / "nox.xml", "has no POSITION_X attribute")
    (tmp_path / "edge.xml").write_text(xml.replace('SPOT_TARGET_ID="', 'SPOT_TARGET_ID="9', 1))
    _one_line(tmp_path / "edge.xml", "which is not in AllSpots")
    (tmp_path / "cut.xml").write_text(xml[: len(xml) // 2])
    _one_line(tmp_path / "cut.xml", "not readable XML")
    # .trk without lineage, and a .trk that is no tar
    _write_tar(tmp_path / "nolin.trk", {"raw.npy": _npy(np.zeros((1, 4, 4, 1))), "tracked.npy": _npy(np.zeros((1, 4, 4, 1), np.int32))})
    _one_line(tmp_path / "nolin.trk", "no lineage.json inside")
    lineage = json.dumps({"1": {"label": 1, "frames": [0], "parent": None, "daughters": []}}).encode()
    _write_tar(tmp_path / "float.trk", {"lineage.json": lineage, "tracked.npy": _npy(np.ones((1, 4, 4, 1)))})
    _one_line(tmp_path / "float.trk", "tracked.npy inside is not a readable .npy array (dtype float64; labels must be integers)")
    (tmp_path / "junk.trk").write_bytes(b"not a tar")
    _one_line(tmp_path / "junk.trk", "not a readable .trk")
    # GEFF store with a missing node array, CSV without the needed columns, a napari npz without data
    g = write_geff(tr, tmp_path / "g.geff")
    shutil.rmtree(g / "nodes" / "ids")
    _one_line(g, "not a valid GEFF store")
    (tmp_path / "c.csv").write_text("frame,label,x\n0,1,2\n")
    _one_line(tmp_path / "c.csv", "missing column(s) centroid_y, centroid_x")
    np.savez(tmp_path / "n.npz", other=np.zeros(3))
    _one_line(tmp_path / "n.npz", "no 'data' array inside")
    # formats celltrace does not know
    (tmp_path / "x.json").write_text("{}")
    _one_line(tmp_path / "x.json", "not a result file celltrace knows")
    (tmp_path / "folder").mkdir()
    _one_line(tmp_path / "folder", "not a result folder celltrace knows")


def test_real_gt_window_converts_to_every_format_and_back(tmp_path):
    gt = read_result(ctc_gt("Fluo-N2DH-GOWT1")).window(0, 3)
    for to in RESULT_TARGETS:
        path = write_result(gt, tmp_path / f"w-{to}{FORMATS[to].extensions[0] if FORMATS[to].extensions else ''}", to)
        back = read_result(path, shape=gt.shape)
        assert back.lineage.equals(gt.lineage), to
        assert back.shape == gt.shape or to == "napari", to


def test_positions_that_are_not_numbers_are_refused(tmp_path):
    (tmp_path / "inf.txt").write_text("1,1,inf,0,4,4\n")
    _one_line(tmp_path / "inf.txt", "track 1 in frame 0: position or size is not a finite number")
    (tmp_path / "nan.csv").write_text("frame,label,centroid_y,centroid_x\n0,1,nan,3\n")
    _one_line(tmp_path / "nan.csv", "not a finite number")
    (tmp_path / "big.txt").write_text("1,99999999999,0,0,4,4\n")
    _one_line(tmp_path / "big.txt", "exceeds 4294967295")


def _ring() -> Tracking:
    """Label 2 sits in the hole of ring-shaped label 1 (1's centroid lies in 2); 3 lives one frame."""
    masks = np.zeros((3, 20, 20), np.uint16)
    masks[:, 2:12, 2:12] = 1
    masks[:, 5:9, 5:9] = 2
    masks[2, 15:17, 15:17] = 3
    return Tracking(masks=masks, lineage=[(1, 0, 2, 0), (2, 0, 2, 0), (3, 2, 2, 0)])


@pytest.mark.parametrize("case", ["empty", "ring", "leading-empty"])
def test_edge_cases_through_every_format(case, tmp_path):
    tr = {"empty": lambda: Tracking(masks=np.zeros((3, 8, 8), np.uint16), lineage=[]),
          "ring": _ring,
          "leading-empty": lambda: Tracking(masks=np.pad(np.asarray(_ring().masks), ((2, 0), (0, 0), (0, 0))),
                                            lineage=[(1, 2, 4, 0), (2, 2, 4, 0), (3, 4, 4, 0)])}[case]().validate()
    for to, fmt in FORMATS.items():
        path = write_result(tr, tmp_path / f"r-{to}{fmt.extensions[0] if fmt.extensions else ''}", to)
        back = read_result(path, shape=tr.shape)
        assert back.shape == tr.shape and back.lineage.equals(tr.lineage), to
        assert back.problems() == [], to                   # every marker drawn, none hidden by another
        if fmt.masks:
            assert np.array_equal(np.asarray(back.masks), np.asarray(tr.masks)), to
