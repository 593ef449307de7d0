"""Shared validation vocabulary for config objects: key syntax and problem collection.

Everything here builds ``Problem`` lists; nothing raises except :func:`raise_if`,
which turns a non-empty list into one :class:`~abwb.errors.InvalidInput`.
:func:`struct_problems` diagnoses plain data against a config model field by field,
so one run reports every problem of an object (msgspec alone stops at the first),
and :func:`did_you_mean` suggests the closest known name for a misspelt one.
"""

from __future__ import annotations

import difflib
import math
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import msgspec

from abwb.errors import InvalidInput, Problem

__all__ = [
    "FRACTION",
    "KEY_PATTERN",
    "MAX_PAYLOAD_BYTES",
    "NON_EMPTY",
    "Bound",
    "ProblemList",
    "bounds_of",
    "check_fraction",
    "check_key",
    "check_unique",
    "check_utc",
    "did_you_mean",
    "raise_if",
    "salvage",
    "struct_problems",
]

#: Keys are lowercase slugs: they appear in URLs, SQL literals, salts and file names.
KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")  # used with fullmatch: no "\n" slips in
#: Variant payloads and flag values travel with every assignment response: keep them small.
MAX_PAYLOAD_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Bound:
    """A range a config field must lie in, declared once on the field's type.

    Used as ``Annotated[float, Bound(ge=0, le=1)]`` (numbers) or
    ``Annotated[str, Bound(min_length=1)]`` (strings, lists, objects): the model's own
    check calls :meth:`contains`, and the OpenAPI document reads the same object
    (``minimum``, ``exclusiveMaximum``, ``minLength``, ``minItems``...), so the schema
    and the validator cannot disagree. msgspec ignores the annotation, so decoding is
    unchanged and the model's check keeps its message. ``None`` (an optional field left
    out) is not this object's business.

    Attributes:
        ge: Smallest number allowed (inclusive).
        gt: Numbers must be greater than this.
        le: Largest number allowed (inclusive).
        lt: Numbers must be less than this.
        min_length: Fewest characters, items or properties.
        max_length: Most characters, items or properties.
        pattern: A regular expression strings must contain a match of (JSON Schema
            ``pattern`` semantics; anchor it to constrain the whole string).
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None

    def contains(self, value: Any) -> bool:
        """Whether ``value`` (a finite number, or a sized value) is inside the range.

        Examples:
            >>> FRACTION.contains(1.0), FRACTION.contains(1.5), FRACTION.contains(float("nan"))
            (True, False, False)
            >>> Bound(min_length=2).contains(["a"])
            False
        """
        if isinstance(value, (int, float)):
            return math.isfinite(value) and not (
                (self.ge is not None and value < self.ge)
                or (self.gt is not None and value <= self.gt)
                or (self.le is not None and value > self.le)
                or (self.lt is not None and value >= self.lt)
            )
        size = len(value)
        return not (
            (self.min_length is not None and size < self.min_length)
            or (self.max_length is not None and size > self.max_length)
            or (self.pattern is not None and re.search(self.pattern, value) is None)
        )

    def json_schema(self, json_type: str) -> dict[str, float | str]:
        """The range as JSON Schema keywords for a value of ``json_type``.

        Examples:
            >>> FRACTION.json_schema("number")
            {'minimum': 0.0, 'maximum': 1.0}
            >>> Bound(min_length=1).json_schema("array")
            {'minItems': 1}
        """
        sized = {"string": "Length", "array": "Items", "object": "Properties"}.get(json_type)
        keywords: dict[str, float | str | None] = (
            {f"min{sized}": self.min_length, f"max{sized}": self.max_length}
            if sized
            else {
                "minimum": self.ge,
                "exclusiveMinimum": self.gt,
                "maximum": self.le,
                "exclusiveMaximum": self.lt,
            }
        )
        if json_type == "string":
            keywords["pattern"] = self.pattern
        return {k: v for k, v in keywords.items() if v is not None}


#: A share of units, 0 to 1 (``traffic_fraction``, weights).
FRACTION = Bound(ge=0.0, le=1.0)
#: A string, list or object that must not be empty.
NON_EMPTY = Bound(min_length=1)


def bounds_of(model: type) -> dict[str, Bound]:
    """Every field of ``model`` whose type carries a :class:`Bound`.

    ``X | None`` counts as ``X``; a bound on the items of a list field is listed under
    ``"field[]"``.

    Args:
        model: A config model (msgspec Struct).

    Returns:
        Field name (or ``"field[]"``) → its bound.

    Examples:
        >>> from abwb.config.experiment import Experiment
        >>> sorted(bounds_of(Experiment))
        ['phase', 'surfaces[]', 'traffic_fraction', 'unit_type', 'variants']
    """
    found: dict[str, Bound] = {}
    for name, hint in get_type_hints(model, include_extras=True).items():
        members = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
        for member in members:
            bound = _bound(member)
            if bound is not None:
                found[name] = bound
            elif get_origin(member) is list and (item := _bound(get_args(member)[0])):
                found[f"{name}[]"] = item
    return found


def _bound(hint: Any) -> Bound | None:
    return next((m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Bound)), None)


class ProblemList(list[Problem]):
    """A list of problems with a convenience ``add`` that prefixes a base path."""

    def add(self, path: str, message: str) -> None:
        """Record a problem at ``path``."""
        self.append(Problem(path, message))


def join(base: str, field: str) -> str:
    """Join a base path and a field name: ``join("variants[2]", "weight")``."""
    if not base:
        return field
    return f"{base}{field}" if field.startswith("[") else f"{base}.{field}"


def check_key(problems: ProblemList, path: str, value: str) -> None:
    """Check that ``value`` is a valid key (lowercase slug, 1-64 chars)."""
    if not KEY_PATTERN.fullmatch(value):
        problems.add(
            path,
            f"must be 1-64 chars of a-z, 0-9, '_', '.', '-' starting with a letter or digit, "
            f"got {value!r}",
        )


def check_fraction(problems: ProblemList, path: str, value: float) -> None:
    """Check that ``value`` is a finite number in [0, 1] (:data:`FRACTION`)."""
    if not FRACTION.contains(value):
        problems.add(path, f"must be a fraction in [0, 1], got {value!r}")


def check_unique(problems: ProblemList, path: str, keys: Iterable[str], what: str) -> None:
    """Report every key that appears more than once."""
    seen: set[str] = set()
    for i, key in enumerate(keys):
        if key in seen:
            problems.add(f"{path}[{i}].key", f"duplicate {what} key {key!r}")
        seen.add(key)


def check_utc(problems: ProblemList, path: str, value: datetime | None) -> None:
    """Timestamps must be timezone-aware (abwb stores and compares UTC)."""
    if value is not None and value.tzinfo is None:
        problems.add(path, f"must be timezone-aware (e.g. 2026-01-01T00:00:00Z), got {value!r}")


def check_payload(problems: ProblemList, path: str, value: Any) -> None:
    """Check a JSON payload is encodable and under the size bound."""
    try:
        size = len(msgspec.json.encode(value))
    except (TypeError, ValueError, OverflowError) as exc:
        problems.add(path, f"must be JSON-encodable: {exc}")
        return
    if size > MAX_PAYLOAD_BYTES:
        problems.add(path, f"must encode to at most {MAX_PAYLOAD_BYTES} bytes, got {size}")


def raise_if(problems: list[Problem]) -> None:
    """Raise :class:`InvalidInput` carrying every problem, if there are any."""
    if problems:
        raise InvalidInput(list(problems))


#: Strings YAML 1.1 reads as booleans; abwb parses YAML 1.2 style, so they stay strings.
YAML11_BOOLEANS = frozenset({"yes", "no", "on", "off", "y", "n"})


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """A hint naming the closest of ``choices`` to a misspelt ``value`` ("" if none is close).

    Examples:
        >>> did_you_mean("purchse", ["purchase", "revenue"])
        "; did you mean 'purchase'?"
        >>> did_you_mean("zzz", ["purchase"])
        ''
    """
    close = difflib.get_close_matches(value, sorted(choices), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def struct_problems(data: Any, kind: Any, *, path: str = "") -> ProblemList:
    """Every problem of ``data`` as a ``kind`` (a config model or a type), in one pass.

    Unknown and missing fields, type errors in every field (nested objects and list
    items included), enum values with the allowed ones listed, and the model's own
    semantic checks on the fields that did decode.

    Args:
        data: Plain data (parsed YAML/JSON).
        kind: The msgspec Struct class (or any type msgspec can convert to).
        path: Path prefix of ``data``.

    Returns:
        The problems (empty when ``data`` converts cleanly).
    """
    problems = ProblemList()
    _diagnose(data, kind, path, problems)
    return problems


def salvage[T: msgspec.Struct](data: Any, kind: type[T]) -> T | None:
    """Best-effort object from invalid ``data``, only for cross-object checks.

    Fields that do not convert fall back to their defaults and the model's own checks
    are skipped, so references (metric keys, layers, flags) of an otherwise invalid
    object are still checked in the same run. Never store or use the result otherwise.

    Returns:
        The object, or ``None`` when a required field is unusable.
    """
    if not isinstance(data, Mapping):
        return None
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(kind):
        raw = data.get(field.encode_name, msgspec.NODEFAULT)
        try:
            if raw is msgspec.NODEFAULT:
                raise msgspec.ValidationError
            values[field.name] = msgspec.convert(raw, field.type, strict=True)
        except msgspec.ValidationError:
            items = _salvage_items(raw, field.type)
            if items is not None:
                values[field.name] = items
                continue
            if field.default is not msgspec.NODEFAULT:
                values[field.name] = field.default
            elif field.default_factory is not msgspec.NODEFAULT:
                values[field.name] = field.default_factory()
            else:
                return None
    unchecked = type(kind.__name__, (kind,), {"__post_init__": _no_checks})
    return unchecked(**values)  # type: ignore[no-any-return]


def _salvage_items(raw: Any, tp: Any) -> list[Any] | None:
    """A list of structs with each item salvaged (unusable items dropped)."""
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    args = get_args(tp)
    if get_origin(tp) is not list or not isinstance(raw, list) or len(args) != 1:
        return None
    item_tp = args[0]
    if not (isinstance(item_tp, type) and issubclass(item_tp, msgspec.Struct)):
        return None
    return [x for x in (salvage(item, item_tp) for item in raw) if x is not None]


def _no_checks(self: Any) -> None:
    """``__post_init__`` of a salvaged object: its problems are reported already."""


def _diagnose(value: Any, tp: Any, path: str, problems: ProblemList) -> None:
    try:
        msgspec.convert(value, tp, strict=True)
        return
    except msgspec.ValidationError as exc:
        error = exc
    tp = _without_none(tp, value)
    if get_origin(tp) is Annotated:  # a Bound or Meta: the error above already applied it
        tp = get_args(tp)[0]
    origin = get_origin(tp)
    if _diagnose_inside(value, tp, path, problems):
        return
    if origin is Literal:
        allowed = list(get_args(tp))
        hint = did_you_mean(value, map(str, allowed)) if isinstance(value, str) else ""
        problems.add(path, f"must be one of {allowed}, got {value!r}{hint}")
    elif tp is bool and isinstance(value, str):
        problems.add(path, f"must be true or false, got {value!r}" + _yaml11_hint(value))
    else:
        _from_error(error, path, problems, value)


def _diagnose_inside(value: Any, tp: Any, path: str, problems: ProblemList) -> bool:
    """Diagnose the parts of a struct, list or dict; True if a problem was found inside."""
    origin = get_origin(tp)
    before = len(problems)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct) and isinstance(value, Mapping):
        _struct_fields(value, tp, path, problems)
    elif origin is list and isinstance(value, list):
        (item_tp,) = get_args(tp)
        for i, item in enumerate(value):
            _diagnose(item, item_tp, f"{path}[{i}]", problems)
    elif origin is dict and isinstance(value, Mapping):
        value_tp = get_args(tp)[1]
        for name, item in value.items():
            if isinstance(name, str):
                _diagnose(item, value_tp, _join(path, f"[{name!r}]"), problems)
            else:
                problems.add(_join(path, f"[{name!r}]"), _key_message(name))
    return len(problems) > before


def _struct_fields(
    value: Mapping[Any, Any], tp: type[msgspec.Struct], path: str, problems: ProblemList
) -> None:
    """Check each field of a struct separately, then the model's own checks on the rest."""
    before = len(problems)
    fields = {f.encode_name: f for f in msgspec.structs.fields(tp)}
    bad: set[str] = set()
    for name in value:
        if not isinstance(name, str):
            problems.add(_join(path, f"[{name!r}]"), _key_message(name))
        elif name not in fields:
            hint = did_you_mean(name, fields) or f"; expected one of {sorted(fields)}"
            problems.add(_join(path, name), f"unknown field{hint}")
    for name, field in fields.items():
        if name not in value:
            if field.required:
                problems.add(_join(path, name), "required field is missing")
            continue
        count = len(problems)
        _diagnose(value[name], field.type, _join(path, name), problems)
        if len(problems) > count:
            bad.add(name)
    if len(problems) == before:
        return  # every field is fine on its own: the caller reports the model's check
    prefixes = tuple(_join(path, name) for name in bad)
    problems.extend(
        p
        for p in _semantic_problems(value, tp, path, fields, bad)
        if not p.path.startswith(prefixes) and p not in problems
    )


def _semantic_problems(
    value: Mapping[Any, Any],
    tp: type[msgspec.Struct],
    path: str,
    fields: Mapping[str, Any],
    bad: set[str],
) -> ProblemList:
    """The model's own checks on the fields that did decode (bad ones take defaults)."""
    semantic = ProblemList()
    rest = {k: v for k, v in value.items() if isinstance(k, str) and k in fields and k not in bad}
    if all(name in rest for name, f in fields.items() if f.required):
        try:
            msgspec.convert(rest, tp, strict=True)
        except msgspec.ValidationError as exc:
            _from_error(exc, path, semantic, rest)
        return semantic
    own_checks = getattr(salvage(value, tp), "problems", None)
    if callable(own_checks):
        semantic.extend(Problem(_join(path, p.path), p.message) for p in own_checks())
    return semantic


def _from_error(
    error: msgspec.ValidationError, path: str, problems: ProblemList, value: Any
) -> None:
    cause = error.__cause__ or error.__context__
    message, _, where = str(error).partition(" - at `$")
    where = where.rstrip("`").lstrip(".")
    if isinstance(cause, InvalidInput):
        for p in cause.problems:
            problems.add(_join(_join(path, where), p.path), p.message)
        return
    if not where and not isinstance(value, (Mapping, list)):
        message = f"{message} ({value!r})"
    problems.add(_join(path, where), message)


def _without_none(tp: Any, value: Any) -> Any:
    """``X | None`` is just ``X`` for a value that is not ``None``."""
    if get_origin(tp) in (Union, types.UnionType) and value is not None:
        others = [a for a in get_args(tp) if a is not type(None)]
        if len(others) == 1:
            return others[0]
    return tp


def _key_message(name: Any) -> str:
    hint = ""
    if isinstance(name, bool):
        hint = (
            " (YAML 1.1 reads unquoted on/off/yes/no as booleans; abwb files keep them "
            "as strings, but quote keys written by other tools)"
        )
    return f"keys must be strings, got {type(name).__name__} {name!r}{hint}"


def _yaml11_hint(value: str) -> str:
    if value.lower() in YAML11_BOOLEANS:
        return " (abwb reads YAML 1.2: write true/false, unquoted)"
    return ""


def _join(base: str, field: str) -> str:
    field = field.lstrip(".")
    if not field:
        return base
    if not base:
        return field
    return f"{base}{field}" if field.startswith("[") else f"{base}.{field}"
