"""What every method's hyper-parameter dataclass shares: building it from ``NAME=VALUE`` overrides."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import MISSING, fields
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

    @classmethod
    def parameter_docs(cls) -> list[tuple[str, Any, str]]:
        """``(name, default, meaning)`` of every field, the meaning being the first sentence of the
        docstring written under the field in the class body (empty if it has none)."""
        docs: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            try:
                tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
            except (OSError, TypeError, SyntaxError):
                continue
            body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
            for node, after in zip(body, body[1:]):
                if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                        and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                        and isinstance(after.value.value, str)):
                    docs[node.target.id] = _first_sentence(after.value.value)
        out = []
        for f in fields(cls):  # type: ignore[arg-type]
            default = f.default if f.default is not MISSING else (
                f.default_factory() if f.default_factory is not MISSING else None)  # type: ignore[misc]
            out.append((f.name, default, docs.get(f.name, "")))
        return out


def _first_sentence(doc: str) -> str:
    """The docstring's first sentence on one line (up to a ``. `` before a capital letter), with
    ````code```` shown as ```code```."""
    text = " ".join(doc.split()).replace("``", "`")
    for i in range(len(text) - 2):
        if text[i] == "." and text[i + 1] == " " and text[i + 2].isupper():
            return text[:i + 1]
    return text
