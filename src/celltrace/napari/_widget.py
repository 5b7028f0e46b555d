"""npe2 widget: run a celltrace method on the open image layer (Plugins ▸ celltrace ▸ Track cells)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui import magic_factory

from celltrace.methods.base import DEFAULT_METHOD, available_methods

if TYPE_CHECKING:
    import napari


def _run(image: Any, method: str, masks: Any = None, progress: bool = False, boxes: Any = None
         ) -> list[tuple[Any, dict, str]]:
    """Track the (T, H, W) data of an image layer; return the layers to add."""
    import celltrace
    from celltrace.movie import Movie
    from celltrace.napari._layers import tracking_layers

    data = image.data
    if getattr(image, "multiscale", False):
        data = data[0]
    if np.ndim(data) == 2:
        data = np.asarray(data)[None]
    if np.ndim(data) != 3:
        raise ValueError(f"the image layer {image.name!r} has shape {np.shape(data)}; expected (T, H, W)")
    movie = Movie(frames=data if hasattr(data, "__getitem__") and not isinstance(data, np.ndarray) else np.asarray(data),
                  name=image.name)
    mask_frames = None
    if masks is not None:
        mask_frames = np.asarray(masks.data)
        if mask_frames.ndim == 2:
            mask_frames = mask_frames[None]
    params = {}
    if boxes is not None and len(boxes.data):  # a shapes layer: one box per cell (BoxTrack's prompts)
        from celltrace.napari._boxes import shapes_to_boxes

        if method != "boxtrack":
            raise ValueError(f"box prompts are for the boxtrack method, not {method}")
        params["boxes"] = shapes_to_boxes(boxes.data)
    result = celltrace.track(movie, method=method, masks=mask_frames, progress=progress, **params)
    return tracking_layers(result, name=f"{image.name} {method}")


def _method_choices(widget: Any = None) -> list[str]:
    """Methods to offer, asked each time the widget refreshes (methods may register later)."""
    return available_methods()


@magic_factory(
    call_button="Track",
    method={"choices": _method_choices, "tooltip": "celltrace method (celltrace.available_methods())"},
    masks={"tooltip": "optional: link the objects of this labels layer instead of segmenting"},
    boxes={"tooltip": "optional (boxtrack): a shapes layer with one rectangle per cell to track"},
)
def track_widget(image: "napari.layers.Image", method: str = DEFAULT_METHOD,
                 masks: "napari.layers.Labels | None" = None,
                 boxes: "napari.layers.Shapes | None" = None) -> "list[napari.types.LayerDataTuple]":
    """Track every cell of the image layer (T, H, W) with a celltrace method; adds a labels layer
    (one label per track segment) and a tracks layer with the lineage graph. Runs in the GUI
    thread: long movies block napari until done (use ``celltrace track`` for those). With ``boxes``
    (boxtrack), each rectangle of the shapes layer prompts one cell."""
    return _run(image, method, masks, boxes=boxes)
