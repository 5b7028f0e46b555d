"""Shared network blocks for the learned methods (feature pyramids, ...)."""

from celltrace.nn.fpn import FPN, FPNNet, coordinate_map, pad_to_multiple

__all__ = ["FPN", "FPNNet", "coordinate_map", "pad_to_multiple"]
from celltrace.nn.tiling import predict_tiled, tile_starts  # noqa: E402

__all__ += ["predict_tiled", "tile_starts"]
from celltrace.nn.erfnet import BranchedERFNet, ERFDecoder, ERFEncoder  # noqa: E402

__all__ += ["BranchedERFNet", "ERFEncoder", "ERFDecoder"]
