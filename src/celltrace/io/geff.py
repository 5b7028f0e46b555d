"""GEFF (Graph Exchange File Format) export of a Tracking: the cell graph as a zarr store.

Nodes are cells in frames (properties ``t``, ``y``, ``x``, ``track_id``, ``area``); edges join a
cell to itself in the next frame of its track and a parent's last cell to each child's first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx

from celltrace.errors import OutputExistsError
from celltrace.io.atomic import atomic_dir

if TYPE_CHECKING:
    from celltrace.tracking import Tracking


def tracking_graph(tracking: "Tracking") -> nx.DiGraph:
    """Directed cell graph of ``tracking`` (node ids 0..N-1 in (frame, label) order)."""
    table = tracking.cell_table().sort_values(["frame", "label"], kind="stable").reset_index(drop=True)
    graph = nx.DiGraph()
    node_of: dict[tuple[int, int], int] = {}
    for i, r in enumerate(table.itertuples(index=False)):
        node_of[(int(r.frame), int(r.label))] = i
        graph.add_node(i, t=int(r.frame), y=float(r.centroid_y), x=float(r.centroid_x),
                       track_id=int(r.label), area=int(r.area))
    for r in tracking.lineage.itertuples():
        for t in range(int(r.begin), int(r.end)):
            graph.add_edge(node_of[(t, int(r.label))], node_of[(t + 1, int(r.label))])
        if r.parent:
            p = tracking.lineage.loc[tracking.lineage["label"] == r.parent].iloc[0]
            graph.add_edge(node_of[(int(p.end), int(p.label))], node_of[(int(r.begin), int(r.label))])
    return graph


def write_geff(tracking: "Tracking", path: str | Path, overwrite: bool = False) -> Path:
    """Write ``tracking`` as a GEFF zarr store at ``path`` (atomically: :func:`~celltrace.io.atomic.atomic_dir`)."""
    import geff

    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    graph = tracking_graph(tracking)
    with atomic_dir(path, overwrite=overwrite) as tmp:
        geff.write(graph, str(tmp), axis_names=["t", "y", "x"], axis_types=["time", "space", "space"], overwrite=True)
    return path


def read_geff_graph(path: str | Path) -> nx.DiGraph:
    """Read a GEFF store back as a networkx DiGraph (for checking exports)."""
    import geff

    graph, _ = geff.read(str(path))
    return graph
