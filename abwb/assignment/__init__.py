"""Assignment: portable hashing, allocation, the decision engine and SQL forms.

The column form (``assign_frame``, ``bucket_frame``) lives in :mod:`abwb.bulk`, which
needs polars; this package needs only the standard library and msgspec.
"""

from abwb.assignment.allocation import (
    Allocation,
    ReweightResult,
    allocation_of,
    bucket_counts,
    canonical_allocation,
    reweight,
)
from abwb.assignment.conflicts import ConflictReport, check_can_start, find_conflicts
from abwb.assignment.decision import AssignmentResult, Decision, Reason
from abwb.assignment.engine import Assigner, CompiledExperiment, ConditionCompiler, Predicate
from abwb.assignment.hashing import BUCKETS, HASH_VERSION, bucket, check_unit_id
from abwb.assignment.layers import LayerUsage, layer_usage
from abwb.assignment.sql import (
    DUCKDB_BUCKET_MACRO,
    POSTGRES_BUCKET_FUNCTION,
    variant_sql,
)
from abwb.assignment.sticky import StickyAssigner

__all__ = [
    "BUCKETS",
    "DUCKDB_BUCKET_MACRO",
    "HASH_VERSION",
    "POSTGRES_BUCKET_FUNCTION",
    "Allocation",
    "Assigner",
    "AssignmentResult",
    "CompiledExperiment",
    "ConditionCompiler",
    "ConflictReport",
    "Decision",
    "LayerUsage",
    "Predicate",
    "Reason",
    "ReweightResult",
    "StickyAssigner",
    "allocation_of",
    "bucket",
    "bucket_counts",
    "canonical_allocation",
    "check_can_start",
    "check_unit_id",
    "find_conflicts",
    "layer_usage",
    "reweight",
    "variant_sql",
]
