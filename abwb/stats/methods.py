"""The method registry: which test answers which metric kind under which engine.

What belongs here: the closed set of engines (``Engine``), the :class:`Method` record
and the one table that maps metric kind × engine (× CUPED) to a method, read through
:func:`method_for`, plus :func:`compare`, which runs the chosen method on one pair of
arms. ``analyze``, the readout, the monitor and the demo all choose a method here and
nowhere else. Metric kinds are the metric definition's (:data:`abwb.config.MetricKind`:
``binomial``, ``count``, ``sum``, ``mean``, ``ratio``); CUPED is not a kind but the
presence of a pre-period covariate in the statistics.

============  ====================  ==========================  =========================
metric kind   frequentist           sequential                  bayesian
============  ====================  ==========================  =========================
binomial      two-proportion z      confidence sequence         Beta-Binomial
count / sum   Welch t               confidence sequence         Normal (flat prior)
/ mean
with CUPED    CUPED Welch t         CUPED confidence sequence   as without CUPED
ratio         delta-method z        ratio confidence sequence   delta-method z (fixed)
============  ====================  ==========================  =========================

Ratio metrics have no conjugate Bayesian path: under the Bayesian engine they get the
fixed-horizon delta-method test, and the result's ``method`` says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from abwb.config.metric import MetricKind
from abwb.errors import InvalidInput
from abwb.stats.bayesian import BayesResult, beta_binomial, normal_means
from abwb.stats.config import AnalysisConfig
from abwb.stats.frequentist import cuped_ttest, proportions_ztest, ratio_ztest, welch_ttest
from abwb.stats.results import ComparisonResult
from abwb.stats.sequential import (
    confidence_sequence,
    cuped_confidence_sequence,
    ratio_confidence_sequence,
)
from abwb.stats.summary import MeanStats, RatioStats

__all__ = [
    "ENGINES",
    "METRIC_KINDS",
    "Comparison",
    "Engine",
    "Method",
    "MethodOptions",
    "compare",
    "method_for",
]

Engine = Literal["frequentist", "sequential", "bayesian"]
"""How a comparison is read: fixed-horizon, always-valid (peek any time) or Bayesian."""

ENGINES: tuple[Engine, ...] = get_args(Engine)
METRIC_KINDS: tuple[MetricKind, ...] = get_args(MetricKind)

Comparison = ComparisonResult | BayesResult
"""What a method returns: a frequentist/sequential comparison or a posterior summary."""

_DEFAULT = AnalysisConfig()
_DEFAULT_DRAWS = 200_000


@dataclass(frozen=True, slots=True)
class MethodOptions:
    """Per-call options a method may need beyond the two arms and the config.

    Args:
        config: Alpha, alternative, correction.
        planned_n: Planned total units tuning a confidence sequence; ``None`` tunes it
            to the units seen so far (narrowest now).
        previous: The previous look's result (sequential engine: intervals intersect).
        draws: Monte Carlo draws for Beta-Binomial intervals.
    """

    config: AnalysisConfig = _DEFAULT
    planned_n: int | None = None
    previous: Comparison | None = None
    draws: int = _DEFAULT_DRAWS


Runner = Callable[[MeanStats | RatioStats, MeanStats | RatioStats, MethodOptions], Comparison]


@dataclass(frozen=True, slots=True)
class Method:
    """One registered method.

    Attributes:
        name: Short description (``two-proportion z``).
        engine: The engine it belongs to.
        statistic: The statistic type both arms must be (``MeanStats`` / ``RatioStats``).
        run: ``run(control, treatment, options)`` → result.
    """

    name: str
    engine: Engine
    statistic: type[MeanStats] | type[RatioStats]
    run: Runner


def _planned(c: MeanStats | RatioStats, t: MeanStats | RatioStats, o: MethodOptions) -> int:
    return o.planned_n if o.planned_n is not None else max(c.n + t.n, 1)


def _prev(o: MethodOptions) -> ComparisonResult | None:
    return o.previous if isinstance(o.previous, ComparisonResult) else None


# Each runner is typed loosely at the table boundary; ``compare`` checks the statistic
# types against ``Method.statistic`` before calling, so the narrowing below is safe.
def _welch(c: object, t: object, o: MethodOptions) -> Comparison:
    return welch_ttest(c, t, config=o.config)  # type: ignore[arg-type]


def _two_proportion(c: object, t: object, o: MethodOptions) -> Comparison:
    return proportions_ztest(c, t, config=o.config)  # type: ignore[arg-type]


def _cuped(c: object, t: object, o: MethodOptions) -> Comparison:
    return cuped_ttest(c, t, config=o.config)  # type: ignore[arg-type]


def _ratio(c: object, t: object, o: MethodOptions) -> Comparison:
    return ratio_ztest(c, t, config=o.config)  # type: ignore[arg-type]


def _cs(c: MeanStats, t: MeanStats, o: MethodOptions) -> Comparison:
    return confidence_sequence(c, t, planned_n=_planned(c, t, o), config=o.config,
                               previous=_prev(o))


def _cs_cuped(c: MeanStats, t: MeanStats, o: MethodOptions) -> Comparison:
    return cuped_confidence_sequence(c, t, planned_n=_planned(c, t, o), config=o.config,
                                     previous=_prev(o))


def _cs_ratio(c: RatioStats, t: RatioStats, o: MethodOptions) -> Comparison:
    return ratio_confidence_sequence(c, t, planned_n=_planned(c, t, o), config=o.config,
                                     previous=_prev(o))


def _beta_binomial(c: MeanStats, t: MeanStats, o: MethodOptions) -> Comparison:
    return beta_binomial(c, t, config=o.config, draws=o.draws)


def _normal(c: MeanStats, t: MeanStats, o: MethodOptions) -> Comparison:
    return normal_means(c, t, config=o.config)


Family = Literal["proportion", "mean", "cuped", "ratio"]

_FAMILY: dict[MetricKind, Family] = {
    "binomial": "proportion",
    "count": "mean",
    "sum": "mean",
    "mean": "mean",
    "ratio": "ratio",
}


def _m(name: str, engine: Engine, statistic: type[MeanStats] | type[RatioStats],
       run: Callable[..., Comparison]) -> Method:
    return Method(name, engine, statistic, run)


_REGISTRY: dict[tuple[Family, Engine], Method] = {
    ("proportion", "frequentist"): _m("two-proportion z", "frequentist", MeanStats,
                                      _two_proportion),
    ("mean", "frequentist"): _m("Welch t", "frequentist", MeanStats, _welch),
    ("cuped", "frequentist"): _m("CUPED Welch t", "frequentist", MeanStats, _cuped),
    ("ratio", "frequentist"): _m("delta-method z", "frequentist", RatioStats, _ratio),
    ("proportion", "sequential"): _m("confidence sequence", "sequential", MeanStats, _cs),
    ("mean", "sequential"): _m("confidence sequence", "sequential", MeanStats, _cs),
    ("cuped", "sequential"): _m("CUPED confidence sequence", "sequential", MeanStats,
                                _cs_cuped),
    ("ratio", "sequential"): _m("ratio confidence sequence", "sequential", RatioStats,
                                _cs_ratio),
    ("proportion", "bayesian"): _m("Beta-Binomial", "bayesian", MeanStats, _beta_binomial),
    ("mean", "bayesian"): _m("Normal (flat prior)", "bayesian", MeanStats, _normal),
    ("cuped", "bayesian"): _m("Normal (flat prior)", "bayesian", MeanStats, _normal),
    ("ratio", "bayesian"): _m("delta-method z (fixed horizon)", "bayesian", RatioStats, _ratio),
}


def method_for(kind: MetricKind, engine: Engine, *, cuped: bool = False) -> Method:
    """The method that analyses a metric of ``kind`` under ``engine``.

    Args:
        kind: The metric definition's kind (``binomial``, ``count``, ``sum``, ``mean``,
            ``ratio``).
        engine: ``frequentist``, ``sequential`` or ``bayesian``.
        cuped: The statistics carry a pre-period covariate (ignored for ratios).

    Returns:
        The registered method.

    Raises:
        InvalidInput: Unknown kind or engine.

    Examples:
        >>> method_for("binomial", "frequentist").name
        'two-proportion z'
        >>> method_for("ratio", "sequential").name
        'ratio confidence sequence'
        >>> method_for("count", "sequential", cuped=True).name
        'CUPED confidence sequence'
    """
    if kind not in _FAMILY:
        raise InvalidInput(f"expected one of {list(METRIC_KINDS)}, got {kind!r}", path="kind")
    if engine not in ENGINES:
        raise InvalidInput(f"expected one of {list(ENGINES)}, got {engine!r}", path="engine")
    family = _FAMILY[kind]
    if cuped and family != "ratio":
        family = "cuped"
    return _REGISTRY[(family, engine)]


def compare(
    control: MeanStats | RatioStats,
    treatment: MeanStats | RatioStats,
    *,
    kind: MetricKind,
    engine: Engine,
    options: MethodOptions | None = None,
    path: str = "stats",
) -> Comparison:
    """Compare one treatment with control, with the method :func:`method_for` picks.

    CUPED applies when both arms carry a covariate.

    Args:
        control: Control statistics.
        treatment: Treatment statistics.
        kind: The metric's kind.
        engine: The engine.
        options: Config, planned units, previous look, draws.
        path: Where the statistics came from, for error messages.

    Returns:
        The method's result (unlabelled: ``metric``/``treatment`` are the caller's).

    Raises:
        InvalidInput: Unknown kind or engine, or statistics of the wrong type.

    Examples:
        >>> r = compare(MeanStats.from_counts(100, 1000), MeanStats.from_counts(130, 1000),
        ...             kind="binomial", engine="frequentist")
        >>> r.method, round(r.p_value, 4)
        ('two_proportion_z', 0.0355)
    """
    cuped = (isinstance(control, MeanStats) and isinstance(treatment, MeanStats)
             and control.has_covariate and treatment.has_covariate)
    method = method_for(kind, engine, cuped=cuped)
    for arm, s in (("control", control), ("treatment", treatment)):
        if not isinstance(s, method.statistic):
            raise InvalidInput(
                f"kind {kind!r} needs {method.statistic.__name__}, got {type(s).__name__}",
                path=f"{path}.{arm}",
            )
    return method.run(control, treatment, options or MethodOptions())
