"""The Tracker contract and the registry of methods.

A method is a class with a unique ``name`` that turns a :class:`~celltrace.Movie` (and, in
linking-only mode, the user's own per-frame label images) into a :class:`~celltrace.Tracking`.
Methods register themselves with :func:`register`; :func:`load_tracker` builds one by name.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

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
}

# the shipped Caliban models beat classic on the held-out frames of SIM+ (TRA 0.950 vs 0.680) and
# MSC (0.870 vs 0.805) and are level on GOWT1 (0.961 vs 0.970): benchmarks/validation.py
DEFAULT_METHOD = "caliban"


class Tracker(ABC):
    """Turns a movie into a Tracking. Subclasses set ``name`` and implement :meth:`track`."""

    name: ClassVar[str]
    needs_weights: ClassVar[bool] = False

    @classmethod
    def weights_available(cls) -> bool:
        """Whether the method runs out of the box (no weights needed, or shipped weights present)."""
        return not cls.needs_weights

    @abstractmethod
    def track(self, movie: Movie, masks: Frames | None = None, progress: bool = True) -> Tracking:
        """Segment (unless ``masks`` is given: then link those objects, leaving their pixels as they
        are) and link every cell of ``movie``; return a Tracking that passes ``validate()``."""


class LearnedTracker(Tracker):
    """A tracker whose network is read from a weights file on first use (so that linking-only
    work, or a parameter error, costs no loading). Subclasses set ``default_weights`` (the
    package's file) and implement :meth:`find_weights` and :meth:`load_model`; ``self.weights``
    (a path or ``None``), ``self.device`` and ``self.params`` come from their ``__init__``."""

    needs_weights = True
    default_weights: ClassVar[Path]
    weights: str | Path | None
    device: str
    params: dict[str, Any]
    _model: Any = None

    @classmethod
    def weights_available(cls) -> bool:
        return cls.default_weights.is_file()

    @classmethod
    @abstractmethod
    def find_weights(cls, path: str | Path | None = None) -> Path:
        """The weights file: ``path`` if given, else :attr:`default_weights`; missing → one error line."""

    @abstractmethod
    def load_model(self, path: Path) -> Any:
        """The network in eval mode (with its ``config``) from the weights file ``path``."""

    @property
    def model(self) -> Any:
        """The network, loaded on first access; its config (with the user's overrides) replaces
        ``self.config``."""
        if self._model is None:
            self._model = self.load_model(self.find_weights(self.weights))
            self.config = self._model.config
        return self._model


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


def load_tracker(method: str = DEFAULT_METHOD, **params: Any) -> Tracker:
    """Build the tracker called ``method`` with ``params`` overriding its config defaults."""
    if method not in _REGISTRY and method in KNOWN_METHODS:
        importlib.import_module(KNOWN_METHODS[method])
    if method not in _REGISTRY:
        raise CelltraceError(f"unknown method {method!r}; available: {', '.join(available_methods())}")
    return _REGISTRY[method](**params)
