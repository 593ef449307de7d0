"""Bulk assignment: the engine's answers for whole polars frames of units, vectorised.

The column form of :mod:`abwb.assignment` (hash, traffic, allocation, layers,
holdouts, overrides, runtime guard) and of :mod:`abwb.targeting` (conditions on
columns), bit-identical to the scalar path. It needs polars and the ``polars-hash``
plugin, so it lives outside the light core: ``import abwb`` does not load it.
"""

from abwb.bulk.assignment import assign_frame
from abwb.bulk.hashing import bucket_expr, bucket_frame, bucket_series
from abwb.bulk.targeting import attribute_column, condition_mask

__all__ = [
    "assign_frame",
    "attribute_column",
    "bucket_expr",
    "bucket_frame",
    "bucket_series",
    "condition_mask",
]
