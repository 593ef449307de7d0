"""Where the SQL alert stores used to live: re-exports for existing imports.

What belongs here: nothing new. The SQLite and PostgreSQL alert stores are store
adapters (:mod:`abwb.store.alerts`) and :func:`open_alert_store` is opened with the
other stores (:mod:`abwb.store.opening`); the port stays in
:mod:`abwb.monitoring.alerts`.
"""

from abwb.store.alerts import PostgresAlertStore, SqliteAlertStore
from abwb.store.opening import open_alert_store

__all__ = ["PostgresAlertStore", "SqliteAlertStore", "open_alert_store"]
