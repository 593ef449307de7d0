"""What ``abwb apply``, ``diff`` and ``export`` share: the workspace, files, plan lines.

What belongs here: opening the configured workspace's config store together with
the :class:`~abwb.changes.ConfigChanges` use cases, reading config files into plain
data, and turning a :class:`~abwb.reconciliation.Plan` into the lines both commands
print. The planning itself lives in :mod:`abwb.reconciliation`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abwb.changes import ConfigChanges
from abwb.config.io import parse_text
from abwb.errors import InvalidInput
from abwb.reconciliation import FieldChange, Plan
from abwb.settings import Settings
from abwb.snapshot.holder import ConfigSnapshotHolder
from abwb.store.protocol import ConfigStore

__all__ = ["Workspace", "open_workspace", "plan_lines", "read_files", "workspace_name"]

#: Longest value shown in a changed field's line before it is shortened.
VALUE_WIDTH = 60
#: Up to this many workspace objects the files leave alone are named; more are counted.
KEPT_LISTED = 5


@dataclass(frozen=True, slots=True)
class Workspace:
    """The configured workspace: its config store and the config use cases over it."""

    name: str
    store: ConfigStore
    changes: ConfigChanges


def workspace_name(settings: Settings) -> str:
    """Where the workspace lives, for humans (``.abwb/abwb.db``, ``PostgreSQL schema x``)."""
    db = settings.database
    if db.is_postgres:
        return f"PostgreSQL schema {db.schema}"
    return str(Path(db.effective_url.removeprefix("sqlite:///")).resolve())


@contextmanager
def open_workspace(settings: Settings) -> Iterator[Workspace]:
    """Open the settings' config store (migrating it) and the use cases over it.

    Raises:
        StorageError: the database cannot be opened.
    """
    from abwb.store import open_stores

    stores = open_stores(settings)

    config = stores.config
    try:
        holder = ConfigSnapshotHolder()
        holder.start(config)
        yield Workspace(workspace_name(settings), config, ConfigChanges(config, holder))
    finally:
        stores.close()


def read_files(paths: Sequence[str]) -> list[tuple[str, Any]]:
    """Each config file parsed into plain data (YAML or JSON).

    Raises:
        InvalidInput: a file cannot be read or parsed (every file's problem listed).
    """
    out: list[tuple[str, Any]] = []
    problems = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
            out.append((path, parse_text(text, source=path)))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read config file: {exc}")
        except InvalidInput as exc:
            problems.extend(str(p) for p in exc.problems)
    if problems:
        raise InvalidInput("; ".join(problems))
    return out


def plan_lines(plan: Plan, *, workspace: str) -> list[str]:
    """The plan as lines: one per object created, changed or moved, then a summary."""
    lines = [f"plan for {workspace} (config version {plan.config_version}):"]
    for change in plan.changes:
        label = f"{change.kind} {change.key!r}"
        if change.action == "create":
            lines.append(f"  + create {label}")
        elif change.action == "update":
            lines.append(f"  ~ change {label} (version {change.expected_version})")
            lines.extend(f"      {_field_line(f)}" for f in change.fields)
        lines.extend(f"  > {action} {label}" for action in change.lifecycle)
    if not plan.changes and not plan.refusals:
        lines.append("  no changes: the workspace already is as the files say")
    if 0 < len(plan.untouched) <= KEPT_LISTED:
        kept = ", ".join(f"{kind} {key!r}" for kind, key in plan.untouched)
        lines.append(f"  kept (not in the files): {kept}")
    elif plan.untouched:
        lines.append(f"  kept: {len(plan.untouched)} objects of the workspace not in the files")
    for refusal in plan.refusals:
        lines.append(f"  ! refused: {refusal}" if not refusal.startswith("  ") else f"  {refusal}")
    lines.append(plan.summary())
    return lines


def _field_line(change: FieldChange) -> str:
    if change.before is None:
        return f"{change.path}: set to {_value(change.after)}"
    if change.after is None:
        return f"{change.path}: removed (was {_value(change.before)})"
    return f"{change.path}: {_value(change.before)} → {_value(change.after)}"


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"
