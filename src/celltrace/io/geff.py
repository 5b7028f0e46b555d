"""GEFF (Graph Exchange File Format, the ``geff`` package): the cell graph as a zarr store.

Nodes are cells in frames (properties ``t``, ``y``, ``x`` in pixels and frames, ``track_id``,
``area``, ``radius`` = sqrt(area/π)); edges join a cell to itself in the next frame of its track and a
parent's last cell to each child's first. The metadata names ``track_id`` as the tracklet property
and ``radius`` as the sphere; with known units (``Tracking.meta["pixel_size_um"]``,
``["frame_interval_s"]``) the axes carry ``micrometer`` / ``second`` and their scales; the frame
size is kept in ``extra["celltrace"]["shape"]``.

Reading gives a Tracking whose masks are disks at the nodes (:mod:`celltrace.io.markers`). A GEFF
from another tool without a tracklet property gets track labels from its edges
(:func:`~celltrace.io.cells.tracks_from_graph`).
"""

from __future__ import annotations

from pathlib import Path

import geff
import networkx as nx
import numpy as np
import pandas as pd

from celltrace.errors import InputError, OutputExistsError
from celltrace.io.atomic import atomic_dir
from celltrace.io.cells import parents_from_edges, tracking_from_cells, tracks_from_graph
from celltrace.tracking import Tracking


def tracking_graph(tracking: Tracking, cells: pd.DataFrame | None = None) -> nx.DiGraph:
    """Directed cell graph of ``tracking`` (node ids 0..N-1 in (frame, label) order); ``cells``: :meth:`Tracking.cell_table` if already computed (it is the slow part)."""
    table = (tracking.cell_table() if cells is None else cells).sort_values(["frame", "label"], kind="stable").reset_index(drop=True)
    graph = nx.DiGraph()
    node_of: dict[tuple[int, int], int] = {}
    for i, r in enumerate(table.itertuples(index=False)):
        node_of[(int(r.frame), int(r.label))] = i
        graph.add_node(i, t=int(r.frame), y=float(r.centroid_y), x=float(r.centroid_x),
                       track_id=int(r.label), area=int(r.area), radius=float(np.sqrt(r.area / np.pi)))
    end_of = dict(zip(tracking.lineage["label"].tolist(), tracking.lineage["end"].tolist()))
    for r in tracking.lineage.itertuples():
        for t in range(int(r.begin), int(r.end)):
            graph.add_edge(node_of[(t, int(r.label))], node_of[(t + 1, int(r.label))])
        if r.parent:
            graph.add_edge(node_of[(end_of[int(r.parent)], int(r.parent))], node_of[(int(r.begin), int(r.label))])
    return graph


def write_geff(tracking: Tracking, path: str | Path, overwrite: bool = False, cells: pd.DataFrame | None = None) -> Path:
    """Write ``tracking`` as a GEFF zarr store at ``path`` (atomically: :func:`~celltrace.io.atomic.atomic_dir`).
    ``cells``: :meth:`Tracking.cell_table` if already computed (it is the slow part)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    graph = tracking_graph(tracking, cells)
    pixel = tracking.meta.get("pixel_size_um")
    interval = tracking.meta.get("frame_interval_s")
    units = ["second" if interval else None, *(["micrometer"] * 2 if pixel else [None, None])]
    scales = [float(interval) if interval else None, *([float(pixel[0]), float(pixel[1])] if pixel else [None, None])]
    with atomic_dir(path, overwrite=overwrite) as tmp:
        geff.write(graph, str(tmp), axis_names=["t", "y", "x"], axis_types=["time", "space", "space"],
                   axis_units=units, axis_scales=scales, overwrite=True)
        meta = geff.GeffMetadata.read(str(tmp))
        meta.track_node_props = {"tracklet": "track_id"}
        meta.sphere = "radius"
        meta.extra = {**(meta.extra or {}), "celltrace": {"shape": [int(s) for s in tracking.shape]}}
        meta.write(str(tmp))
    return path


def read_geff_graph(path: str | Path) -> nx.DiGraph:
    """Read a GEFF store back as a networkx DiGraph (for checking exports)."""
    graph, _ = geff.read(str(path))
    return graph


def read_geff(path: str | Path) -> Tracking:
    """Read a GEFF store (ours or another tool's with ``t``, ``y``, ``x`` axes) into a Tracking whose
    masks are disks at the nodes; units from the axes go to ``meta``."""
    path = Path(path)
    try:
        geff.validate_structure(str(path))
        graph, meta = geff.read(str(path))
    except Exception as exc:  # the geff package raises many kinds for a broken store
        raise InputError(path, f"not a valid GEFF store ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    axes = {a.name: a for a in (meta.axes or [])}
    if not {"t", "y", "x"} <= set(axes):
        raise InputError(path, f"GEFF axes are {sorted(axes)}; celltrace reads 2D time-lapse graphs with axes t, y, x")
    track_prop = (meta.track_node_props or {}).get("tracklet")
    radius_prop = meta.sphere
    rows = []
    for node, data in graph.nodes(data=True):
        rows.append((node, data["t"], data["y"], data["x"],
                     data.get(track_prop) if track_prop else None,
                     data.get(radius_prop) if radius_prop else None))
    nodes = pd.DataFrame(rows, columns=["node", "frame", "y", "x", "label", "radius"])
    if len(nodes) and (nodes["frame"] != np.round(nodes["frame"])).any():
        raise InputError(path, "node times are not whole frames")
    nodes["frame"] = nodes["frame"].astype(np.int64)
    edges = np.asarray(list(graph.edges()), dtype=np.int64).reshape(-1, 2)
    if track_prop and nodes["label"].notna().all():
        nodes["label"] = nodes["label"].astype(np.int64)
        parents = parents_from_edges(nodes, edges)
    else:
        nodes, parents = tracks_from_graph(nodes.drop(columns="label"), edges)
    if nodes["radius"].isna().all():
        nodes = nodes.drop(columns="radius")
    extra = (meta.extra or {}).get("celltrace", {})
    shape = tuple(int(s) for s in extra["shape"]) if "shape" in extra else None
    units: dict = {"format": "geff"}
    if axes["y"].unit in ("micrometer", "micron", "um", "µm") and axes["y"].scale and axes["x"].scale:
        units["pixel_size_um"] = (float(axes["y"].scale), float(axes["x"].scale))
    if axes["t"].unit in ("second", "s") and axes["t"].scale:
        units["frame_interval_s"] = float(axes["t"].scale)
    return tracking_from_cells(nodes.drop(columns="node"), parents, path, shape=shape, meta=units)


__all__ = ["write_geff", "read_geff", "read_geff_graph", "tracking_graph"]
