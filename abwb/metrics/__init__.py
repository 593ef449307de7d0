"""Metric pipelines: exposures + events → per-variant sufficient statistics and data quality."""

from abwb.metrics.aggregates import from_aggregates
from abwb.metrics.audit import audit_assignments
from abwb.metrics.duckdb_engine import DuckDBEngine
from abwb.metrics.engine import CrossoverPolicy, EngineOutput, PipelineEngine, PipelineRequest
from abwb.metrics.inputs import (
    FrameSource,
    PreparedSource,
    prepare_events,
    prepare_exposures,
    read_store_frames,
)
from abwb.metrics.pipeline import (
    UNIT_DAYS_SCHEMA,
    EngineName,
    compute_statistics,
    daily_cumulative_statistics,
    statistics_from_store,
    unit_days,
)
from abwb.metrics.plan import MetricPlan, ValuePlan, plan_metrics
from abwb.metrics.polars_engine import PolarsEngine
from abwb.metrics.results import (
    STATS_SCHEMA,
    AssignmentAudit,
    AuditStatus,
    DataQualityResult,
    MetricResults,
    VariantStats,
    stats_from_frame,
)
from abwb.metrics.sql_query import WarehouseTables
from abwb.metrics.warehouse import WarehouseSource, check_tables, warehouse_source

__all__ = [
    "STATS_SCHEMA",
    "UNIT_DAYS_SCHEMA",
    "AssignmentAudit",
    "AuditStatus",
    "CrossoverPolicy",
    "DataQualityResult",
    "DuckDBEngine",
    "EngineName",
    "EngineOutput",
    "FrameSource",
    "MetricPlan",
    "MetricResults",
    "PipelineEngine",
    "PipelineRequest",
    "PolarsEngine",
    "PreparedSource",
    "ValuePlan",
    "VariantStats",
    "WarehouseSource",
    "WarehouseTables",
    "audit_assignments",
    "check_tables",
    "compute_statistics",
    "daily_cumulative_statistics",
    "from_aggregates",
    "plan_metrics",
    "prepare_events",
    "prepare_exposures",
    "read_store_frames",
    "statistics_from_store",
    "stats_from_frame",
    "unit_days",
    "warehouse_source",
]
