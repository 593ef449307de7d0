"""Reading and writing config-as-code files (YAML or JSON) with precise errors.

YAML is read with YAML 1.2 booleans: only ``true``/``false`` are booleans, so
``on``/``off``/``yes``/``no`` (flag variations, country code ``NO``) stay strings
instead of silently becoming ``True``/``False`` as in YAML 1.1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import yaml

from abwb.config.bundle import ConfigBundle
from abwb.errors import InvalidInput

__all__ = ["dump_bundle", "load_bundle", "parse_text"]

#: Config files are small; anything bigger is a mistake (or an attack on the parser).
MAX_FILE_BYTES = 8 * 1024 * 1024


class _Yaml12Loader(yaml.SafeLoader):  # type: ignore[misc]  # yaml ships no stubs
    """``yaml.SafeLoader`` with YAML 1.2 booleans (``true``/``false`` only)."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def parse_text(text: str, *, source: str = "<text>") -> Any:
    """Parse YAML or JSON text into plain data (JSON is valid YAML, but is tried first).

    Raises:
        InvalidInput: naming the source and the line/column of a syntax error.
    """
    if len(text) > MAX_FILE_BYTES:
        raise InvalidInput(f"{source}: file is larger than {MAX_FILE_BYTES} bytes")
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return msgspec.json.decode(text)
        except msgspec.DecodeError:
            pass  # not strict JSON (comments, trailing commas) — let YAML have a go
    try:
        return yaml.load(text, Loader=_Yaml12Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{source}: malformed YAML{where}: {problem}") from exc


def load_bundle(path: str | Path) -> ConfigBundle:
    """Load and validate a config file.

    Raises:
        InvalidInput: the file is unreadable, malformed, or invalid (every problem listed,
            paths prefixed with the file name).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{p}: cannot read config file: {exc}") from exc
    data = parse_text(text, source=str(p))
    if data is None:
        data = {}
    try:
        return ConfigBundle.from_data(data)
    except InvalidInput as exc:
        raise InvalidInput(
            [type(q)(f"{p}:{q.path}" if q.path else str(p), q.message) for q in exc.problems]
        ) from None


def dump_bundle(bundle: ConfigBundle, path: str | Path) -> None:
    """Write a bundle as YAML (``.yaml``/``.yml``) or JSON (anything else)."""
    p = Path(path)
    data = bundle.to_data()
    if p.suffix in (".yaml", ".yml"):
        p.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    else:
        p.write_bytes(msgspec.json.format(msgspec.json.encode(data), indent=2) + b"\n")
