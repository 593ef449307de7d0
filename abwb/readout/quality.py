"""Data-quality checks of a readout, read from the metric pipeline's findings.

What belongs here: turning :class:`~abwb.metrics.DataQualityResult` (sample-ratio
test, crossovers, assignment audit, events before exposure, missing and unknown
variants — all computed once by :mod:`abwb.metrics`) into the readout's
:class:`~abwb.readout.model.QualityCheck` verdicts, each with a sentence a product
manager can read and the readout's tolerance for it, plus the daily exposure counts
the exposure plot shows. Nothing here recomputes a quality fact.
"""

from __future__ import annotations

import math

import polars as pl

from abwb.config.experiment import Experiment
from abwb.metrics import DataQualityResult
from abwb.readout.formatting import format_p_value
from abwb.readout.model import QualityCheck, ReadoutQuality

__all__ = [
    "CROSSOVER_MAX_SHARE",
    "MISMATCH_MAX_SHARE",
    "assess_quality",
    "audit_check",
    "crossover_check",
    "daily_exposures",
    "events_before_exposure_check",
    "srm_check",
    "variants_check",
]

#: Largest tolerated share of units seen in more than one variant.
CROSSOVER_MAX_SHARE = 0.01
#: Largest tolerated share of audited units whose logged variant the config would not assign.
MISMATCH_MAX_SHARE = 0.01

_SRM_CAUSES = {
    "assignment": "likely cause: assignment (the audit found units in the wrong variant)",
    "logging": "likely cause: lost or extra exposures (the assignment audit is clean)",
    "unknown": "cause unknown (the assignment audit could not run)",
}


def srm_check(quality: DataQualityResult) -> QualityCheck:
    """Sample-ratio mismatch: do analysed units per variant match the configured weights?

    Args:
        quality: The pipeline's findings (its chi-square test, ``abwb.stats.srm``).

    Returns:
        The check (value: the p-value); fails when the test alerts (p < 0.001).
    """
    srm = quality.srm
    if srm is None or math.isnan(srm.p_value):
        reason = (
            "not tested: exposures name variants the config does not define"
            if quality.unknown_variants else "no exposures yet"
        )
        return QualityCheck("sample ratio", True, reason, math.nan)
    total, expected_total = max(sum(srm.n), 1), sum(srm.expected) or 1.0
    observed = ", ".join(
        f"{k} {n / total:.1%} (expected {e / expected_total:.1%})"
        for k, n, e in zip(srm.variants, srm.n, srm.expected, strict=True)
    )
    if srm.alert:
        verdict = f"mismatch, {_SRM_CAUSES.get(quality.srm_cause, 'cause unknown')}"
    else:
        verdict = "as configured"
    detail = f"{verdict}: {observed}; chi-square {format_p_value(srm.p_value)}"
    return QualityCheck("sample ratio", not srm.alert, detail, srm.p_value)


def crossover_check(quality: DataQualityResult) -> QualityCheck:
    """Units exposed to more than one variant (left out of the analysis).

    Args:
        quality: The pipeline's findings.

    Returns:
        The check (value: the share of units); fails above :data:`CROSSOVER_MAX_SHARE`.
    """
    crossed = quality.crossover_units
    analysed = sum(quality.units_per_variant.values())
    total = analysed + crossed if quality.crossovers_excluded else analysed
    share = crossed / total if total else 0.0
    detail = (
        f"{crossed:,} of {total:,} units ({share:.2%}) saw more than one variant"
        + ("; they are excluded" if crossed and quality.crossovers_excluded else "")
    )
    return QualityCheck("crossovers", share <= CROSSOVER_MAX_SHARE, detail, share)


def audit_check(quality: DataQualityResult) -> QualityCheck:
    """The assignment audit: logged variants recomputed from the config's hash.

    Args:
        quality: The pipeline's findings (:func:`abwb.metrics.audit_assignments`).

    Returns:
        The check (value: the share of audited units that mismatch); fails above
        :data:`MISMATCH_MAX_SHARE`. An audit that could not run (sticky experiment,
        another phase) passes with the reason.
    """
    audit = quality.audit
    if audit.status in ("not_auditable", "skipped"):
        return QualityCheck("assignment audit", True, f"not run: {audit.note}", math.nan)
    if audit.audited_units == 0:
        return QualityCheck("assignment audit", True, "no exposures to audit", math.nan)
    share = audit.mismatches / audit.audited_units
    detail = (
        f"{audit.mismatches:,} of {audit.audited_units:,} units ({share:.2%}) recorded a "
        "variant the current config would not assign"
    )
    if audit.outside_experiment:
        detail += f" ({audit.outside_experiment:,} fall outside its traffic or layer range)"
    if audit.excluded_overrides:
        detail += f"; {audit.excluded_overrides:,} overridden units not audited"
    if audit.mismatches:
        detail += "; units exposed before a re-weighting also count"
    return QualityCheck("assignment audit", share <= MISMATCH_MAX_SHARE, detail, share)


def variants_check(quality: DataQualityResult, experiment: Experiment) -> QualityCheck:
    """Every configured variant has units, and no exposure names an unknown variant.

    Args:
        quality: The pipeline's findings.
        experiment: The experiment (which variants receive traffic).

    Returns:
        The check; fails on a logged variant the config does not define, or on a
        variant with traffic but no units while other variants have some.
    """
    served = {v.key for v in experiment.variants if v.weight > 0}
    missing = [v for v in quality.missing_variants if v in served]
    unknown = list(quality.unknown_variants)
    if not sum(quality.units_per_variant.values()):
        return QualityCheck("variants", True, "no exposures yet", math.nan)
    problems = []
    if missing:
        problems.append(f"no units in {', '.join(missing)}")
    if unknown:
        problems.append(f"exposures logged for undefined variant(s) {', '.join(unknown)}")
    detail = "; ".join(problems) or "every configured variant received units"
    return QualityCheck("variants", not problems, detail, float(len(missing) + len(unknown)))


def events_before_exposure_check(quality: DataQualityResult) -> QualityCheck:
    """Metric events of analysed units that happened before the unit's first exposure.

    They are expected (a CUPED pre-period, returning users) and are never counted in
    a metric's window, so this check informs and does not fail; a sudden jump points
    at exposures logged late.

    Args:
        quality: The pipeline's findings.

    Returns:
        The check (value: the number of events); always passes.
    """
    n = quality.events_before_exposure
    detail = (
        "no metric event happened before its unit's first exposure" if not n else
        f"{n:,} metric events happened before their unit's first exposure; metric windows "
        "leave them out (CUPED uses them as the pre-period)"
    )
    return QualityCheck("events before exposure", True, detail, float(n))


def daily_exposures(units: pl.DataFrame) -> pl.DataFrame:
    """New and cumulative exposed units per variant and day (UTC).

    Args:
        units: Analysed units per variant and day (:data:`abwb.metrics.UNIT_DAYS_SCHEMA`:
            ``date``, ``variant``, ``units``).

    Returns:
        ``date``, ``variant``, ``units``, ``cumulative_units`` sorted by variant, date.
    """
    if units.is_empty():
        return pl.DataFrame(schema={"date": pl.Date, "variant": pl.String, "units": pl.Int64,
                                    "cumulative_units": pl.Int64})
    return (
        units.group_by("date", "variant")
        .agg(pl.col("units").sum().cast(pl.Int64))
        .sort("variant", "date")
        .with_columns(pl.col("units").cum_sum().over("variant").alias("cumulative_units"))
    )


def assess_quality(
    quality: DataQualityResult, units: pl.DataFrame, experiment: Experiment
) -> ReadoutQuality:
    """The readout's quality section from the pipeline's findings.

    Args:
        quality: :attr:`abwb.metrics.MetricResults.quality` of the readout window.
        units: Analysed units per variant and day (:data:`abwb.metrics.UNIT_DAYS_SCHEMA`).
        experiment: The experiment.

    Returns:
        Checks in display order, daily exposures and the SRM p-value (NaN when untested).
    """
    checks = (
        srm_check(quality),
        variants_check(quality, experiment),
        crossover_check(quality),
        audit_check(quality),
        events_before_exposure_check(quality),
    )
    p_value = quality.srm.p_value if quality.srm is not None else math.nan
    return ReadoutQuality(checks=checks, exposures_daily=daily_exposures(units),
                          srm_p_value=p_value)
