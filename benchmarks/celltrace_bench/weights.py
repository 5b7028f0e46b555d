"""What a method's shipped weights trained on, from their manifest (``<weights>.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from celltrace.methods.base import load_tracker
from celltrace.protocol import SPATIAL_SPLIT

SPATIAL_REGION = f"0:{SPATIAL_SPLIT:g}"
"""The training ``region`` of a spatial model: the left part of each 02 field, never the hold-out."""


def shipped_manifest(method: str) -> dict[str, Any] | None:
    """The manifest of ``method``'s shipped weights (``{}`` when it has none on disk), or ``None``
    when the method has no weights at all (``classic``)."""
    weights = getattr(load_tracker(method), "default_weights", None)
    if weights is None:
        return None
    manifest = Path(weights).with_suffix(".json")
    return json.loads(manifest.read_text()) if manifest.exists() else {}


def shipped_saw_holdout(method: str) -> bool:
    """Whether ``method``'s shipped weights trained on the protocol's spatial hold-out: weights
    whose manifest does not give :data:`SPATIAL_REGION` saw all of 02; no weights saw nothing."""
    manifest = shipped_manifest(method)
    return manifest is not None and manifest.get("region") != SPATIAL_REGION
