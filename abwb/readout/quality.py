"""Data-quality checks of a readout: sample ratio, crossovers, assignment audit, exposures.

What belongs here: the checks a readout runs on the exposures frame before anyone
reads a lift — each returns a :class:`~abwb.readout.model.QualityCheck` with a
sentence a product manager can read — and the daily exposure counts. The SRM test
itself is :func:`abwb.stats.srm.srm_test`; assignments are recomputed with
:func:`abwb.assignment.bulk.assign_frame`, the engine the API serves with.
"""

from __future__ import annotations

import math
from datetime import datetime

import polars as pl

from abwb.assignment.bulk import assign_frame
from abwb.assignment.decision import Reason
from abwb.assignment.engine import Assigner
from abwb.config.bundle import ConfigBundle
from abwb.config.experiment import Experiment
from abwb.readout.model import QualityCheck, ReadoutQuality
from abwb.stats.srm import srm_test

__all__ = [
    "CROSSOVER_MAX_SHARE",
    "MISMATCH_MAX_SHARE",
    "assess_quality",
    "crossover_check",
    "daily_exposures",
    "srm_check",
]

#: Largest tolerated share of units seen in more than one variant.
CROSSOVER_MAX_SHARE = 0.01
#: Largest tolerated share of recorded variants that the engine would not serve today.
MISMATCH_MAX_SHARE = 0.01


def srm_check(units: pl.DataFrame, experiment: Experiment) -> tuple[QualityCheck, float]:
    """Sample-ratio mismatch: do units per variant match the configured weights?

    Args:
        units: One row per unit with its ``variant``.
        experiment: The experiment (weights).

    Returns:
        The check and the p-value (NaN without units). Alerts at p < 0.001.
    """
    weights = {v.key: v.weight for v in experiment.variants if v.weight > 0}
    counts = {k: 0 for k in weights}
    for variant, n in units.group_by("variant").len().iter_rows():
        if variant in counts:
            counts[variant] = int(n)
    result = srm_test(counts, weights)
    if math.isnan(result.p_value):
        return QualityCheck("sample ratio", True, "no exposures yet", math.nan), math.nan
    total, weight_total = max(sum(counts.values()), 1), sum(weights.values())
    observed = ", ".join(
        f"{k} {n / total:.1%} (expected {weights[k] / weight_total:.1%})"
        for k, n in counts.items()
    )
    verdict = "mismatch — assignment or logging is broken" if result.alert else "as configured"
    detail = f"{verdict}: {observed}; chi-square p = {result.p_value:.3g}"
    return QualityCheck("sample ratio", not result.alert, detail, result.p_value), result.p_value


def crossover_check(exposures: pl.DataFrame) -> QualityCheck:
    """Units exposed to more than one variant (they are excluded from the analysis).

    Args:
        exposures: The exposures frame.

    Returns:
        The check; fails above :data:`CROSSOVER_MAX_SHARE`.
    """
    per_unit = exposures.group_by("unit_type", "unit_id").agg(pl.col("variant").n_unique())
    total = per_unit.height
    crossed = per_unit.filter(pl.col("variant") > 1).height
    share = crossed / total if total else 0.0
    passed = share <= CROSSOVER_MAX_SHARE
    detail = (
        f"{crossed:,} of {total:,} units ({share:.2%}) saw more than one variant"
        + ("; they are excluded" if crossed else "")
    )
    return QualityCheck("crossovers", passed, detail, share)


def audit_check(
    units: pl.DataFrame, experiment: Experiment, bundle: ConfigBundle, *, now: datetime
) -> QualityCheck:
    """Recompute each unit's variant with the assignment engine and count disagreements.

    Only units the engine assigns (or overrides) today can be checked: targeting
    attributes are not stored with exposures, and a stopped experiment assigns nobody.

    Args:
        units: One row per unit with ``unit_id`` and recorded ``variant``.
        experiment: The experiment.
        bundle: The workspace config (layers, holdouts).
        now: The time the engine evaluates at.

    Returns:
        The check; fails above :data:`MISMATCH_MAX_SHARE` of checked units.
    """
    if units.is_empty():
        return QualityCheck("assignment audit", True, "no exposures to audit")
    audit_exp = experiment if experiment.status == "running" else _as_running(experiment)
    others = [e for e in bundle.experiments if e.key != experiment.key]
    audit_bundle = ConfigBundle(experiments=[*others, audit_exp], layers=bundle.layers,
                                holdouts=bundle.holdouts, segments=bundle.segments,
                                flags=bundle.flags, metrics=bundle.metrics,
                                version=bundle.version)
    frame = units.select("unit_id", pl.col("variant").alias("recorded"))
    recomputed = assign_frame(Assigner(audit_bundle), frame, experiment.key, now=now,
                              unit_type=experiment.unit_type)
    checkable = recomputed.filter(
        pl.col("reason").is_in([Reason.ASSIGNED.value, Reason.OVERRIDE.value])
    )
    if checkable.is_empty():
        return QualityCheck("assignment audit", True,
                            "no unit could be re-assigned offline (targeting or schedule)")
    mismatched = checkable.filter(pl.col("variant") != pl.col("recorded")).height
    share = mismatched / checkable.height
    passed = share <= MISMATCH_MAX_SHARE
    note = " (sticky assignments may legitimately differ)" if experiment.sticky else ""
    detail = (
        f"{mismatched:,} of {checkable.height:,} units ({share:.2%}) recorded a variant the "
        f"engine would not serve{note}"
    )
    return QualityCheck("assignment audit", passed or experiment.sticky, detail, share)


def _as_running(experiment: Experiment) -> Experiment:
    import msgspec

    return msgspec.structs.replace(experiment, status="running")


def daily_exposures(units: pl.DataFrame) -> pl.DataFrame:
    """New and cumulative exposed units per variant and day (UTC).

    Args:
        units: One row per unit with ``variant`` and ``first_exposed_at``.

    Returns:
        ``date``, ``variant``, ``units``, ``cumulative_units`` sorted by variant, date.
    """
    if units.is_empty():
        return pl.DataFrame(schema={"date": pl.Date, "variant": pl.String, "units": pl.Int64,
                                    "cumulative_units": pl.Int64})
    return (
        units.group_by(pl.col("first_exposed_at").dt.date().alias("date"), "variant")
        .agg(pl.len().cast(pl.Int64).alias("units"))
        .sort("variant", "date")
        .with_columns(pl.col("units").cum_sum().over("variant").alias("cumulative_units"))
    )


def assess_quality(
    exposures: pl.DataFrame,
    units: pl.DataFrame,
    experiment: Experiment,
    bundle: ConfigBundle,
    *,
    now: datetime,
) -> ReadoutQuality:
    """Run every data-quality check.

    Args:
        exposures: Raw exposures of the experiment's phase.
        units: One row per analysed unit (crossovers removed) with ``variant`` and
            ``first_exposed_at``.
        experiment: The experiment.
        bundle: The workspace config.
        now: When the engine re-evaluates assignments (end of the readout window).

    Returns:
        The quality section.
    """
    srm, p_value = srm_check(units, experiment)
    checks = (srm, crossover_check(exposures), audit_check(units, experiment, bundle, now=now))
    return ReadoutQuality(checks=checks, exposures_daily=daily_exposures(units),
                          srm_p_value=p_value)
