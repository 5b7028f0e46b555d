"""The Tracker contract and the registry of methods.

A method is a class with a unique ``name`` that turns a :class:`~celltrace.Movie` (and, in
linking-only mode, the user's own per-frame label images) into a :class:`~celltrace.Tracking`.
Methods register themselves with :func:`register`; :func:`load_tracker` builds one by name.
"""

from __future__ import annotations

import importlib
import json
import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from celltrace.errors import CelltraceError
from celltrace.frames import Frames
from celltrace.movie import Movie
from celltrace.tracking import Tracking

_REGISTRY: dict[str, type["Tracker"]] = {}

# method name -> module that registers it (imported on first use, so `import celltrace` stays light)
KNOWN_METHODS: dict[str, str] = {
    "classic": "celltrace.methods.classic",
    "caliban": "celltrace.methods.caliban",
    "embedtrack": "celltrace.methods.embedtrack",
    "boxtrack": "celltrace.methods.boxtrack",
    "cap": "celltrace.methods.cap",
    "distnet2d": "celltrace.methods.distnet2d",
}

# chosen on the generalization protocol (celltrace.protocol, benchmarks/generalization.py): the
# default must be at least as good as the classic baseline on every dataset of the protocol.
# classic (with background correction) is; caliban is far better on SIM+ (spatial hold-out TRA
# 0.943 vs 0.687) but far worse on phase contrast (PSC detection F1 0.31 vs 0.85), on the MSC
# spatial hold-out (0.80 vs 0.91) and on synthetic movies, so it is a choice, not the default.
DEFAULT_METHOD = "classic"


class Tracker(ABC):
    """Turns a movie into a Tracking. Subclasses set ``name`` and implement :meth:`track`; they
    describe themselves with ``description`` (one line), ``config_classes`` (the dataclasses whose
    fields are their parameters) and ``options`` (other keyword arguments, name → meaning)."""

    name: ClassVar[str]
    needs_weights: ClassVar[bool] = False
    description: ClassVar[str] = ""
    config_classes: ClassVar[tuple[type, ...]] = ()
    options: ClassVar[dict[str, str]] = {}
    config: Any = None

    @classmethod
    def parameter_classes(cls) -> tuple[type, ...]:
        """The config dataclasses whose fields are this method's parameters (``config_classes``;
        a method may import them lazily here)."""
        return cls.config_classes

    def resolved_config(self) -> dict[str, Any]:
        """Every parameter with the value this tracker uses (its config as a plain dict)."""
        return config_dict(self.config)

    def weights_files(self) -> list[Path]:
        """The weights files this tracker has read (none for a method without weights)."""
        return []

    @classmethod
    def weights_available(cls) -> bool:
        """Whether the method runs out of the box (no weights needed, or shipped weights present)."""
        return not cls.needs_weights

    def finish_frame(self, labels: np.ndarray, image: np.ndarray, radius: float) -> np.ndarray:
        """A frame's objects as published once they are linked: a step that needs one frame only and
        may add pixels to objects, never create, remove or renumber one (live tracking applies it to
        each frame before publishing it). ``radius``: the segmentation's cell radius. Default: the
        objects as they are."""
        return labels

    @abstractmethod
    def track(self, movie: Movie, masks: Frames | None = None, progress: bool = True) -> Tracking:
        """Segment (unless ``masks`` is given: then link those objects, leaving their pixels as they
        are) and link every cell of ``movie``; return a Tracking that passes ``validate()``."""


class LearnedTracker(Tracker):
    """A tracker whose network is read from a weights file on first use (so that linking-only
    work, or a parameter error, costs no loading). Subclasses set ``default_weights`` (the
    package's file) and ``config_classes`` (the first is the method's config); by default the
    network comes from ``load_model(path, device=…, **params)`` of the ``model`` module beside the
    tracker's, and a subclass with other needs overrides :meth:`find_weights` / :meth:`load_model`."""

    needs_weights = True
    default_weights: ClassVar[Path]
    weights: str | Path | None
    device: str
    params: dict[str, Any]
    _model: Any = None

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", **params: Any):
        self.weights = weights
        self.device = device
        self.params = params
        self.config = self.config_classes[0].from_params(**params)  # unknown names fail here, before any work

    @classmethod
    def weights_available(cls) -> bool:
        return cls.default_weights.is_file()

    @classmethod
    def find_weights(cls, path: str | Path | None = None) -> Path:
        """The weights file: ``path`` if given, else :attr:`default_weights`; missing → one error
        line saying how to train one (``celltrace train <name>``)."""
        from celltrace.nn.weights_file import locate_weights  # torch: only when a network is wanted

        return locate_weights(path, cls.default_weights, cls.name, cls.name)

    def load_model(self, path: Path) -> Any:
        """The network in eval mode (with its ``config``) from the weights file ``path``, with the
        non-network overrides of ``params``."""
        module = importlib.import_module(type(self).__module__.rsplit(".", 1)[0] + ".model")
        return module.load_model(path, device=self.device, **self.params)

    def weights_files(self) -> list[Path]:
        """The weights file, once the network has been loaded."""
        return [self.find_weights(self.weights)] if self._model is not None else []

    @property
    def model(self) -> Any:
        """The network, loaded on first access; its config (with the user's overrides) replaces
        ``self.config``."""
        if self._model is None:
            path = self.find_weights(self.weights)
            warn_if_unusable(path)
            self._model = self.load_model(path)
            self.config = self._model.config
        return self._model


def warn_if_unusable(weights: Path) -> None:
    """Warn (one line) when the weights' manifest (``<weights>.json``) says ``"usable": false``:
    weights shipped so the method runs end to end, but not yet trained enough to be used; the
    manifest's ``usable_why`` says why."""
    manifest = weights.with_suffix(".json")
    try:
        info = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return
    if info.get("usable") is False:
        warnings.warn(f"{weights.name}: these weights are not usable yet ({info.get('usable_why', 'see its manifest')})",
                      UserWarning, stacklevel=3)


def register(cls: type[Tracker]) -> type[Tracker]:
    """Class decorator: make ``cls`` available to :func:`load_tracker` under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available_methods() -> list[str]:
    """Names of all methods celltrace knows."""
    return sorted(set(KNOWN_METHODS) | set(_REGISTRY))


def runnable_methods() -> list[str]:
    """Methods that run with no extra parameters: no weights needed, or their weights are shipped."""
    out = []
    for method in available_methods():
        if method not in _REGISTRY and method in KNOWN_METHODS:
            importlib.import_module(KNOWN_METHODS[method])
        if _REGISTRY[method].weights_available():
            out.append(method)
    return out


def tracker_class(method: str) -> type[Tracker]:
    """The Tracker class registered as ``method`` (its module imported on first use)."""
    if method not in _REGISTRY and method in KNOWN_METHODS:
        importlib.import_module(KNOWN_METHODS[method])
    if method not in _REGISTRY:
        raise CelltraceError(f"unknown method {method!r}; available: {', '.join(available_methods())}")
    return _REGISTRY[method]


def load_tracker(method: str = DEFAULT_METHOD, **params: Any) -> Tracker:
    """Build the tracker called ``method`` with ``params`` overriding its config defaults."""
    return tracker_class(method)(**params)


def config_dict(config: Any) -> dict[str, Any]:
    """A method config (a dataclass, or anything with ``as_dict()``) as a plain dict."""
    import dataclasses

    if config is None:
        return {}
    if hasattr(config, "as_dict"):
        return dict(config.as_dict())
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(vars(config))


def resolve_device(device: str | None) -> str:
    """The torch device to use: ``cpu``; ``cuda`` / ``cuda:N`` (checked: a clear error when there is
    no such GPU); ``auto`` = ``cuda`` when a CUDA GPU is usable, else ``cpu``."""
    name = (device or "cpu").strip().lower()
    if name == "cpu":
        return "cpu"
    kind, _, suffix = name.partition(":")
    if name != "auto" and (kind != "cuda" or (suffix and not suffix.isdigit())):
        raise CelltraceError(f"device {device!r}: unknown; use cpu, cuda, cuda:N or auto")
    import torch

    available = torch.cuda.is_available()
    if name == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise CelltraceError(f"device {device!r}: no CUDA GPU is usable here (torch.cuda.is_available() is "
                             f"False); use --device cpu or --device auto")
    if int(suffix or 0) >= torch.cuda.device_count():
        raise CelltraceError(f"device {device!r}: there are only {torch.cuda.device_count()} CUDA GPU(s)")
    return name


def describe_method(method: str) -> dict[str, Any]:
    """What ``celltrace methods`` shows about ``method``: ``name``, ``description``,
    ``needs_weights``, ``weights_shipped`` (None when no weights are needed), ``default``, and
    ``parameters``: ``(name, default, meaning)`` of its config fields and options."""
    cls = tracker_class(method)
    params: list[tuple[str, Any, str]] = [(k, None, v) for k, v in cls.options.items()]
    seen = {k for k, _, _ in params}
    for config_class in cls.parameter_classes():
        for name, default, doc in config_class.parameter_docs():
            if name not in seen:
                params.append((name, default, doc))
                seen.add(name)
    doc_line = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    return {"name": method, "description": cls.description or doc_line, "needs_weights": cls.needs_weights,
            "weights_shipped": cls.weights_available() if cls.needs_weights else None,
            "default": method == DEFAULT_METHOD, "parameters": params}
