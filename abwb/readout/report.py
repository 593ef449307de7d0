"""Readout artefacts on disk: ``results.json`` (the machine contract) and the HTML report.

What belongs here: :func:`readout_to_dict` (the JSON document, version 1),
:func:`write_results` (written by the library from a
:class:`~abwb.readout.model.ReadoutResult`, never by notebook code, so it carries
the library's own numbers), :func:`save_readout` / :func:`load_readout` (the whole
computed readout, so the notebook presents the very object ``results.json`` was
written from instead of computing it a second time) and :func:`export_html`
(nbconvert with input cells hidden), plus :func:`report_dir` naming
``<reports>/<key>/<as_of>/``.

``results.json`` layout::

    {"schema_version": 1, "experiment": "...", "as_of": "2026-06-01",
     "facts": {...}, "quality": {"passed": true, "srm_p_value": 0.61, "checks": [...]},
     "results": [{"metric": "purchase", "variant": "one-page", "effect_rel": 0.031, ...}],
     "decision": {"action": "ship", "variant": "one-page", "rule": "...", "headline": "..."}}

Non-finite numbers (NaN, ±inf) are written as ``null`` so any JSON parser reads it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
from datetime import date, datetime
from pathlib import Path
from typing import Any

from abwb.errors import InvalidInput
from abwb.readout.model import ReadoutResult

__all__ = ["RESULTS_SCHEMA_VERSION", "export_html", "load_readout", "readout_to_dict",
           "report_dir", "save_readout", "write_results"]

RESULTS_SCHEMA_VERSION = 1


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return _clean_dict(value)
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _clean_dict(value: dict[Any, Any]) -> dict[str, Any]:
    return {str(k): _clean(v) for k, v in value.items()}


def readout_to_dict(readout: ReadoutResult) -> dict[str, Any]:
    """The readout as plain JSON-ready data (see the module docstring).

    Args:
        readout: The readout.

    Returns:
        The document; NaN and infinities become ``None``.
    """
    facts = readout.facts
    facts_doc = {
        f.name: getattr(facts, f.name)
        for f in dataclasses.fields(facts)
        if f.name != "variants"
    }
    facts_doc["variants"] = [dataclasses.asdict(v) for v in facts.variants]
    facts_doc["units"] = facts.units
    facts_doc["days_running"] = facts.days_running
    quality = readout.quality
    return _clean_dict({
        "schema_version": RESULTS_SCHEMA_VERSION,
        "experiment": facts.key,
        "as_of": facts.as_of,
        "facts": facts_doc,
        "quality": {
            "passed": quality.passed,
            "srm_p_value": quality.srm_p_value,
            "checks": [dataclasses.asdict(c) for c in quality.checks],
        },
        "results": readout.results.to_dicts(),
        "decision": dataclasses.asdict(readout.decision),
        "computed_at": readout.computed_at,
        "abwb_version": readout.abwb_version,
    })


def write_results(readout: ReadoutResult, path: str | Path) -> Path:
    """Write ``results.json`` for ``readout`` (UTF-8, sorted keys, atomic replace).

    Args:
        readout: The readout.
        path: Target file.

    Returns:
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(
        json.dumps(readout_to_dict(readout), indent=2, sort_keys=True, allow_nan=False) + "\n",
        encoding="utf-8",
    )
    tmp.replace(target)
    return target


def save_readout(readout: ReadoutResult, path: str | Path) -> Path:
    """Save the computed readout for the notebook to present (atomic replace).

    The file is a pickle of the :class:`ReadoutResult` (frames included): it is an
    artefact of one run, read back by :func:`load_readout` in the same environment,
    not an exchange format — ``results.json`` is that.

    Args:
        readout: The readout.
        path: Target file (``readout.pkl`` beside ``results.json``).

    Returns:
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_bytes(pickle.dumps(readout, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(target)
    return target


def load_readout(path: str | Path) -> ReadoutResult:
    """Load a readout saved by :func:`save_readout` (only files abwb itself wrote).

    Args:
        path: The saved readout.

    Returns:
        The readout, exactly as computed by the run that saved it.

    Raises:
        InvalidInput: The file is missing or does not hold a readout (``readout_path``).
    """
    source = Path(path)
    if not source.is_file():
        raise InvalidInput(f"no saved readout at {str(source)!r}", path="readout_path")
    try:
        readout = pickle.loads(source.read_bytes())
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise InvalidInput(f"{str(source)!r} is not a saved readout ({exc})",
                           path="readout_path") from exc
    if not isinstance(readout, ReadoutResult):
        raise InvalidInput(f"{str(source)!r} holds a {type(readout).__name__}, not a readout",
                           path="readout_path")
    return readout


def report_dir(reports_dir: str | Path, experiment_key: str, as_of: date) -> Path:
    """Where one readout's files go: ``<reports_dir>/<key>/<as_of>/``.

    Examples:
        >>> report_dir("reports", "checkout", date(2026, 6, 1)).as_posix()
        'reports/checkout/2026-06-01'
    """
    return Path(reports_dir) / experiment_key / as_of.isoformat()


def export_html(notebook_path: str | Path, html_path: str | Path, *, title: str = "") -> Path:
    """Render an executed notebook to a self-contained HTML report without input cells.

    Args:
        notebook_path: The executed notebook.
        html_path: Where to write the HTML.
        title: Page title (default: the notebook's name).

    Returns:
        The HTML path.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook_path), as_version=4)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    resources = {"metadata": {"name": title or Path(notebook_path).stem}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    target = Path(html_path)
    target.write_text(body, encoding="utf-8")
    return target
