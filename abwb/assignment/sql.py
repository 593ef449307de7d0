"""The assignment hash and allocation as SQL, for DuckDB, PostgreSQL and the warehouses.

An analyst can recompute any unit's bucket and variant in the warehouse and get the
answer the service gave. The SQL reproduces hash version 1 of
:mod:`abwb.assignment.hashing` exactly (golden vectors are checked in both engines):

* DuckDB: ``sha256`` returns lowercase hex; the first 16 hex digits cast from a
  ``0x`` literal to ``UBIGINT`` are the big-endian first 8 bytes.
* PostgreSQL has no unsigned 64-bit type: the prefix is read as a signed ``bigint``
  via ``bit(64)``, and for negative values ``2^64 mod 10000 = 1616`` is added back.
* Spark SQL: ``conv`` turns the 16 hex digits into the unsigned decimal string, read
  as ``decimal(20,0)`` and reduced with ``pmod`` (checked on the golden vectors).
* BigQuery, Snowflake, Trino (emitted, not executable here) and an inline PostgreSQL
  form avoid 64-bit unsigned arithmetic altogether: with ``hi``/``lo`` the first and
  second 8 hex digits, ``bucket = ((hi mod 10000) * (2^32 mod 10000) + lo) mod 10000``
  (``2^32 mod 10000 = 7296``), every term well inside a signed 64-bit integer. The
  split is checked on the golden vectors in DuckDB and PostgreSQL.

:data:`BUCKET_EXPRESSIONS` holds the per-dialect inline expression (``{salt}`` and
``{unit}`` are SQL expressions), used where a macro or function cannot be created
(a read-only warehouse role); :func:`bucket_expression` fills it in.
"""

from __future__ import annotations

from abwb.assignment.allocation import allocation_of
from abwb.assignment.hashing import BUCKETS, traffic_salt, variant_salt
from abwb.config.experiment import Experiment
from abwb.errors import InvalidInput

__all__ = [
    "BUCKET_DIALECTS",
    "BUCKET_EXPRESSIONS",
    "DUCKDB_BUCKET_MACRO",
    "POSTGRES_BUCKET_FUNCTION",
    "bucket_expression",
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


_TWO32 = 2**32 % BUCKETS


def _split(hex_digits: str, to_int: str) -> str:
    # hi*2^32 + lo mod B = ((hi mod B)*(2^32 mod B) + lo) mod B, all in signed 64-bit range.
    hi = to_int.format(hex=f"substr({hex_digits}, 1, 8)")
    lo = to_int.format(hex=f"substr({hex_digits}, 9, 8)")
    return f"CAST(mod(mod({hi}, {BUCKETS}) * {_TWO32} + {lo}, {BUCKETS}) AS INTEGER)"


#: Inline ``abwb_bucket`` per SQL dialect (sqlglot dialect names); ``{salt}``/``{unit}``
#: are SQL expressions. Every form equals :func:`abwb.assignment.hashing.bucket` (v1).
BUCKET_EXPRESSIONS: dict[str, str] = {
    "duckdb": "CAST(CAST(('0x' || substr(sha256({salt} || ':' || {unit}), 1, 16)) AS UBIGINT)"
              f" % {BUCKETS} AS INTEGER)",
    "postgres": _split(
        "encode(sha256(convert_to({salt} || ':' || {unit}, 'UTF8')), 'hex')",
        "CAST(CAST('x' || {hex} AS BIT(32)) AS BIGINT)"),
    "spark": "CAST(pmod(CAST(conv(substr(sha2(concat({salt}, ':', {unit}), 256), 1, 16), 16, 10)"
             f" AS DECIMAL(20, 0)), {BUCKETS}) AS INT)",
    "bigquery": _split("TO_HEX(SHA256(CONCAT({salt}, ':', {unit})))",
                       "CAST(CONCAT('0x', {hex}) AS INT64)"),
    "snowflake": _split("SHA2({salt} || ':' || {unit}, 256)",
                        "TO_NUMBER({hex}, 'XXXXXXXX')"),
    "trino": _split("lower(to_hex(sha256(to_utf8({salt} || ':' || {unit}))))",
                    "from_base({hex}, 16)"),
}

#: Dialects :func:`bucket_expression` knows.
BUCKET_DIALECTS = tuple(BUCKET_EXPRESSIONS)


def bucket_expression(dialect: str, salt: str, unit: str) -> str:
    """The inline bucket expression of ``dialect`` for SQL expressions ``salt`` and ``unit``.

    Args:
        dialect: One of :data:`BUCKET_DIALECTS`.
        salt: SQL expression of the salt (e.g. a quoted literal).
        unit: SQL expression of the unit id.

    Returns:
        A SQL expression giving the bucket in ``[0, 10000)``.

    Raises:
        InvalidInput: an unknown dialect (path ``dialect``).

    Examples:
        >>> bucket_expression("spark", "'s'", "unit_id")[:60]
        "CAST(pmod(CAST(conv(substr(sha2(concat(('s'), ':', (unit_id)"
    """
    if dialect not in BUCKET_EXPRESSIONS:
        raise InvalidInput(f"expected one of {list(BUCKET_DIALECTS)}, got {dialect!r}",
                           path="dialect")
    # Each placeholder is substituted once; the hash input appears twice in split forms,
    # so the salt/unit expressions must be side-effect free (column refs, literals).
    template = BUCKET_EXPRESSIONS[dialect]
    return template.replace("{salt}", f"({salt})").replace("{unit}", f"({unit})")


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
