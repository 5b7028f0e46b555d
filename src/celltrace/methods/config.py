"""What every method's hyper-parameter dataclass shares: building it from ``NAME=VALUE`` overrides,
with each value checked against the field's type and range."""

from __future__ import annotations

import ast
import inspect
import math
import textwrap
import types
import typing
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, TypeVar, Union

from celltrace.errors import CelltraceError

C = TypeVar("C", bound="MethodConfig")


class UnknownParameterError(CelltraceError, TypeError):
    """A parameter name the method's config does not have (a TypeError, as for a bad keyword)."""


class ParameterError(CelltraceError, ValueError):
    """A parameter value of the wrong type or out of range; ``name`` and ``problem`` say which and why."""

    def __init__(self, method: str, name: str, problem: str):
        self.method, self.name, self.problem = method, name, problem
        super().__init__(f"{method} parameter {name}: {problem}")


@dataclass(frozen=True)
class Range:
    """The numbers a field admits: ``lo ≤ x ≤ hi`` (``lo < x`` with ``open_lo``); ``None`` = unbounded."""

    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False

    def admits(self, x: float) -> bool:
        if self.lo is not None and (x <= self.lo if self.open_lo else x < self.lo):
            return False
        return self.hi is None or x <= self.hi

    def words(self, integer: bool) -> str:
        """``a positive number``, ``an integer ≥ 1``, ``a number in [0, 1]``, ..."""
        kind = "integer" if integer else "number"
        if self.lo == 0 and self.hi is None:
            return f"a positive {kind}" if self.open_lo else f"a non-negative {kind}"
        if self.lo is not None and self.hi is not None:
            return f"a{'n' if integer else ''} {kind} in {'(' if self.open_lo else '['}{self.lo:g}, {self.hi:g}]"
        if self.lo is not None:
            return f"a{'n' if integer else ''} {kind} {'>' if self.open_lo else '≥'} {self.lo:g}"
        if self.hi is not None:
            return f"a{'n' if integer else ''} {kind} ≤ {self.hi:g}"
        return f"a finite {kind}"


ANY = Range()
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, open_lo=True)
AT_LEAST_ONE = Range(1)
FRACTION = Range(0, 1)
PERCENT = Range(0, 100)


class MethodConfig:
    """Mixin for a method's ``@dataclass`` config; ``method`` names it in error messages.

    :meth:`from_params` checks every override against the field's annotation (``bool``, ``int``,
    ``float``, ``str``, ``tuple[...]``, ``... | None``) and, for numbers, against ``limits[name]``
    (a :class:`Range`; fields not listed must be finite and ≥ 0); strings against ``choices[name]``
    where given. Subclasses list their exceptions in these two class attributes.
    """

    method: ClassVar[str] = "method"
    limits: ClassVar[dict[str, Range]] = {}
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    @classmethod
    def from_params(cls: type[C], **params: Any) -> C:
        """Build a config from overrides, rejecting unknown names with the list of known ones and
        values of the wrong type or range with one :class:`ParameterError` line; a list given for a
        tuple-valued field (e.g. from JSON on the command line) becomes a tuple."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(params) - known)
        if unknown:
            raise UnknownParameterError(f"unknown {cls.method} parameter(s) {unknown}; known: {sorted(known)}")
        hints = typing.get_type_hints(cls)
        conv = {k: cls._checked(k, hints[k], v) for k, v in params.items()}
        return cls(**conv)

    @classmethod
    def _checked(cls, name: str, annotation: Any, value: Any) -> Any:
        """``value`` as the field's type (ints for integral floats, tuples for lists), or a ParameterError."""
        args = typing.get_args(annotation)
        optional = typing.get_origin(annotation) in (Union, types.UnionType) and type(None) in args
        if optional:
            if value is None:
                return None
            annotation = next(a for a in args if a is not type(None))
        limit = cls.limits.get(name, NON_NEGATIVE)
        if typing.get_origin(annotation) is tuple:
            items = typing.get_args(annotation)
            fixed = not (len(items) == 2 and items[1] is Ellipsis)
            expected = f"{len(items) if fixed else 'a list of'} values, each {cls._words(name, items[0], limit)}"
            if not isinstance(value, (list, tuple)) or (fixed and len(value) != len(items)) or not value \
                    or not all(cls._admits(name, items[0], v, limit) for v in value):
                cls._fail(name, expected, value, optional)
            return tuple(cls._as(items[0], v) for v in value)
        if not cls._admits(name, annotation, value, limit):
            cls._fail(name, cls._words(name, annotation, limit), value, optional)
        return cls._as(annotation, value)

    @classmethod
    def _admits(cls, name: str, kind: Any, value: Any, limit: Range) -> bool:
        if kind is bool:
            return isinstance(value, bool)
        if kind is str:
            return isinstance(value, str) and (name not in cls.choices or value in cls.choices[name])
        if kind in (int, float):
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            return number and (kind is float or value == int(value)) and limit.admits(value)
        return True

    @staticmethod
    def _as(kind: Any, value: Any) -> Any:
        return int(value) if kind is int else float(value) if kind is float else value

    @classmethod
    def _words(cls, name: str, kind: Any, limit: Range) -> str:
        if kind is bool:
            return "true or false"
        if kind is str:
            return f"one of {', '.join(cls.choices[name])}" if name in cls.choices else "a string"
        return limit.words(integer=kind is int)

    @classmethod
    def _fail(cls, name: str, expected: str, value: Any, optional: bool) -> typing.NoReturn:
        raise ParameterError(cls.method, name, f"expected {expected}{' or null' if optional else ''}, got {value!r}")

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
