"""Real-time monitoring: checks, alerts with de-duplication, sinks, guarded rollback, the job.

The checks are SRM, guardrails, exposure health, crossovers and significance.

The SQL alert stores are store adapters (:mod:`abwb.store.alerts`); they are
re-exported here on first use, so importing monitoring does not import the stores.
Sinks needing ``httpx`` / ``redis`` import their drivers only when built.
"""

from typing import Any

from abwb.monitoring.accumulator import SubjectSpec, SubjectState, accumulate, subjects_from_bundle
from abwb.monitoring.alerts import (
    Alert,
    AlertStore,
    Evidence,
    Finding,
    MemoryAlertStore,
    list_alerts,
    reconcile,
)
from abwb.monitoring.config import MonitorConfig
from abwb.monitoring.job import ACTOR, Monitor, PassReport
from abwb.monitoring.sinks import (
    AlertSink,
    DeliveryResult,
    LogSink,
    RedisPubSubSink,
    WebhookSink,
    deliver,
)

__all__ = [
    "ACTOR",
    "Alert",
    "AlertSink",
    "AlertStore",
    "DeliveryResult",
    "Evidence",
    "Finding",
    "LogSink",
    "MemoryAlertStore",
    "Monitor",
    "MonitorConfig",
    "PassReport",
    "PostgresAlertStore",
    "RedisPubSubSink",
    "SqliteAlertStore",
    "SubjectSpec",
    "SubjectState",
    "WebhookSink",
    "accumulate",
    "deliver",
    "list_alerts",
    "open_alert_store",
    "reconcile",
    "subjects_from_bundle",
]

_STORES = {
    "PostgresAlertStore": "abwb.store.alerts",
    "SqliteAlertStore": "abwb.store.alerts",
    "open_alert_store": "abwb.store.opening",
}


def __getattr__(name: str) -> Any:
    if name in _STORES:
        import importlib

        return getattr(importlib.import_module(_STORES[name]), name)
    raise AttributeError(f"module 'abwb.monitoring' has no attribute {name!r}")
