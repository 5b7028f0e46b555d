"""TrackMate XML (Fiji's TrackMate, ``Plugins › Tracking › Load a TrackMate file``): spots, edges, tracks.

Layout written (what TrackMate's ``TmXmlReader`` reads)::

    <TrackMate version="7.13.2">
      <Model spatialunits="µm|pixel" timeunits="s|frame">
        <FeatureDeclarations> SpotFeatures / EdgeFeatures / TrackFeatures </FeatureDeclarations>
        <AllSpots nspots="N"><SpotsInFrame frame="t"><Spot ID name POSITION_X POSITION_Y POSITION_Z
            POSITION_T FRAME RADIUS QUALITY VISIBILITY CELLTRACE_LABEL/>…
        <AllTracks><Track name TRACK_ID TRACK_INDEX NUMBER_SPOTS NUMBER_SPLITS>
            <Edge SPOT_SOURCE_ID SPOT_TARGET_ID LINK_COST/>…
        <FilteredTracks><TrackID TRACK_ID/>…
      </Model>
      <Settings><ImageData filename folder width height nslices nframes pixelwidth pixelheight
          voxeldepth timeinterval/><BasicSettings …/></Settings>
      <GUIState state="ConfigureViews"/>
    </TrackMate>

Fiji's loader tolerates what is left out (detector, tracker and analyzer settings, display
settings: it logs them as missing and loads the model), and shows the tracks on an empty image
of the ImageData size when the movie file is not found.

One spot per cell per frame (unique IDs 0..N-1), one edge per link: along a track, mother → each
daughter (a division is one source with two outgoing edges) and across gaps. A TrackMate track is
a connected component, i.e. a whole lineage tree. Positions are calibrated: with
``meta["pixel_size_um"]`` / ``["frame_interval_s"]`` ``POSITION_X = x · pixelwidth`` (µm) and
``POSITION_T = frame · timeinterval`` (s), else pixel and frame units. ``CELLTRACE_LABEL`` (a spot
feature TrackMate keeps) gives the labels back exactly; files from TrackMate itself get labels
from their edges (:func:`~celltrace.io.cells.tracks_from_graph`). Reading draws disks of
``RADIUS`` (:mod:`celltrace.io.markers`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd

from celltrace.errors import InputError
from celltrace.io.atomic import atomic_file
from celltrace.io.cells import parents_from_edges, tracking_from_cells, tracks_from_graph
from celltrace.tracking import Tracking

TRACKMATE_VERSION = "7.13.2"
LABEL_FEATURE = "CELLTRACE_LABEL"
SPOT_FEATURES = [  # (feature, name, shortname, dimension, isint)
    ("QUALITY", "Quality", "Quality", "QUALITY", "false"),
    ("POSITION_X", "X", "X", "POSITION", "false"),
    ("POSITION_Y", "Y", "Y", "POSITION", "false"),
    ("POSITION_Z", "Z", "Z", "POSITION", "false"),
    ("POSITION_T", "T", "T", "TIME", "false"),
    ("FRAME", "Frame", "Frame", "NONE", "true"),
    ("RADIUS", "Radius", "R", "LENGTH", "false"),
    ("VISIBILITY", "Visibility", "Visibility", "NONE", "true"),
    (LABEL_FEATURE, "celltrace label", "Label", "NONE", "true"),
]
EDGE_FEATURES = [
    ("SPOT_SOURCE_ID", "Source spot ID", "Source ID", "NONE", "true"),
    ("SPOT_TARGET_ID", "Target spot ID", "Target ID", "NONE", "true"),
    ("LINK_COST", "Edge cost", "Cost", "COST", "false"),
]
TRACK_FEATURES = [
    ("TRACK_ID", "Track ID", "ID", "NONE", "true"),
    ("TRACK_INDEX", "Track index", "Index", "NONE", "true"),
    ("NUMBER_SPOTS", "Number of spots in track", "N spots", "NONE", "true"),
    ("NUMBER_SPLITS", "Number of split events", "N splits", "NONE", "true"),
]
MICRON = ("µm", "um", "micron", "microns", "micrometer", "micrometers")


def _declare(parent: ET.Element, tag: str, features: list[tuple[str, ...]]) -> None:
    group = ET.SubElement(parent, tag)
    for feature, name, short, dim, isint in features:
        ET.SubElement(group, "Feature", feature=feature, name=name, shortname=short, dimension=dim, isint=isint)


def _components(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    """Connected component index (0..) of each of ``n`` nodes under undirected ``edges`` (union-find)."""
    root = list(range(n))

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            root[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    return np.unique(roots, return_inverse=True)[1]


def trackmate_tree(tracking: Tracking, image_name: str = "", cells: pd.DataFrame | None = None) -> ET.ElementTree:
    """The TrackMate XML document of ``tracking`` (layout in the module docstring); ``cells``: :meth:`Tracking.cell_table` if already computed (it is the slow part)."""
    pixel = tracking.meta.get("pixel_size_um")
    interval = tracking.meta.get("frame_interval_s")
    py, px = (float(pixel[0]), float(pixel[1])) if pixel else (1.0, 1.0)
    dt = float(interval) if interval else 1.0
    T, H, W = tracking.shape
    cells = (tracking.cell_table() if cells is None else cells).sort_values(["frame", "label"], kind="stable").reset_index(drop=True)
    spot_of = {(int(t), int(lab)): i for i, (t, lab) in enumerate(zip(cells["frame"], cells["label"]))}
    edges: list[tuple[int, int]] = []
    end_of = dict(zip(tracking.lineage["label"].tolist(), tracking.lineage["end"].tolist()))
    for lab, begin, end, parent in tracking.lineage[["label", "begin", "end", "parent"]].itertuples(index=False):
        if parent and int(parent) in end_of:
            edges.append((spot_of[(end_of[int(parent)], int(parent))], spot_of[(int(begin), int(lab))]))
        edges.extend((spot_of[(t, int(lab))], spot_of[(t + 1, int(lab))]) for t in range(int(begin), int(end)))
    component = _components(len(cells), edges)

    root = ET.Element("TrackMate", version=TRACKMATE_VERSION)
    ET.SubElement(root, "Log").text = "Written by celltrace."
    model = ET.SubElement(root, "Model", spatialunits="µm" if pixel else "pixel", timeunits="s" if interval else "frame")
    decl = ET.SubElement(model, "FeatureDeclarations")
    _declare(decl, "SpotFeatures", SPOT_FEATURES)
    _declare(decl, "EdgeFeatures", EDGE_FEATURES)
    _declare(decl, "TrackFeatures", TRACK_FEATURES)
    all_spots = ET.SubElement(model, "AllSpots", nspots=str(len(cells)))
    frames = cells["frame"].to_numpy(np.int64)
    radius = np.sqrt(cells["area"].to_numpy(np.float64) / np.pi) * px
    xs = (cells["centroid_x"].to_numpy(np.float64) * px).tolist()
    ys = (cells["centroid_y"].to_numpy(np.float64) * py).tolist()
    labels = cells["label"].tolist()
    for t in range(T):
        in_frame = ET.SubElement(all_spots, "SpotsInFrame", frame=str(t))
        for i in np.flatnonzero(frames == t).tolist():
            ET.SubElement(in_frame, "Spot", {
                "ID": str(i), "name": f"ID{i}", "QUALITY": "1.0", "POSITION_X": repr(xs[i]),
                "POSITION_Y": repr(ys[i]), "POSITION_Z": "0.0", "POSITION_T": repr(t * dt), "FRAME": str(t),
                "RADIUS": repr(float(radius[i])), "VISIBILITY": "1", LABEL_FEATURE: str(labels[i])})
    all_tracks = ET.SubElement(model, "AllTracks")
    filtered = ET.SubElement(model, "FilteredTracks")
    by_track: dict[int, list[tuple[int, int]]] = {}
    for a, b in edges:
        by_track.setdefault(int(component[a]), []).append((a, b))
    out_degree = np.bincount([a for a, _ in edges], minlength=len(cells)) if edges else np.zeros(len(cells), int)
    for track_id in sorted(by_track):          # single spots (no edge) are not TrackMate tracks
        track_edges = sorted(by_track[track_id], key=lambda e: (frames[e[0]], e[0], e[1]))
        spots = {s for e in track_edges for s in e}
        track = ET.SubElement(all_tracks, "Track", name=f"Track_{track_id}", TRACK_ID=str(track_id),
                              TRACK_INDEX=str(track_id), NUMBER_SPOTS=str(len(spots)),
                              NUMBER_SPLITS=str(int(sum(out_degree[s] > 1 for s in spots))))
        for a, b in track_edges:
            ET.SubElement(track, "Edge", SPOT_SOURCE_ID=str(a), SPOT_TARGET_ID=str(b), LINK_COST="-1.0")
        ET.SubElement(filtered, "TrackID", TRACK_ID=str(track_id))
    settings = ET.SubElement(root, "Settings")
    image = Path(image_name)
    ET.SubElement(settings, "ImageData", filename=image.name, folder=str(image.parent) if image_name else "",
                  width=str(W), height=str(H), nslices="1", nframes=str(T), pixelwidth=repr(px),
                  pixelheight=repr(py), voxeldepth="1.0", timeinterval=repr(dt))
    ET.SubElement(settings, "BasicSettings", xstart="0", xend=str(W - 1), ystart="0", yend=str(H - 1),
                  zstart="0", zend="0", tstart="0", tend=str(T - 1))
    ET.SubElement(root, "GUIState", state="ConfigureViews")   # TrackMate opens on its views panel
    ET.indent(root, space="  ")
    return ET.ElementTree(root)


def write_trackmate(tracking: Tracking, path: str | Path, overwrite: bool = False, image_name: str = "",
                    cells: pd.DataFrame | None = None) -> Path:
    """Write ``tracking`` as a TrackMate XML file at ``path`` (atomically); ``image_name`` is the
    movie file TrackMate opens beside the tracks (optional); ``cells``: :meth:`Tracking.cell_table` if already computed (it is the slow part)."""
    path = Path(path)
    tree = trackmate_tree(tracking, image_name, cells)
    with atomic_file(path, overwrite=overwrite) as tmp:
        tree.write(tmp, encoding="UTF-8", xml_declaration=True)
    return path


def _number(path: Path, element: ET.Element, attr: str, what: str) -> float:
    value = element.get(attr)
    if value is None:
        raise InputError(path, f"TrackMate XML: {what} has no {attr} attribute")
    try:
        return float(value)
    except ValueError:
        raise InputError(path, f"TrackMate XML: {what} has {attr}={value!r}, not a number") from None


def read_trackmate(path: str | Path) -> Tracking:
    """Read a TrackMate XML file into a Tracking with disks of the spots' radius as masks; calibrated
    units (µm, s) go back to ``meta["pixel_size_um"]`` / ``["frame_interval_s"]``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "TrackMate file not found" if not path.exists() else "expected a TrackMate XML file, got a folder")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(path, f"not readable XML ({exc})") from None
    model = root.find("Model")
    if root.tag != "TrackMate" or model is None or model.find("AllSpots") is None:
        raise InputError(path, "not a TrackMate XML file (no <TrackMate><Model><AllSpots>)")
    image = root.find("Settings/ImageData")
    px = py = dt = 1.0
    shape = None
    if image is not None:
        px = _number(path, image, "pixelwidth", "ImageData") if image.get("pixelwidth") else 1.0
        py = _number(path, image, "pixelheight", "ImageData") if image.get("pixelheight") else px
        dt = _number(path, image, "timeinterval", "ImageData") if image.get("timeinterval") else 1.0
        dims = [image.get(a) for a in ("nframes", "height", "width")]
        if all(d not in (None, "0") for d in dims):
            shape = tuple(int(_number(path, image, a, "ImageData")) for a in ("nframes", "height", "width"))
    if px <= 0 or py <= 0 or dt <= 0:
        raise InputError(path, "TrackMate XML: ImageData pixel size and time interval must be > 0")
    rows = []
    for spot in model.iter("Spot"):
        sid = spot.get("ID", "?")
        what = f"Spot ID {sid}"
        vals = [_number(path, spot, a, what) for a in ("ID", "FRAME", "POSITION_Y", "POSITION_X")]
        radius = _number(path, spot, "RADIUS", what) if spot.get("RADIUS") is not None else px / 2
        label = _number(path, spot, LABEL_FEATURE, what) if spot.get(LABEL_FEATURE) is not None else np.nan
        rows.append((int(vals[0]), int(vals[1]), vals[2] / py, vals[3] / px, radius / px, label))
    spots = pd.DataFrame(rows, columns=["node", "frame", "y", "x", "radius", "label"])
    if spots["node"].duplicated().any():
        raise InputError(path, f"TrackMate XML: spot ID {int(spots['node'][spots['node'].duplicated()].iloc[0])} "
                               f"is used twice")
    edges = []
    known = set(spots["node"].tolist())
    for edge in model.iter("Edge"):
        ab = (int(_number(path, edge, "SPOT_SOURCE_ID", "an Edge")), int(_number(path, edge, "SPOT_TARGET_ID", "an Edge")))
        for s in ab:
            if s not in known:
                raise InputError(path, f"TrackMate XML: an Edge names spot {s}, which is not in AllSpots")
        edges.append(ab)
    frame_of = dict(zip(spots["node"].tolist(), spots["frame"].tolist()))
    # TrackMate edges are undirected in time order: source is the earlier spot
    edge_arr = np.array([(a, b) if frame_of[a] <= frame_of[b] else (b, a) for a, b in edges], dtype=np.int64).reshape(-1, 2)
    if len(spots) and spots["label"].notna().all():
        spots["label"] = spots["label"].astype(np.int64)
        parents = parents_from_edges(spots, edge_arr)
    else:
        spots, parents = tracks_from_graph(spots.drop(columns="label"), edge_arr)
    meta: dict = {"format": "trackmate"}
    if (model.get("spatialunits") or "").lower() in MICRON:
        meta["pixel_size_um"] = (py, px)
    if (model.get("timeunits") or "").lower() in ("s", "sec", "second", "seconds"):
        meta["frame_interval_s"] = dt
    return tracking_from_cells(spots.drop(columns="node"), parents, path, shape=shape, meta=meta)


__all__ = ["write_trackmate", "read_trackmate", "trackmate_tree"]
