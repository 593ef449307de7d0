"""The assignment hash and allocation as SQL, for DuckDB and PostgreSQL.

An analyst can recompute any unit's bucket and variant in the warehouse and get the
answer the service gave. The SQL reproduces hash version 1 of
:mod:`abwb.assignment.hashing` exactly (golden vectors are checked in both engines):

* DuckDB: ``sha256`` returns lowercase hex; the first 16 hex digits cast from a
  ``0x`` literal to ``UBIGINT`` are the big-endian first 8 bytes.
* PostgreSQL has no unsigned 64-bit type: the prefix is read as a signed ``bigint``
  via ``bit(64)``, and for negative values ``2^64 mod 10000 = 1616`` is added back.
"""

from __future__ import annotations

from abwb.assignment.allocation import allocation_of
from abwb.assignment.hashing import BUCKETS, traffic_salt, variant_salt
from abwb.config.experiment import Experiment
from abwb.errors import InvalidInput

__all__ = [
    "DUCKDB_BUCKET_MACRO",
    "POSTGRES_BUCKET_FUNCTION",
    "bucket_sql",
    "variant_sql",
]

DUCKDB_BUCKET_MACRO = f"""
CREATE OR REPLACE MACRO abwb_bucket(salt, unit_id) AS
    (('0x' || substr(sha256(salt || ':' || unit_id), 1, 16))::UBIGINT % {BUCKETS})::INTEGER
"""

POSTGRES_BUCKET_FUNCTION = f"""
CREATE OR REPLACE FUNCTION abwb_bucket(salt text, unit_id text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (((v % {BUCKETS}) + {BUCKETS} + CASE WHEN v < 0 THEN {2**64 % BUCKETS} ELSE 0 END)
            % {BUCKETS})::integer
    FROM (SELECT ('x' || substr(encode(sha256(convert_to(salt || ':' || unit_id, 'UTF8')),
                                       'hex'), 1, 16))::bit(64)::bigint AS v) AS prefix
$$
"""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def bucket_sql(salt: str, unit_column: str) -> str:
    """SQL calling ``abwb_bucket`` for a literal salt and a unit-id column expression."""
    return f"abwb_bucket({_literal(salt)}, {unit_column})"


def variant_sql(
    experiment: Experiment, unit_column: str = "unit_id", *, layer_salt: str | None = None
) -> str:
    """SQL expression giving the variant a unit gets, or NULL when outside the experiment.

    Covers layer placement, traffic and allocation: the deterministic part of the
    engine. Status, schedule, overrides, holdouts, targeting and sticky assignments
    depend on state outside the unit id, so the expression applies to units that
    passed those gates (e.g. logged exposures, for an assignment audit). Works in
    DuckDB and PostgreSQL once the bucket macro/function is installed.

    Args:
        experiment: The experiment.
        unit_column: SQL expression of the unit id.
        layer_salt: The layer's salt when it is not the default ``layer:{key}``.

    Raises:
        InvalidInput: the experiment is sticky (its variant is not a function of the id).
    """
    if experiment.sticky:
        raise InvalidInput(
            "sticky experiments cannot be reproduced from the unit id alone", path="sticky"
        )
    salt = experiment.effective_salt
    alloc = allocation_of(experiment)
    vb = bucket_sql(variant_salt(salt, experiment.phase), unit_column)
    arms = " ".join(
        f"WHEN {vb} < {end} THEN {_literal(variant)}"
        for end, variant in zip(alloc.ends, alloc.variants, strict=True)
    )
    conditions = [
        f"{bucket_sql(traffic_salt(salt, experiment.phase), unit_column)} "
        f"< {experiment.traffic_fraction * BUCKETS!r}"
    ]
    if experiment.layer is not None:
        lb = bucket_sql(layer_salt or f"layer:{experiment.layer.layer}", unit_column)
        ranges = " OR ".join(f"({lb} >= {s} AND {lb} < {e})" for s, e in experiment.layer.ranges)
        conditions.insert(0, f"({ranges})")
    return f"CASE WHEN {' AND '.join(conditions)} THEN (CASE {arms} END) END"
