"""What every method's hyper-parameter dataclass shares: building it from ``NAME=VALUE`` overrides."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar, TypeVar

from celltrace.errors import CelltraceError

C = TypeVar("C", bound="MethodConfig")


class UnknownParameterError(CelltraceError, TypeError):
    """A parameter name the method's config does not have (a TypeError, as for a bad keyword)."""


class MethodConfig:
    """Mixin for a method's ``@dataclass`` config; ``method`` names it in error messages."""

    method: ClassVar[str] = "method"

    @classmethod
    def from_params(cls: type[C], **params: Any) -> C:
        """Build a config from overrides, rejecting unknown names with the list of known ones; a
        list given for a tuple-valued field (e.g. from JSON on the command line) becomes a tuple."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(params) - known)
        if unknown:
            raise UnknownParameterError(f"unknown {cls.method} parameter(s) {unknown}; known: {sorted(known)}")
        conv = {k: tuple(v) if isinstance(getattr(cls, k, None), tuple) and isinstance(v, list) else v
                for k, v in params.items()}
        return cls(**conv)
