"""Config as code: reconcile a workspace with config files (plan, apply) and export it.

What belongs here: :func:`plan_changes` (what applying some config files to the
workspace would create, change and start — or why it is refused),
:func:`apply_plan` (carry a plan out through :class:`~abwb.changes.ConfigChanges`,
so every write gets the same cross-object checks, optimistic concurrency and audit
rows as the HTTP API) and :func:`export_data` (the workspace as plain data that
``apply`` round-trips). The ``abwb apply`` / ``diff`` / ``export`` commands are thin
shells over these; nothing here prints.

Statuses are not patched: an experiment's or rollout's status in a file is reached
through lifecycle actions (``start``, ``pause``, ...), shown in the plan, and a flag's
``killed`` through the kill switch. Runtime state (a rollout's progress, when it
started) is never overwritten by a file. An object's ``version`` in a file (as
exported) is the version the file was written against: when the workspace has moved
on since, the plan refuses to overwrite it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec

from abwb.changes import ConfigChanges
from abwb.config.bundle import SECTIONS, ConfigBundle, decode_object, validate_bundle
from abwb.config.experiment import Experiment
from abwb.config.flag import Flag
from abwb.config.lifecycle import TRANSITIONS, transition
from abwb.config.rollout import Rollout
from abwb.config.validation import ProblemList
from abwb.errors import AbwbError, Conflict, InvalidInput, Problem
from abwb.store.protocol import ConfigStore, Kind

__all__ = [
    "APPLY_ORDER",
    "FieldChange",
    "Plan",
    "PlannedChange",
    "apply_plan",
    "export_data",
    "plan_changes",
]

#: Kinds in the order they are created (an object's references exist before it).
APPLY_ORDER: tuple[Kind, ...] = (
    "segment",
    "layer",
    "holdout",
    "metric",
    "flag",
    "experiment",
    "rollout",
)
_SECTION_KIND: dict[str, Kind] = {
    "segments": "segment",
    "layers": "layer",
    "holdouts": "holdout",
    "metrics": "metric",
    "flags": "flag",
    "experiments": "experiment",
    "rollouts": "rollout",
}
#: Fields a file does not patch: the version, and state changed by lifecycle actions.
_MANAGED: dict[str, frozenset[str]] = {
    "experiment": frozenset({"version", "status"}),
    "flag": frozenset({"version", "killed"}),
    "rollout": frozenset(
        {
            "version",
            "status",
            "started_at",
            "step_index",
            "step_started_at",
            "paused_at",
            "paused_s",
            "status_reason",
        }
    ),
}
#: Rollout status changes ``apply`` can make: (from, to) → action.
_ROLLOUT_MOVES: dict[tuple[str, str], str] = {
    ("draft", "active"): "start",
    ("active", "paused"): "pause",
    ("paused", "active"): "resume",
    ("active", "completed"): "complete",
    ("paused", "completed"): "complete",
    ("active", "rolled_back"): "roll_back",
    ("paused", "rolled_back"): "roll_back",
}

Action = Literal["create", "update"]


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed field of an object: ``path`` goes from ``before`` to ``after``."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """What applying a file does to one object.

    Args:
        kind: Kind of object.
        key: Its key.
        action: ``create`` or ``update`` (``None``: only lifecycle actions).
        fields: The fields an update changes.
        lifecycle: Lifecycle actions taken after the write, in order (``start``, ...).
        expected_version: The workspace version the change was planned against
            (0 for a create).
        desired: The object as the file states it.
    """

    kind: Kind
    key: str
    action: Action | None
    fields: tuple[FieldChange, ...]
    lifecycle: tuple[str, ...]
    expected_version: int
    desired: Any


@dataclass(frozen=True, slots=True)
class Plan:
    """The changes applying some files would make, or why they are refused.

    Args:
        changes: Objects to create or change, in apply order.
        unchanged: ``(kind, key)`` of file objects already as stated.
        untouched: ``(kind, key)`` of workspace objects the files do not mention (kept).
        refusals: Why the files cannot be applied (empty when they can).
        config_version: The workspace's config version when planned.
    """

    changes: list[PlannedChange]
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    untouched: list[tuple[str, str]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    config_version: int = 0

    @property
    def in_sync(self) -> bool:
        """Whether the workspace already is as the files say."""
        return not self.changes and not self.refusals

    def summary(self) -> str:
        """One line: how many objects are created, changed, started, unchanged.

        Examples:
            >>> Plan(changes=[], unchanged=[("metric", "m")]).summary()
            '0 to create, 0 to change, 0 lifecycle actions, 1 unchanged'
        """
        creates = sum(1 for c in self.changes if c.action == "create")
        updates = sum(1 for c in self.changes if c.action == "update")
        actions = sum(len(c.lifecycle) for c in self.changes)
        noun = "action" if actions == 1 else "actions"
        return (
            f"{creates} to create, {updates} to change, {actions} lifecycle {noun}, "
            f"{len(self.unchanged)} unchanged"
        )


def export_data(store: ConfigStore) -> dict[str, Any]:
    """The workspace as plain data (a config file ``apply`` round-trips).

    Objects keep their ``version``: applying the export later refuses to overwrite an
    object that changed in the meantime.
    """
    bundle = store.load_bundle()
    data: dict[str, Any] = {"version": bundle.version}
    for section in SECTIONS:
        objs = getattr(bundle, section)
        if objs:
            data[section] = [_without_defaults(o) for o in objs]
    return data


def _without_defaults(value: Any) -> Any:
    """Plain data of ``value`` with fields left at their default omitted (readable files)."""
    if isinstance(value, msgspec.Struct):
        out: dict[str, Any] = {}
        for f in msgspec.structs.fields(value):
            item = getattr(value, f.name)
            default = (
                f.default_factory() if f.default_factory is not msgspec.NODEFAULT else f.default
            )
            if f.required or item != default:
                out[f.encode_name] = _without_defaults(item)
        return out
    if isinstance(value, list | tuple):
        return [_without_defaults(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_defaults(v) for k, v in value.items()}
    return msgspec.to_builtins(value)


def plan_changes(
    store: ConfigStore, files: Sequence[tuple[str, Any]], *, now: datetime
) -> Plan:
    """What applying the parsed config ``files`` to the workspace would do.

    Files may hold part of a workspace: their references are resolved against the
    workspace with the files' objects in place.

    Args:
        store: The workspace's config store.
        files: ``(name, parsed data)`` of each file, in order.
        now: Current time (lifecycle checks such as a schedule that has ended).

    Returns:
        The plan; ``refusals`` says why it cannot be applied, if it cannot.

    Raises:
        InvalidInput: a file is invalid on its own (every problem, with file and path).
    """
    desired = _decode_files(files)
    current = store.load_bundle()
    merged = current
    for kind, obj in desired:
        merged = _replaced(merged, kind, obj.key, obj)
    plan = Plan(changes=[], config_version=current.version)
    plan.refusals.extend(_new_problems(current, merged))
    mentioned = {(kind, obj.key) for kind, obj in desired}
    for kind in APPLY_ORDER:
        section = _section(kind)
        for obj in getattr(current, section):
            if (kind, obj.key) not in mentioned:
                plan.untouched.append((kind, obj.key))
        for obj in (o for k, o in desired if k == kind):
            existing = _find(current, kind, obj.key)
            change = _plan_one(kind, obj, existing, merged, now, plan.refusals)
            if change is None:
                plan.unchanged.append((kind, obj.key))
            else:
                plan.changes.append(change)
    return plan


def apply_plan(
    changes: ConfigChanges, plan: Plan, *, actor: str, reason: str, now: datetime
) -> list[str]:
    """Carry out a plan through the config use cases; returns one line per write.

    Creates run first in :data:`APPLY_ORDER` (a new flag whose rules name a new
    experiment is created without those rules, which are added once the experiment
    exists), then updates, then lifecycle actions. Every write checks the version the
    plan saw (optimistic concurrency) and is audited with ``actor`` and ``reason``.

    Raises:
        Conflict: the plan has refusals, or the workspace changed since it was planned
            (the message lists what was already written).
    """
    if plan.refusals:
        raise Conflict("the plan is refused", reasons=list(plan.refusals))
    done: list[str] = []
    try:
        _apply_writes(changes, plan, actor=actor, reason=reason, done=done)
        for change in plan.changes:
            for action in change.lifecycle:
                _lifecycle(changes, change, action, actor=actor, reason=reason, now=now)
                done.append(f"{action} {change.kind} {change.key!r}")
    except AbwbError as exc:
        written = "; ".join(done) or "nothing"
        reasons = [*getattr(exc, "reasons", []), f"already applied: {written}"]
        raise Conflict(f"apply stopped: {exc}", reasons=reasons) from exc
    return done


def _apply_writes(
    changes: ConfigChanges, plan: Plan, *, actor: str, reason: str, done: list[str]
) -> None:
    store = changes.store
    deferred: list[PlannedChange] = []
    for change in (c for c in plan.changes if c.action == "create"):
        obj = _draft(change.desired)
        if change.kind == "flag" and _rules_need_new_experiments(obj, store):
            deferred.append(change)
            obj = msgspec.structs.replace(
                obj, rules=[r for r in obj.rules if r.experiment is None]
            )
        changes.create(change.kind, obj, actor=actor, reason=reason)
        done.append(f"create {change.kind} {change.key!r}")
    for change in (c for c in plan.changes if c.action == "update"):
        _update(changes, change.kind, change.key, change.desired, change.expected_version,
                actor=actor, reason=reason)
        done.append(f"update {change.kind} {change.key!r}")
    for change in deferred:
        current = store.get(change.kind, change.key)
        _update(changes, change.kind, change.key, change.desired, current.version,
                actor=actor, reason=reason)
        done.append(f"update {change.kind} {change.key!r} (experiment rules)")


def _update(
    changes: ConfigChanges,
    kind: Kind,
    key: str,
    desired: Any,
    expected_version: int,
    *,
    actor: str,
    reason: str,
) -> None:
    current = changes.store.get(kind, key)
    patch = _merge_patch_between(_comparable(kind, current), _comparable(kind, desired))
    changes.update(kind, key, patch, expected_version=expected_version, actor=actor,
                   reason=reason)


def _lifecycle(
    changes: ConfigChanges,
    change: PlannedChange,
    action: str,
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> None:
    why = f"{reason} ({action})"
    if change.kind == "experiment":
        changes.change_status(change.key, action, now=now, expected_version=None,
                              actor=actor, reason=why)
    elif change.kind == "rollout":
        changes.rollout_action(change.key, action, now=now, expected_version=None,
                               actor=actor, reason=why)
    elif change.kind == "flag":
        changes.set_killed(change.key, action == "kill", actor=actor, reason=why)


def _decode_files(files: Sequence[tuple[str, Any]]) -> list[tuple[Kind, Any]]:
    """Every object of every file, decoded; every problem raised at once."""
    problems = ProblemList()
    out: list[tuple[Kind, Any]] = []
    seen: dict[tuple[str, str], str] = {}
    for name, data in files:
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.add(name, f"must hold a mapping of sections, got {type(data).__name__}")
            continue
        for section in data:
            if section not in SECTIONS and section != "version":
                problems.add(f"{name}:{section}", f"unknown section; expected one of "
                             f"{sorted([*SECTIONS, 'version'])}")
        for section, model in SECTIONS.items():
            raw = data.get(section) or []
            if not isinstance(raw, list):
                problems.add(f"{name}:{section}", f"must be a list, got {type(raw).__name__}")
                continue
            kind = _SECTION_KIND[section]
            for i, item in enumerate(raw):
                obj: Any = decode_object(item, model, problems, path=f"{name}:{section}[{i}]")
                if obj is None:
                    continue
                where = f"{name}:{section}[{i}]"
                if (kind, obj.key) in seen:
                    problems.add(f"{where}.key", f"{kind} {obj.key!r} is also defined at "
                                 f"{seen[kind, obj.key]}")
                    continue
                seen[kind, obj.key] = where
                out.append((kind, obj))
    if problems:
        raise InvalidInput(list(problems))
    return out


def _plan_one(
    kind: Kind,
    obj: Any,
    existing: Any | None,
    merged: ConfigBundle,
    now: datetime,
    refusals: list[str],
) -> PlannedChange | None:
    label = f"{kind} {obj.key!r}"
    action: Action | None = None
    fields: tuple[FieldChange, ...] = ()
    if existing is None:
        action = "create"
    else:
        fields = tuple(_field_changes(_comparable(kind, existing), _comparable(kind, obj)))
        action = "update" if fields else None
    lifecycle = _lifecycle_actions(kind, obj, existing, merged, now, refusals)
    if action is None and not lifecycle:
        return None
    if existing is not None and obj.version and obj.version != existing.version:
        refusals.append(
            f"{label}: the file was written against version {obj.version}, the workspace "
            f"has version {existing.version} (changed since; re-export it, or drop "
            "`version` from the file to overwrite)"
        )
    return PlannedChange(
        kind=kind,
        key=obj.key,
        action=action,
        fields=fields,
        lifecycle=tuple(lifecycle),
        expected_version=0 if existing is None else existing.version,
        desired=obj,
    )


def _lifecycle_actions(
    kind: Kind,
    obj: Any,
    existing: Any | None,
    merged: ConfigBundle,
    now: datetime,
    refusals: list[str],
) -> list[str]:
    label = f"{kind} {obj.key!r}"
    if kind == "flag":
        was = existing.killed if existing is not None else False
        return [] if obj.killed == was else ["kill" if obj.killed else "revive"]
    if kind == "rollout":
        was = existing.status if existing is not None else "draft"
        if obj.status == was:
            return []
        move = _ROLLOUT_MOVES.get((was, obj.status))
        if move is None:
            refusals.append(
                f"{label}: cannot go from {was!r} to {obj.status!r} by apply; possible moves: "
                + ", ".join(f"{a} → {b} ({m})" for (a, b), m in _ROLLOUT_MOVES.items())
            )
            return []
        return [move]
    if kind != "experiment":
        return []
    was = existing.status if existing is not None else "draft"
    path = _lifecycle_path(was, obj.status)
    if path is None:
        refusals.append(f"{label}: no lifecycle path from {was!r} to {obj.status!r}")
        return []
    _check_lifecycle(obj, existing, path, merged, now, refusals)
    return path


def _check_lifecycle(
    obj: Experiment,
    existing: Experiment | None,
    path: list[str],
    merged: ConfigBundle,
    now: datetime,
    refusals: list[str],
) -> None:
    """Dry-run the lifecycle actions, including the overlap check of ``start``."""
    moving = msgspec.structs.replace(obj, status=existing.status if existing else "draft")
    for action in path:
        try:
            moving = transition(moving, action, now)
            if action in ("start", "resume"):
                _check_can_start(moving, _replaced(merged, "experiment", obj.key, moving))
        except Conflict as exc:
            message = str(exc)
            prefix = f"experiment {obj.key!r}"
            refusals.append(message if message.startswith(prefix) else f"{prefix}: {message}")
            refusals.extend(f"  {reason}" for reason in exc.reasons)
            return


def _check_can_start(experiment: Experiment, bundle: ConfigBundle) -> None:
    try:
        from abwb.assignment.conflicts import check_can_start
    except ImportError:  # pragma: no cover - the assignment package is part of abwb
        return
    check_can_start(experiment, bundle)


def _lifecycle_path(source: str, target: str) -> list[str] | None:
    """The shortest sequence of lifecycle actions from ``source`` to ``target``.

    Examples:
        >>> _lifecycle_path("draft", "stopped")
        ['start', 'stop']
        >>> _lifecycle_path("stopped", "running") is None
        True
    """
    queue: deque[tuple[str, list[str]]] = deque([(source, [])])
    seen = {source}
    while queue:
        status, path = queue.popleft()
        if status == target:
            return path
        for action, (sources, result) in TRANSITIONS.items():
            if status in sources and result not in seen:
                seen.add(result)
                queue.append((result, [*path, action]))
    return None


def _new_problems(current: ConfigBundle, merged: ConfigBundle) -> list[str]:
    """Cross-object problems the files would add to the workspace, named by object key."""
    old = {_keyed(p, current) for p in validate_bundle(current)}
    new = (_keyed(p, merged) for p in validate_bundle(merged))
    return [text for text in new if text not in old]


def _keyed(problem: Problem, bundle: ConfigBundle) -> str:
    """``experiments[2].layer.layer: ...`` → ``experiment 'x' layer.layer: ...``."""
    section, bracket, rest = problem.path.partition("[")
    index, close, tail = rest.partition("]")
    objs = getattr(bundle, section, None) if bracket and close else None
    if objs is None or not index.isdigit() or int(index) >= len(objs):
        return str(problem)
    kind = _SECTION_KIND[section]
    where = tail.lstrip(".")
    return f"{kind} {objs[int(index)].key!r}{' ' + where if where else ''}: {problem.message}"


def _comparable(kind: str, obj: Any) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(obj)
    managed = _MANAGED.get(kind, frozenset({"version"}))
    return {k: v for k, v in data.items() if k not in managed}


def _field_changes(before: Any, after: Any, path: str = "") -> Iterable[FieldChange]:
    if isinstance(before, dict) and isinstance(after, dict):
        for name in [*before, *(k for k in after if k not in before)]:
            sub = f"{path}.{name}" if path else str(name)
            if name not in after:
                yield FieldChange(sub, before[name], None)
            elif name not in before:
                yield FieldChange(sub, None, after[name])
            elif before[name] != after[name]:
                yield from _field_changes(before[name], after[name], sub)
    elif before != after:
        yield FieldChange(path, before, after)


def _merge_patch_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7396) that turns ``before`` into ``after``.

    Examples:
        >>> _merge_patch_between({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 5}})
        {'b': {'c': 5, 'd': None}}
    """
    patch: dict[str, Any] = {}
    for name, value in after.items():
        old = before.get(name)
        if name in before and old == value:
            continue
        if isinstance(old, dict) and isinstance(value, dict):
            patch[name] = _merge_patch_between(old, value)
        else:
            patch[name] = value
    for name in before:
        if name not in after:
            patch[name] = None
    return patch


def _draft(obj: Any) -> Any:
    """What is created: experiments and rollouts as drafts, flags alive, version 0."""
    if isinstance(obj, Experiment):
        return msgspec.structs.replace(obj, status="draft", version=0)
    if isinstance(obj, Rollout):
        return msgspec.structs.replace(
            obj, status="draft", started_at=None, step_index=0, step_started_at=None,
            paused_at=None, paused_s=0.0, status_reason="", version=0,
        )
    if isinstance(obj, Flag):
        return msgspec.structs.replace(obj, killed=False, version=0)
    return msgspec.structs.replace(obj, version=0)


def _rules_need_new_experiments(flag: Any, store: ConfigStore) -> bool:
    names = {r.experiment for r in flag.rules if r.experiment is not None}
    existing = {e.key for e in store.load_bundle().experiments}
    return bool(names - existing)


def _section(kind: str) -> str:
    return next(s for s, k in _SECTION_KIND.items() if k == kind)


def _find(bundle: ConfigBundle, kind: str, key: str) -> Any | None:
    return next((o for o in getattr(bundle, _section(kind)) if o.key == key), None)


def _replaced(bundle: ConfigBundle, kind: str, key: str, obj: Any) -> ConfigBundle:
    section = _section(kind)
    objs = [o for o in getattr(bundle, section) if o.key != key]
    objs.append(obj)
    return msgspec.structs.replace(bundle, **{section: objs})
