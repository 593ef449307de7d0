"""Alerts: the typed alert record, de-duplication, and the ``AlertStore`` port.

What belongs here: ``Alert`` and its ``Evidence``, the ``Finding`` a check returns,
the pure :func:`reconcile` that turns this pass's findings plus the open alerts into
opened / resolved alerts (one open alert per condition, identified by its
``dedup_key``), the ``AlertStore`` protocol with an in-memory implementation, and
:func:`list_alerts` (what ``GET /v1/alerts`` serves). The SQLite and PostgreSQL
implementations are store adapters (:mod:`abwb.store.alerts`); delivery lives in
:mod:`abwb.monitoring.sinks`.

De-duplication rule: a condition (dedup key) that fires while an alert for it is
open refreshes ``last_seen_at`` and is *not* delivered again; a condition that was
evaluated and no longer fires resolves its alert (delivered once as ``resolved``);
a condition that was not evaluated this pass (no data yet) leaves it untouched.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

import msgspec

from abwb.errors import InvalidInput, StorageError

__all__ = [
    "ALERT_KINDS",
    "ALERT_STATUSES",
    "Alert",
    "AlertKind",
    "AlertStatus",
    "AlertStore",
    "Evidence",
    "Finding",
    "MemoryAlertStore",
    "ReconcileResult",
    "Severity",
    "alert_id",
    "check_list_args",
    "list_alerts",
    "reconcile",
]

AlertKind = Literal["srm", "guardrail", "exposure_health", "crossover", "significance"]
Severity = Literal["info", "warning", "critical"]
AlertStatus = Literal["open", "resolved"]
ALERT_KINDS: tuple[str, ...] = ("srm", "guardrail", "exposure_health", "crossover", "significance")
ALERT_STATUSES: tuple[str, ...] = ("open", "resolved")


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    """The numbers behind an alert, so a reader can check the decision.

    Args:
        statistic: Test statistic (z, Bayes factor, observed rate, crossover share).
        threshold: The threshold it was compared with (alpha share, rate floor, ...).
        p_value: p-value (always-valid for sequential checks); ``None`` when not a test.
        n: Units (or exposures) per variant behind the statistic.
        effect_rel: Relative effect treatment vs control, when relevant.
        ci_low_rel: Lower bound of the always-valid interval of the relative effect.
        ci_high_rel: Upper bound of that interval.
        method: Statistical method used (``asymptotic_cs``, ``dirichlet_multinomial_sequential``).
        details: Further named numbers (expected counts, trailing rate, ...).
    """

    statistic: float
    threshold: float
    p_value: float | None = None
    n: dict[str, int] = msgspec.field(default_factory=dict)
    effect_rel: float | None = None
    ci_low_rel: float | None = None
    ci_high_rel: float | None = None
    method: str = ""
    details: dict[str, float] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        # Statistics arrive as numpy scalars; store plain floats/ints so every
        # encoder (JSON API, SQL documents, webhooks) accepts them.
        set_ = msgspec.structs.force_setattr
        for name in ("statistic", "threshold", "p_value", "effect_rel", "ci_low_rel",
                     "ci_high_rel"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, float(value))
        set_(self, "n", {str(k): int(v) for k, v in self.n.items()})
        set_(self, "details", {str(k): float(v) for k, v in self.details.items()})


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One alert: a condition that fired, from when it opened until it resolved.

    Args:
        id: Stable id derived from ``dedup_key`` and ``opened_at``.
        dedup_key: Identity of the condition (kind, subject, metric, variant).
        kind: ``srm``, ``guardrail``, ``exposure_health``, ``crossover``, ``significance``.
        severity: ``info``, ``warning`` or ``critical``.
        experiment: Experiment key, when the subject is an experiment.
        rollout: Rollout key, when the subject is a rollout.
        metric: Metric key, for metric checks.
        variant: Treatment variant concerned, for per-variant checks.
        message: One human sentence saying what is wrong.
        evidence: The numbers behind it.
        status: ``open`` or ``resolved``.
        opened_at: When the condition was first seen firing (UTC).
        last_seen_at: Last pass it was seen firing.
        resolved_at: When it cleared (``None`` while open).
        action: What the monitor did about it (``rolled_back``, ``paused``), if anything.
    """

    id: str
    dedup_key: str
    kind: AlertKind
    severity: Severity
    message: str
    evidence: Evidence
    opened_at: datetime
    last_seen_at: datetime
    experiment: str | None = None
    rollout: str | None = None
    metric: str | None = None
    variant: str | None = None
    status: AlertStatus = "open"
    resolved_at: datetime | None = None
    action: str | None = None

    @property
    def subject(self) -> str:
        """The experiment or rollout key the alert is about."""
        return self.experiment or self.rollout or ""


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one check on one condition in one pass.

    ``firing`` False means the condition was evaluated and is clear (an open alert
    for it resolves). Checks that lack data return no finding at all.

    Args:
        dedup_key: Identity of the condition.
        firing: Whether the condition holds now.
        kind: Alert kind.
        severity: Severity when firing.
        message: Sentence describing the condition (used when it opens).
        evidence: The numbers.
        experiment: Experiment key, if any.
        rollout: Rollout key, if any.
        metric: Metric key, if any.
        variant: Variant key, if any.
    """

    dedup_key: str
    firing: bool
    kind: AlertKind
    severity: Severity
    message: str
    evidence: Evidence
    experiment: str | None = None
    rollout: str | None = None
    metric: str | None = None
    variant: str | None = None


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """Changes one pass makes to the alert set.

    Args:
        opened: New alerts (deliver these).
        resolved: Alerts that cleared (deliver these as resolved).
        refreshed: Still-open alerts with a new ``last_seen_at`` (store, do not deliver).
    """

    opened: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    refreshed: list[Alert] = field(default_factory=list)

    @property
    def to_store(self) -> list[Alert]:
        """Every alert whose stored row changes."""
        return [*self.opened, *self.resolved, *self.refreshed]


def alert_id(dedup_key: str, opened_at: datetime) -> str:
    """Stable id of the alert for ``dedup_key`` opened at ``opened_at``.

    Args:
        dedup_key: The condition.
        opened_at: When it opened.

    Returns:
        16 hex characters.

    Examples:
        >>> from datetime import UTC, datetime
        >>> alert_id("srm:checkout", datetime(2026, 1, 1, tzinfo=UTC))
        '...'
        >>> len(alert_id("srm:checkout", datetime(2026, 1, 1, tzinfo=UTC)))
        16
    """
    raw = f"{dedup_key}|{opened_at.isoformat()}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def reconcile(
    open_alerts: Iterable[Alert],
    findings: Iterable[Finding],
    *,
    now: datetime,
    retire_subjects: Iterable[str] = (),
) -> ReconcileResult:
    """Apply this pass's findings to the open alerts (pure; no I/O).

    Args:
        open_alerts: Alerts currently open (one per dedup key).
        findings: What the checks found this pass.
        now: Time of the pass (UTC).
        retire_subjects: Experiments/rollouts no longer monitored (stopped, rolled
            back): their open alerts resolve.

    Returns:
        Which alerts open, resolve or are refreshed.

    Examples:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2026, 1, 1, tzinfo=UTC)
        >>> f = Finding("srm:e", True, "srm", "critical", "SRM", Evidence(statistic=1, threshold=1))
        >>> first = reconcile([], [f], now=t)
        >>> len(first.opened), len(reconcile(first.opened, [f], now=t).opened)
        (1, 0)
    """
    by_key = {a.dedup_key: a for a in open_alerts}
    result = ReconcileResult()
    seen: set[str] = set()
    for finding in findings:
        if finding.dedup_key in seen:
            raise InvalidInput(
                f"two findings share dedup_key {finding.dedup_key!r}", path="findings"
            )
        seen.add(finding.dedup_key)
        current = by_key.get(finding.dedup_key)
        if finding.firing and current is None:
            result.opened.append(_open(finding, now))
        elif finding.firing and current is not None:
            result.refreshed.append(
                msgspec.structs.replace(current, last_seen_at=now, evidence=finding.evidence)
            )
        elif current is not None:
            result.resolved.append(
                msgspec.structs.replace(
                    current, status="resolved", resolved_at=now, evidence=finding.evidence
                )
            )
    retired = set(retire_subjects)
    for key, current in by_key.items():
        if key not in seen and current.subject in retired:
            result.resolved.append(
                msgspec.structs.replace(current, status="resolved", resolved_at=now)
            )
    return result


def _open(finding: Finding, now: datetime) -> Alert:
    return Alert(
        id=alert_id(finding.dedup_key, now),
        dedup_key=finding.dedup_key,
        kind=finding.kind,
        severity=finding.severity,
        message=finding.message,
        evidence=finding.evidence,
        opened_at=now,
        last_seen_at=now,
        experiment=finding.experiment,
        rollout=finding.rollout,
        metric=finding.metric,
        variant=finding.variant,
    )


@runtime_checkable
class AlertStore(Protocol):
    """Where alerts are kept. Implementations: memory, SQLite, PostgreSQL.

    Failures raise :class:`~abwb.errors.StorageError`.
    """

    def open_alerts(self) -> list[Alert]:
        """Every open alert."""
        ...

    def save(self, alerts: Sequence[Alert]) -> None:
        """Insert or update alerts by ``id``, in one transaction."""
        ...

    def list(
        self,
        *,
        status: AlertStatus | None = None,
        experiment: str | None = None,
        kind: AlertKind | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Alert]:
        """Alerts, newest first, filtered (``experiment`` matches rollouts too).

        ``since`` keeps the alerts opened or resolved at or after that instant.
        """
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class MemoryAlertStore:
    """In-process :class:`AlertStore` (tests, notebooks, the embedded demo)."""

    def __init__(self) -> None:
        self._alerts: dict[str, Alert] = {}
        self._lock = threading.Lock()

    def open_alerts(self) -> list[Alert]:
        """Every open alert."""
        with self._lock:
            return [a for a in self._alerts.values() if a.status == "open"]

    def save(self, alerts: Sequence[Alert]) -> None:
        """Insert or update alerts by ``id``, all or nothing.

        Raises:
            StorageError: the batch would leave two open alerts with one ``dedup_key``
                (the databases enforce the same rule with a partial unique index).
        """
        with self._lock:
            merged = {**self._alerts, **{a.id: a for a in alerts}}
            open_keys = [a.dedup_key for a in merged.values() if a.status == "open"]
            if len(open_keys) != len(set(open_keys)):
                twice = sorted({k for k in open_keys if open_keys.count(k) > 1})
                raise StorageError(f"two open alerts for dedup key(s) {twice}; nothing saved")
            self._alerts = merged

    def list(
        self,
        *,
        status: AlertStatus | None = None,
        experiment: str | None = None,
        kind: AlertKind | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Alert]:
        """Alerts, newest first, filtered (``since``: opened or resolved at or after it)."""
        check_list_args(status=status, kind=kind, limit=limit, offset=offset, since=since)
        with self._lock:
            rows = [
                a
                for a in self._alerts.values()
                if (status is None or a.status == status)
                and (experiment is None or a.subject == experiment)
                and (kind is None or a.kind == kind)
                and (since is None or _changed_since(a, since))
            ]
        rows.sort(key=lambda a: (a.opened_at, a.id), reverse=True)
        return rows[offset : offset + limit]

    def close(self) -> None:
        """Nothing to release."""


def _changed_since(alert: Alert, since: datetime) -> bool:
    """Whether ``alert`` opened or resolved at or after ``since``."""
    return alert.opened_at >= since or (
        alert.resolved_at is not None and alert.resolved_at >= since
    )


def check_list_args(
    *,
    status: str | None,
    kind: str | None,
    limit: int,
    offset: int,
    since: datetime | None = None,
) -> None:
    """Validate ``list`` filters (shared by every store implementation).

    Raises:
        InvalidInput: naming the bad filter.
    """
    if status is not None and status not in ALERT_STATUSES:
        raise InvalidInput(f"expected one of {list(ALERT_STATUSES)}, got {status!r}", path="status")
    if kind is not None and kind not in ALERT_KINDS:
        raise InvalidInput(f"expected one of {list(ALERT_KINDS)}, got {kind!r}", path="kind")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidInput(f"expected an int in [1, 1000], got {limit!r}", path="limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"expected an int >= 0, got {offset!r}", path="offset")
    if since is not None and (not isinstance(since, datetime) or since.utcoffset() is None):
        raise InvalidInput(
            f"expected a datetime with a UTC offset (e.g. 2026-01-01T00:00:00Z), got {since!r}",
            path="since",
        )


def list_alerts(
    store: AlertStore,
    *,
    status: AlertStatus | None = None,
    experiment: str | None = None,
    kind: AlertKind | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Alert]:
    """Alerts for ``GET /v1/alerts``: newest first, filtered, validated.

    Args:
        store: The alert store.
        status: ``open`` or ``resolved`` (``None``: both).
        experiment: Experiment or rollout key.
        kind: Alert kind.
        since: Keep the alerts opened or resolved at or after this (timezone-aware) instant.
        limit: Page size, 1 to 1000.
        offset: Rows to skip.

    Returns:
        The alerts.

    Raises:
        InvalidInput: A filter has a bad value (the field is named).
        StorageError: The store failed.

    Examples:
        >>> list_alerts(MemoryAlertStore(), status="open")
        []
    """
    check_list_args(status=status, kind=kind, limit=limit, offset=offset, since=since)
    return store.list(
        status=status, experiment=experiment, kind=kind, since=since, limit=limit, offset=offset
    )
