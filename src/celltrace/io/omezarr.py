"""OME-Zarr (NGFF) image with a label image of the tracks, written with the ``ome-zarr`` package.

Layout (NGFF 0.5, zarr v3; axes ``t, y, x``; one chunk per frame)::

    NAME.ome.zarr/            image "raw": the movie, or zeros (uint8) without one
      s0/                     (T, H, W)
      labels/tracks/          label image: one label per track segment (CTC masks)
        s0/                   (T, H, W)
        zarr.json             attributes: ome.multiscales + image-label, and
                              celltrace.lineage = [[label, begin, end, parent], ...]

NGFF has no standard tracks table yet, so the lineage is the ``celltrace`` attribute of the label
group (the CTC ``L B E P`` rows). With ``meta["pixel_size_um"]`` / ``["frame_interval_s"]`` the
axes carry units ``micrometer`` / ``second`` and the scale transformation those sizes; reading
restores them. Masks are written and read a frame at a time. A label image without the
``celltrace`` attribute (another tool's) gets the lineage of its labels without parents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import zarr
from ome_zarr.writer import write_image, write_labels

from celltrace.errors import InputError, OutputExistsError
from celltrace.frames import LazyFrames
from celltrace.io.atomic import atomic_dir
from celltrace.tracking import Tracking, label_dtype, lineage_from_masks, make_lineage

LABEL_NAME = "tracks"


def _lazy_dask(frames: Any, dtype: np.dtype, shape: tuple[int, int, int]) -> da.Array:
    """(T, H, W) dask array reading ``frames[t]`` per chunk (nothing loaded before writing)."""
    T, H, W = shape
    parts = [da.from_delayed(dask.delayed(lambda t: np.asarray(frames[t]).astype(dtype, copy=False))(t),
                             shape=(H, W), dtype=dtype) for t in range(T)]
    return da.stack(parts).rechunk((1, H, W))


def write_omezarr(tracking: Tracking, path: str | Path, movie: Any = None, overwrite: bool = False) -> Path:
    """Write ``tracking`` (and ``movie``, else zeros) as an OME-Zarr store at ``path`` (atomically)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    T, H, W = tracking.shape
    if movie is not None and tuple(np.shape(movie)[:3]) != (T, H, W):
        raise InputError(None, f"movie of shape {tuple(np.shape(movie))} does not match the tracking's {(T, H, W)}")
    pixel = tracking.meta.get("pixel_size_um")
    interval = tracking.meta.get("frame_interval_s")
    scale = {"t": float(interval) if interval else 1.0,
             "y": float(pixel[0]) if pixel else 1.0, "x": float(pixel[1]) if pixel else 1.0}
    units = {**({"t": "second"} if interval else {}), **({"y": "micrometer", "x": "micrometer"} if pixel else {})}
    raw = (_lazy_dask(movie, np.dtype(movie.dtype), (T, H, W)) if movie is not None
           else da.zeros((T, H, W), dtype=np.uint8, chunks=(1, H, W)))
    max_label = int(tracking.lineage["label"].max()) if tracking.n_tracks else 1
    labels = _lazy_dask(tracking.masks, label_dtype(max_label), (T, H, W))
    options = dict(axes="tyx", scale_factors=(), scale=scale, axes_units=units or None,
                   storage_options={"chunks": (1, H, W)})
    with atomic_dir(path, overwrite=overwrite) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        write_image(raw, root, scaler=None, name="raw", **options)
        write_labels(labels, root, name=LABEL_NAME, scaler=None, label_metadata={"source": {"image": "../../"}},
                     **options)
        root[f"labels/{LABEL_NAME}"].attrs["celltrace"] = {
            "lineage": tracking.lineage[["label", "begin", "end", "parent"]].to_numpy().tolist()}
    return path


def _ngff(attrs: dict) -> dict:
    """NGFF attributes of a group: under ``ome`` (0.5) or at the top (0.4)."""
    return attrs.get("ome", attrs)


def read_omezarr(path: str | Path, label_name: str | None = None) -> Tracking:
    """Read the label image ``label_name`` (default: ``tracks``, else the first listed) of an
    OME-Zarr store into a Tracking with lazily read masks (module docstring)."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(path, "OME-Zarr store not found" if not path.exists() else "expected an OME-Zarr folder, got a file")
    try:
        root = zarr.open_group(str(path), mode="r")
        listed = _ngff(dict(root["labels"].attrs)).get("labels", []) if "labels" in root else []
    except Exception as exc:  # zarr raises many kinds for a broken store
        raise InputError(path, f"not a readable zarr store ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if not listed:
        raise InputError(path, "OME-Zarr store without labels (no labels/ group listing a label image)")
    name = label_name or (LABEL_NAME if LABEL_NAME in listed else listed[0])
    try:
        group = root[f"labels/{name}"]
        ngff = _ngff(dict(group.attrs))
        multiscale = ngff["multiscales"][0]
        dataset = multiscale["datasets"][0]
        array = group[dataset["path"]]
    except Exception as exc:
        raise InputError(path, f"label image {name!r} is incomplete ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    axes = [a["name"] if isinstance(a, dict) else a for a in multiscale.get("axes", [])]
    if array.ndim != 3 or axes not in ([], ["t", "y", "x"]):
        raise InputError(path, f"label image {name!r} has axes {axes} and shape {array.shape}; celltrace reads t, y, x")
    if not np.issubdtype(array.dtype, np.integer):
        raise InputError(path, f"label image {name!r} has dtype {array.dtype}; labels must be integers")
    T, H, W = array.shape

    def load(t: int) -> np.ndarray:
        try:
            return array[t]
        except Exception as exc:
            raise InputError(path, f"label image {name!r}, frame {t}: cannot read ({str(exc).splitlines()[0]})") from None

    masks = LazyFrames(T, (H, W), array.dtype, load)
    rows = dict(group.attrs).get("celltrace", {}).get("lineage")
    lineage = make_lineage(rows) if rows is not None else lineage_from_masks(masks)
    meta: dict[str, Any] = {"source": str(path), "format": "ome-zarr", "label_name": name}
    scale = next((c["scale"] for c in dataset.get("coordinateTransformations", []) if c.get("type") == "scale"), None)
    units = {a["name"]: a.get("unit") for a in multiscale.get("axes", []) if isinstance(a, dict)}
    if scale and units.get("y") == "micrometer" and units.get("x") == "micrometer":
        meta["pixel_size_um"] = (float(scale[1]), float(scale[2]))
    if scale and units.get("t") == "second":
        meta["frame_interval_s"] = float(scale[0])
    return Tracking(masks=masks, lineage=lineage, meta=meta)


__all__ = ["write_omezarr", "read_omezarr", "LABEL_NAME"]
