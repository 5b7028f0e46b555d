"""napari plugin (npe2; install with ``pip install celltrace[napari]``).

* Reader — drag a CTC RES or GT folder (``mask*.tif`` + ``res_track.txt``, or ``TRA/``) onto napari,
  or ``viewer.open(folder, plugin="celltrace")``: a labels layer (read lazily, one frame at a time;
  colours as in the celltrace report) and a tracks layer with the lineage graph.
* Widget "Track cells" (Plugins ▸ celltrace): run a celltrace method on the open image layer,
  optionally linking an existing labels layer instead of segmenting; adds the same two layers.

The manifest is ``napari.yaml`` beside this file. Only :mod:`._reader` and :mod:`._widget` import
napari; ``tracking_layers`` is plain numpy and usable without it.
"""

from celltrace.napari._layers import tracking_layers

__all__ = ["tracking_layers"]
