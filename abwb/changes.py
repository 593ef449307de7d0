"""Config change use cases behind the CRUD routes: validate, write, refresh the snapshot.

What belongs here: :class:`ConfigChanges`, the one place where a proposed object is
checked against the rest of the config (references resolved, no new cross-object
problem), where a JSON merge patch (RFC 7396) is applied, where lifecycle actions go
through :func:`abwb.config.lifecycle.transition` (and, for ``start``, the overlap
check), and where the in-process snapshot is refreshed after a write; and the domain
rules stores used to carry: an experiment that has run (:func:`has_run`) is archived
instead of deleted (:func:`removal`). Each use case checks and writes inside one
serialised store transaction (:meth:`~abwb.store.ConfigStore.change`), so what it
checked still holds when it commits. Methods are synchronous (stores are); routes run
them in a worker thread. Nothing here knows HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec

from abwb.assignment.conflicts import check_can_start
from abwb.config.bundle import ConfigBundle, decode_object, validate_bundle
from abwb.config.experiment import Experiment
from abwb.config.flag import Flag
from abwb.config.lifecycle import transition
from abwb.config.rollout import Rollout
from abwb.config.validation import ProblemList, raise_if
from abwb.errors import Conflict, InvalidInput, Problem, VersionConflict
from abwb.snapshot.holder import ConfigSnapshotHolder
from abwb.store.documents import MAX_PAGE
from abwb.store.protocol import KIND_MODELS, KIND_SECTIONS, AuditEntry, ConfigStore, Kind

__all__ = [
    "ROLLOUT_ACTIONS",
    "RUN_STATUSES",
    "ConfigChanges",
    "has_run",
    "merge_patch",
    "problems_of",
    "removal",
]

#: Actions ``POST /v1/rollouts/{key}/actions`` accepts.
ROLLOUT_ACTIONS = ("start", "pause", "resume", "advance", "complete", "roll_back")

_INDEXED = re.compile(r"^(?P<section>[a-z]+)\[(?P<index>\d+)\](?P<rest>.*)$")


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7396): objects merge, ``null`` deletes, rest replaces.

    Examples:
        >>> merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None, "e": 4}})
        {'a': 1, 'b': {'d': 3, 'e': 4}}
    """
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = merge_patch(out.get(name), value)
    return out


def problems_of(kind: str, data: Any) -> tuple[Any, list[Problem]]:
    """Decode one object of ``kind`` from plain data, collecting every problem.

    Returns:
        ``(object or None, problems)``.
    """
    problems = ProblemList()
    obj = decode_object(data, KIND_MODELS[kind], problems)
    return obj, list(problems)


def _replaced(bundle: ConfigBundle, kind: str, key: str, obj: Any | None) -> ConfigBundle:
    section = KIND_SECTIONS[kind]
    objs = [o for o in getattr(bundle, section) if o.key != key]
    if obj is not None:
        objs.append(obj)
    return msgspec.structs.replace(bundle, **{section: objs})


def _relative(problem: Problem, kind: str, bundle: ConfigBundle, key: str) -> Problem:
    """Make a bundle path relative to the object being written, when it points inside it."""
    match = _INDEXED.match(problem.path)
    if match and match.group("section") == KIND_SECTIONS[kind]:
        objs = getattr(bundle, KIND_SECTIONS[kind])
        index = int(match.group("index"))
        if index < len(objs) and objs[index].key == key:
            return Problem(match.group("rest").lstrip("."), problem.message)
    return problem


def _signature(problems: list[Problem], bundle: ConfigBundle) -> set[tuple[str, str]]:
    """Problems keyed by object key instead of list index, to compare two bundles."""
    out = set()
    for p in problems:
        match = _INDEXED.match(p.path)
        if match:
            objs = getattr(bundle, match.group("section"), [])
            index = int(match.group("index"))
            owner = objs[index].key if index < len(objs) else "?"
            out.add((f"{match.group('section')}[{owner}]{match.group('rest')}", p.message))
        else:
            out.add((p.path, p.message))
    return out


#: Statuses meaning an experiment is, or has been, live: it is then archived, never deleted.
RUN_STATUSES = frozenset({"running", "paused", "stopped"})


def has_run(experiment: Experiment, history: Sequence[AuditEntry]) -> bool:
    """Whether ``experiment`` is live now or ever was (a run status in its audit history).

    Args:
        experiment: The experiment as stored.
        history: Its audit entries (any order).

    Returns:
        ``True`` when its status, or any status its audit rows record, is in
        :data:`RUN_STATUSES`. An experiment archived straight from draft never ran.

    Examples:
        >>> from abwb.config import Variant
        >>> exp = Experiment(key="e", status="archived", variants=[
        ...     Variant(key="a", weight=.5, is_control=True), Variant(key="b", weight=.5)])
        >>> has_run(exp, [])
        False
    """
    if experiment.status in RUN_STATUSES:
        return True
    return any(
        doc is not None and doc.get("status") in RUN_STATUSES
        for entry in history
        for doc in (entry.before, entry.after)
    )


def removal(kind: str, current: Any, history: Sequence[AuditEntry]) -> Literal["delete", "archive"]:
    """What deleting ``current`` does: an experiment that has run is archived, the rest deleted.

    The one statement of the rule, whatever the store.

    Args:
        kind: Its kind.
        current: The object as stored.
        history: Its audit entries.

    Returns:
        ``archive`` or ``delete``.
    """
    if kind == "experiment" and has_run(current, history):
        return "archive"
    return "delete"


class ConfigChanges:
    """Config writes with cross-object validation and snapshot refresh.

    Each write reads what it checks and writes in one serialised transaction of the
    store (:meth:`~abwb.store.ConfigStore.change`), so no interleaving of concurrent
    calls can store a dangling reference or start two overlapping experiments.

    Args:
        store: The config store.
        snapshot: The holder refreshed after each write.
    """

    def __init__(self, store: ConfigStore, snapshot: ConfigSnapshotHolder) -> None:
        self.store = store
        self.snapshot = snapshot

    def check_against_config(
        self, kind: str, key: str, obj: Any | None, *, bundle: ConfigBundle | None = None
    ) -> None:
        """Refuse a write that adds a cross-object problem (unknown layer, dangling ref).

        Args:
            kind: Kind written.
            key: Key written.
            obj: The new object (``None``: it is deleted).
            bundle: The config to check against (default: the store's, read now).

        Raises:
            InvalidInput: the new object has problems the config did not have.
            Conflict: deleting it would leave references to it.
        """
        before = self.store.load_bundle() if bundle is None else bundle
        after = _replaced(before, kind, key, obj)
        old = _signature(validate_bundle(before), before)
        new = [p for p in validate_bundle(after) if _signature([p], after) - old]
        if not new:
            return
        if obj is None:
            raise Conflict(
                f"cannot delete {kind} {key!r}: other objects refer to it",
                reasons=[str(p) for p in new],
            )
        raise InvalidInput([_relative(p, kind, after, key) for p in new])

    def _done(self, result: Any) -> Any:
        self.snapshot.try_refresh()
        return result

    def create(self, kind: Kind, obj: Any, *, actor: str, reason: str = "") -> Any:
        """Create an object (experiments start as drafts).

        Raises:
            InvalidInput: the object refers to something unknown, or an experiment is
                not a draft.
            Conflict: the key exists.
        """
        if isinstance(obj, Experiment) and obj.status != "draft":
            raise InvalidInput(
                f"new experiments are created as 'draft', got {obj.status!r}; "
                "start it with POST /v1/experiments/{key}/status",
                path="status",
            )
        with self.store.change(f"creating {kind} {obj.key!r}") as tx:
            self.check_against_config(kind, obj.key, obj, bundle=tx.load_bundle())
            created = tx.create(kind, obj, actor=actor, reason=reason)
        return self._done(created)

    def update(
        self,
        kind: Kind,
        key: str,
        patch: dict[str, Any],
        *,
        expected_version: int,
        actor: str,
        reason: str = "",
    ) -> Any:
        """Apply a JSON merge patch to an object, if it is still at ``expected_version``.

        Raises:
            NotFound: no such object.
            VersionConflict: it changed since ``expected_version``.
            InvalidInput: the patched object is invalid (every problem, with its path),
                or the patch touches ``key``/``version``/``status``.
        """
        problems = ProblemList()
        protected: tuple[str, ...] = ("key", "version")
        if kind == "experiment":
            protected += ("status",)
        for name in protected:
            if name in patch:
                hint = " (use POST /v1/experiments/{key}/status)" if name == "status" else ""
                problems.add(name, f"cannot be changed by PATCH{hint}")
        with self.store.change(f"updating {kind} {key!r}") as tx:
            current = tx.get(kind, key)
            if current.version != expected_version:
                raise VersionConflict(
                    f"{kind} {key!r} is at version {current.version}, not {expected_version}: "
                    "re-read it and retry"
                )
            raise_if(problems)
            obj, found = problems_of(kind, merge_patch(msgspec.to_builtins(current), patch))
            raise_if(found)
            self.check_against_config(kind, key, obj, bundle=tx.load_bundle())
            updated = tx.update(
                kind, obj, expected_version=expected_version, actor=actor, reason=reason
            )
        return self._done(updated)

    def set_targeting(
        self,
        key: str,
        targeting: Any,
        *,
        expected_version: int | None,
        actor: str,
        reason: str = "",
    ) -> Experiment:
        """Replace an experiment's targeting condition (``None``: everyone).

        Raises:
            NotFound, VersionConflict, InvalidInput: as :meth:`update`.
        """
        with self.store.change(f"updating experiment {key!r}") as tx:
            current: Experiment = tx.get("experiment", key)
            version = current.version if expected_version is None else expected_version
            patched = msgspec.to_builtins(current)
            patched["targeting"] = targeting
            obj, found = problems_of("experiment", patched)
            raise_if(found)
            self.check_against_config("experiment", key, obj, bundle=tx.load_bundle())
            updated = tx.update(
                "experiment", obj, expected_version=version, actor=actor, reason=reason
            )
        return self._done(updated)  # type: ignore[no-any-return]

    def change_status(
        self,
        key: str,
        action: str,
        *,
        now: datetime,
        expected_version: int | None,
        actor: str,
        reason: str = "",
    ) -> Experiment:
        """Take a lifecycle action; ``start`` is refused when it would overlap.

        Raises:
            NotFound: no such experiment.
            Conflict: illegal transition, or overlap found by ``check_can_start``.
            VersionConflict: it changed since ``expected_version``.
        """
        with self.store.change(f"changing the status of experiment {key!r}") as tx:
            current: Experiment = tx.get("experiment", key)
            version = current.version if expected_version is None else expected_version
            moved = transition(current, action, now)
            if action in ("start", "resume"):
                _check_can_start(moved, tx.load_bundle())
            updated = tx.update(
                "experiment", moved, expected_version=version, actor=actor, reason=reason or action
            )
        return self._done(updated)  # type: ignore[no-any-return]

    def set_killed(self, key: str, killed: bool, *, actor: str, reason: str = "") -> Flag:
        """Pull (or release) a flag's kill switch; effective in this process at once.

        Raises:
            NotFound: no such flag.
        """
        from abwb.flags import kill, revive

        switch = kill if killed else revive
        return self._done(switch(self.store, key, actor=actor, reason=reason))  # type: ignore[no-any-return]

    def rollout_action(
        self,
        key: str,
        action: str,
        *,
        now: datetime,
        expected_version: int | None,
        actor: str,
        reason: str = "",
        units_seen: int | None = None,
    ) -> Rollout:
        """Start, pause, resume, advance, complete or roll back a rollout.

        Raises:
            NotFound: no such rollout.
            Conflict: the action is illegal from its status.
            VersionConflict: it changed since ``expected_version``.
        """
        with self.store.change(f"{action} of rollout {key!r}") as tx:
            current: Rollout = tx.get("rollout", key)
            version = current.version if expected_version is None else expected_version
            moved = _rollout_transition(current, action, now, reason=reason, units_seen=units_seen)
            updated = tx.update(
                "rollout", moved, expected_version=version, actor=actor, reason=reason or action
            )
        return self._done(updated)  # type: ignore[no-any-return]

    def delete(
        self,
        kind: Kind,
        key: str,
        *,
        expected_version: int | None,
        actor: str,
        reason: str = "",
    ) -> Any | None:
        """Delete an object, or archive an experiment that has run (:func:`removal`).

        Returns:
            What remains: the archived experiment, or ``None`` once deleted.

        Raises:
            NotFound, VersionConflict: as :meth:`update`.
            Conflict: another object refers to it.
        """
        with self.store.change(f"deleting {kind} {key!r}") as tx:
            current = tx.get(kind, key)
            version = current.version if expected_version is None else expected_version
            history = tx.audit(kind=kind, key=key, limit=MAX_PAGE)
            if removal(kind, current, history) == "archive":
                archived = msgspec.structs.replace(current, status="archived")
                remains = tx.update(
                    kind,
                    archived,
                    expected_version=version,
                    actor=actor,
                    reason=reason,
                    action="archive",
                )
            else:
                self.check_against_config(kind, key, None, bundle=tx.load_bundle())
                tx.delete(kind, key, expected_version=version, actor=actor, reason=reason)
                remains = None
        return self._done(remains)


def _rollout_transition(
    rollout: Rollout, action: str, now: datetime, *, reason: str, units_seen: int | None
) -> Rollout:
    from abwb import rollout as rollouts

    if action == "start":
        return rollouts.start(rollout, now)
    if action == "pause":
        return rollouts.pause(rollout, now, reason=reason)
    if action == "resume":
        return rollouts.resume(rollout, now)
    if action == "advance":
        return rollouts.advance(rollout, now, units_seen=units_seen)
    if action == "complete":
        return rollouts.complete(rollout, reason=reason)
    if action == "roll_back":
        return rollouts.roll_back(rollout, reason or "rolled back by hand")
    raise InvalidInput(
        f"unknown action {action!r}; expected one of {list(ROLLOUT_ACTIONS)}", path="action"
    )


def _check_can_start(experiment: Experiment, bundle: ConfigBundle) -> None:
    """Refuse to start ``experiment`` where it would overlap a running one in ``bundle``."""
    others = _replaced(bundle, "experiment", experiment.key, experiment)
    check_can_start(experiment, others)
