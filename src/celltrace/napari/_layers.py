"""A Tracking as napari layer-data tuples: ``(data, kwargs, layer_type)``."""

from __future__ import annotations

from typing import Any

import numpy as np

from celltrace.tracking import Tracking


def lazy_stack(frames: Any) -> Any:
    """A (T, H, W) dask array reading frame t on demand (napari slices it one frame at a time);
    a numpy array is returned as it is."""
    if isinstance(frames, np.ndarray):
        return frames
    import dask
    import dask.array as da

    T, H, W = frames.shape
    dtype = np.dtype(frames.dtype)
    read = dask.delayed(lambda t: np.asarray(frames[t]), pure=True)
    return da.stack([da.from_delayed(read(t), shape=(H, W), dtype=dtype) for t in range(T)])


def label_colormap(labels: np.ndarray) -> dict:
    """{label: RGBA float} in the report's colours (:func:`celltrace.report.overlay.label_colors`),
    background transparent."""
    from celltrace.report.overlay import label_colors

    labels = np.asarray(labels, dtype=np.int64)
    rgb = label_colors(labels) / 255.0
    cmap: dict = {None: (0.0, 0.0, 0.0, 0.0), 0: (0.0, 0.0, 0.0, 0.0)}
    cmap.update({int(l): (*map(float, c), 1.0) for l, c in zip(labels, rgb)})
    return cmap


def tracking_layers(tracking: Tracking, name: str = "celltrace") -> list[tuple[Any, dict, str]]:
    """Labels layer (masks, lazy) + tracks layer (centroids per label per frame, lineage graph).

    The tracks layer's ``graph`` maps each child label to its parent (divisions and gap
    continuations); its features hold the label's parent and the frame it begins.
    """
    data, graph = tracking.to_napari_tracks()
    labels = tracking.lineage["label"].to_numpy()
    layers: list[tuple[Any, dict, str]] = [
        (lazy_stack(tracking.masks), {"name": f"{name} masks", "colormap": label_colormap(labels),
                                      "metadata": {"lineage": tracking.lineage.copy()}}, "labels"),
    ]
    if len(data):
        present = set(np.unique(data[:, 0]).astype(int))
        graph = {c: [p for p in ps if p in present] for c, ps in graph.items() if c in present}
        graph = {c: ps for c, ps in graph.items() if ps}
        parents = dict(zip(tracking.lineage["label"], tracking.lineage["parent"]))
        features = {"parent": np.array([parents.get(int(l), 0) for l in data[:, 0]], dtype=np.int64)}
        layers.append((data, {"name": f"{name} tracks", "graph": graph, "features": features,
                              "tail_length": 10, "metadata": {"lineage": tracking.lineage.copy()}}, "tracks"))
    return layers


def suspects_layer(suspects: Any, masks: Any = None, name: str = "celltrace") -> tuple[Any, dict, str] | None:
    """Points layer ``(frame, y, x)`` of a suspects table (:mod:`celltrace.io.suspects`), with its
    ``kind``, ``labels`` and ``score`` as features; None when the table is empty."""
    from celltrace.io.suspects import suspect_positions

    if suspects is None or not len(suspects):
        return None
    pts = suspect_positions(suspects, masks)
    ok = np.isfinite(pts).all(axis=1)
    if not ok.any():
        return None
    feats = {"kind": suspects["kind"].astype(str).to_numpy()[ok], "labels": suspects["labels"].astype(str).to_numpy()[ok],
             "score": suspects["score"].to_numpy(dtype=float)[ok]}
    return (pts[ok], {"name": f"{name} suspects", "features": feats, "symbol": "x", "size": 12,
                      "face_color": "magenta", "border_color": "magenta"}, "points")
