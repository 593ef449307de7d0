"""Real-time monitoring: checks, alerts with de-duplication, sinks, guarded rollback, the job.

The checks are SRM, guardrails, exposure health, crossovers and significance.

SQL alert stores (:mod:`abwb.monitoring.sql_store`) and sinks needing ``httpx`` /
``redis`` import their drivers only when built.
"""

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
from abwb.monitoring.sql_store import PostgresAlertStore, SqliteAlertStore, open_alert_store

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
