"""Which function ``celltrace train METHOD`` calls: a registry of method name → "module:function",
kept free of torch so that the command line (and its --help) needs no heavy import."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from celltrace.errors import CelltraceError

# method name -> "module:function" called as function(data_dirs, out, **options) -> weights path
TRAINERS: dict[str, str] = {
    "caliban": "celltrace.methods.caliban.seg_train:train_caliban",
    "caliban-linking": "celltrace.methods.caliban.link_train:train_caliban_linking",
    "embedtrack": "celltrace.methods.embedtrack.train:train_embedtrack",
    "boxtrack": "celltrace.methods.boxtrack.train:train_boxtrack",
    "cap": "celltrace.methods.cap.train:train_cap",
    "distnet2d": "celltrace.methods.distnet2d.train:train_distnet2d",
}


def trainer(method: str) -> Callable[..., Any]:
    """The training entry point registered for ``method`` (imported on first use)."""
    if method not in TRAINERS:
        raise CelltraceError(f"no training entry point for method {method!r}; trainable: {', '.join(sorted(TRAINERS))}")
    module, func = TRAINERS[method].split(":")
    return getattr(importlib.import_module(module), func)
