"""Assignment audit: recompute each exposed unit's variant from the config and compare.

What belongs here: :func:`audit_assignments`. It runs
:func:`abwb.assignment.sql.variant_sql` — the SQL form of the one assignment
implementation — in DuckDB with the ``abwb_bucket`` macro installed, over the
distinct (unit, logged variant) pairs of a phase. Mismatches point at an assignment
or logging bug (an SRM with no mismatch points at lost exposures instead). Units
with an override are left out (their variant is forced); sticky experiments cannot
be audited because their variant depends on history, not on the unit id.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

from abwb.assignment.sql import DUCKDB_BUCKET_MACRO, variant_sql
from abwb.config.experiment import Experiment
from abwb.errors import InvalidInput
from abwb.metrics.results import AssignmentAudit

__all__ = ["audit_assignments", "audit_from_rows", "audit_gate"]

_EXAMPLES = 10


def audit_assignments(
    pairs: pl.DataFrame,
    experiment: Experiment,
    *,
    phase: int,
    layer_salts: Mapping[str, str] | None = None,
) -> AssignmentAudit:
    """Check logged variants against the variants the config assigns.

    Args:
        pairs: Distinct ``unit_id`` (String) and logged ``variant`` (String) of one
            phase's exposures (other columns are ignored).
        experiment: The experiment config the exposures were served under.
        phase: The phase the exposures belong to; the audit runs only when it is the
            config's phase (an older phase used other salts).
        layer_salts: Layer key → salt, for layers whose salt is not ``layer:{key}``.

    Returns:
        The audit; status ``not_auditable`` for sticky experiments and ``skipped``
        when the phases differ.

    Raises:
        InvalidInput: ``pairs`` lacks ``unit_id`` or ``variant``.

    Examples:
        >>> import polars as pl
        >>> from abwb.config import Experiment, Variant
        >>> exp = Experiment(key="e", status="running", variants=[
        ...     Variant("control", 0.5, is_control=True), Variant("treatment", 0.5)])
        >>> pairs = pl.DataFrame({"unit_id": ["u1", "u1"], "variant": ["control", "treatment"]})
        >>> a = audit_assignments(pairs, exp, phase=1)
        >>> a.status, a.audited_units, a.mismatches, a.mismatches_by_variant
        ('mismatch', 2, 1, {'treatment': 1})
    """
    for col in ("unit_id", "variant"):
        if col not in pairs.columns:
            raise InvalidInput(f"missing column; got {pairs.columns}", path=f"pairs.{col}")
    gate = audit_gate(experiment, phase)
    if gate is not None:
        return gate
    layer_salt = None
    if experiment.layer is not None and layer_salts:
        layer_salt = layer_salts.get(experiment.layer.layer)
    expected = variant_sql(experiment, "unit_id", layer_salt=layer_salt)
    overrides = pl.DataFrame({"unit_id": list(experiment.overrides)}, schema={"unit_id": pl.String})
    con = duckdb.connect()
    try:
        con.execute(DUCKDB_BUCKET_MACRO)
        con.register("abwb_pairs", pairs.select("unit_id", "variant"))
        con.register("abwb_overrides", overrides)
        con.execute(f"""
            CREATE TEMP TABLE audited AS
            SELECT unit_id, variant, {expected} AS expected
            FROM abwb_pairs WHERE unit_id NOT IN (SELECT unit_id FROM abwb_overrides)""")
        row = con.execute("""
            SELECT count(*), count(*) FILTER (WHERE expected IS DISTINCT FROM variant),
                   count(*) FILTER (WHERE expected IS NULL)
            FROM audited""").fetchall()[0]
        by_variant = con.execute("""
            SELECT variant, count(*) FROM audited WHERE expected IS DISTINCT FROM variant
            GROUP BY variant ORDER BY variant""").fetchall()
        examples = con.execute(f"""
            SELECT unit_id FROM audited WHERE expected IS DISTINCT FROM variant
            ORDER BY unit_id LIMIT {_EXAMPLES}""").fetchall()
        excluded = con.execute("""
            SELECT count(DISTINCT unit_id) FROM abwb_pairs
            WHERE unit_id IN (SELECT unit_id FROM abwb_overrides)""").fetchall()[0]
    finally:
        con.close()
    assert row is not None and excluded is not None
    audited, mismatches, outside = (int(v) for v in row)
    return _audit(audited, mismatches, outside, int(excluded[0]),
                  {str(v): int(n) for v, n in by_variant}, [str(r[0]) for r in examples])


def audit_gate(experiment: Experiment, phase: int) -> AssignmentAudit | None:
    """The audit's verdict when it cannot run (sticky, other phase), else ``None``."""
    if experiment.sticky:
        return AssignmentAudit(
            "not_auditable",
            note="sticky experiment: a unit keeps the variant it first got, which depends on "
                 "history, not on the unit id alone, so it cannot be recomputed",
        )
    if phase != experiment.phase:
        return AssignmentAudit(
            "skipped",
            note=f"exposures are from phase {phase} but the config is at phase "
                 f"{experiment.phase}; phases use different salts",
        )
    return None


def audit_from_rows(rows: list[tuple[object, ...]]) -> AssignmentAudit:
    """The audit from the rows of :func:`abwb.metrics.sql_query.audit_query`.

    Args:
        rows: ``(section, label, n)`` tuples.

    Returns:
        The audit, identical to :func:`audit_assignments` on the same pairs.
    """
    scalars: dict[str, int] = {}
    by_variant: dict[str, int] = {}
    examples: list[str] = []
    for section, label, n in rows:
        if section == "mismatch":
            by_variant[str(label)] = int(n)  # type: ignore[call-overload]
        elif section == "example":
            examples.append(str(label))
        else:
            scalars[str(section)] = int(n)  # type: ignore[call-overload]
    return _audit(scalars.get("audited", 0), sum(by_variant.values()),
                  scalars.get("outside", 0), scalars.get("excluded", 0),
                  dict(sorted(by_variant.items())), sorted(examples)[:_EXAMPLES])


def _audit(audited: int, mismatches: int, outside: int, excluded: int,
           by_variant: dict[str, int], examples: list[str]) -> AssignmentAudit:
    return AssignmentAudit(
        "mismatch" if mismatches else "ok",
        audited_units=audited,
        mismatches=mismatches,
        outside_experiment=outside,
        excluded_overrides=excluded,
        mismatches_by_variant=by_variant,
        examples=tuple(examples),
        note="recomputed with the current config: units exposed before a re-weighting "
             "show up as mismatches",
    )
