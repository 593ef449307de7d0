"""PyMC models for when closed forms are not enough (needs the ``bayes`` extra).

What belongs here: MCMC models and their plumbing — a hierarchical model that
partially pools many variants (or segments) of one metric, a hurdle log-normal
model for revenue with many zeros and a heavy right tail, ArviZ convergence
diagnostics gating every result, and a cache of compiled models.

``import abwb.stats`` never imports PyMC: this module is imported on first use
(``abwb.stats.models``) and imports PyMC, nutpie and ArviZ inside functions.

Guarantees:

- Diagnostics are checked before anything is reported: rank-normalised split
  r-hat ≤ ``max_rhat`` (1.01), bulk ESS ≥ ``min_ess_bulk`` (400) for every free
  parameter, and zero post-warmup divergences. A failure gives status
  ``diagnostics_failed`` with NaN estimates (the draws stay in ``idata`` for
  inspection), never a silent number.
- Models see data only through ``pm.Data`` containers sized by the number of
  groups, so a compiled model is cached by (model, number of groups, sampler)
  and new data reuse it (nutpie ``with_data``; ``pm.set_data`` for PyMC's NUTS).
- Both models are written on sufficient statistics, so sampling cost does not
  grow with the number of units. The hurdle model is exact: the log-normal
  likelihood of the positive values depends on them only through
  k = #{y > 0}, Σ log y and Σ (log y)².
- Sampling is seeded: the same data, config and seed give the same draws.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from abwb.errors import InvalidInput
from abwb.stats.results import Status
from abwb.stats.summary import MeanStats, require_binary

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Diagnostics",
    "GroupPosterior",
    "ModelResult",
    "SamplingConfig",
    "clear_model_cache",
    "fit_hierarchical",
    "fit_revenue_hurdle",
]

SamplerName = Literal["auto", "nutpie", "pymc"]


@dataclass(frozen=True, slots=True)
class SamplingConfig:
    """MCMC settings and the diagnostic thresholds a result must pass.

    Args:
        draws: Post-warmup draws per chain.
        tune: Warmup draws per chain.
        chains: Number of chains (≥ 2, r-hat needs several).
        seed: Random seed.
        sampler: ``auto`` (nutpie if installed, else PyMC's NUTS), ``nutpie`` or ``pymc``.
        target_accept: NUTS target acceptance rate.
        max_rhat: Largest acceptable r-hat.
        min_ess_bulk: Smallest acceptable bulk ESS.
        ci_prob: Probability of the equal-tailed credible intervals.

    Raises:
        InvalidInput: A setting out of range.
    """

    draws: int = 2000
    tune: int = 1000
    chains: int = 4
    seed: int = 0
    sampler: SamplerName = "auto"
    target_accept: float = 0.95
    max_rhat: float = 1.01
    min_ess_bulk: float = 400.0
    ci_prob: float = 0.95

    def __post_init__(self) -> None:
        if self.chains < 2:
            raise InvalidInput(f"expected chains >= 2, got {self.chains}",
                               path="SamplingConfig.chains")
        if self.draws < 100:
            raise InvalidInput(f"expected draws >= 100, got {self.draws}",
                               path="SamplingConfig.draws")
        if self.tune < 50:  # nutpie's adaptation needs a minimum warm-up
            raise InvalidInput(f"expected tune >= 50, got {self.tune}",
                               path="SamplingConfig.tune")
        if self.sampler not in ("auto", "nutpie", "pymc"):
            raise InvalidInput(f"expected 'auto', 'nutpie' or 'pymc', got {self.sampler!r}",
                               path="SamplingConfig.sampler")
        for name in ("target_accept", "ci_prob"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise InvalidInput(f"expected 0 < {name} < 1, got {v!r}",
                                   path=f"SamplingConfig.{name}")


@dataclass(frozen=True, slots=True)
class Diagnostics:
    """Convergence diagnostics of one fit.

    Attributes:
        max_rhat: Largest rank-normalised split r-hat over free parameters.
        min_ess_bulk: Smallest bulk effective sample size.
        divergences: Number of post-warmup divergent transitions.
        passed: All thresholds met.
    """

    max_rhat: float
    min_ess_bulk: float
    divergences: int
    passed: bool


@dataclass(frozen=True, slots=True)
class GroupPosterior:
    """Posterior summary of one group (variant or segment).

    Attributes:
        name: Group name.
        n: Units in the group.
        mean: Posterior mean of the group's metric mean.
        effect_abs: Posterior mean of group − control (0 for control).
        ci_low: Lower credible bound of ``effect_abs``.
        ci_high: Upper credible bound of ``effect_abs``.
        effect_rel: Posterior mean of group / control − 1.
        ci_low_rel: Lower credible bound of ``effect_rel``.
        ci_high_rel: Upper credible bound of ``effect_rel``.
        chance_to_beat_control: P(group > control) (NaN for control).
    """

    name: str
    n: int
    mean: float
    effect_abs: float
    ci_low: float
    ci_high: float
    effect_rel: float
    ci_low_rel: float
    ci_high_rel: float
    chance_to_beat_control: float


@dataclass(frozen=True, slots=True)
class ModelResult:
    """Result of a PyMC fit.

    Attributes:
        method: Model name, e.g. ``hierarchical_binomial_partial``.
        status: ``ok`` or ``diagnostics_failed`` (estimates NaN).
        control: Control group name.
        groups: One summary per group, in input order.
        diagnostics: Convergence diagnostics.
        sampler: ``nutpie`` or ``pymc``.
        compile_s: Seconds spent compiling (0 when the cached model was reused).
        sample_s: Seconds spent sampling.
        idata: The raw draws (ArviZ DataTree), for inspection.
    """

    method: str
    status: Status
    control: str
    groups: tuple[GroupPosterior, ...]
    diagnostics: Diagnostics
    sampler: str
    compile_s: float
    sample_s: float
    idata: Any = field(default=None, repr=False, compare=False)

    def group(self, name: str) -> GroupPosterior:
        """Summary of one group by name.

        Args:
            name: Group name.

        Returns:
            The group summary.

        Raises:
            InvalidInput: Unknown group.
        """
        for g in self.groups:
            if g.name == name:
                return g
        raise InvalidInput(f"unknown group {name!r}", path="name")


# ---------------------------------------------------------------- compilation cache

@dataclass
class _Compiled:
    model: Any
    nutpie_model: Any  # nutpie CompiledModel or None


_CACHE: dict[tuple[str, int, str], _Compiled] = {}
_LOCK = threading.Lock()


def clear_model_cache() -> None:
    """Forget every cached compiled model (the next fit compiles again)."""
    with _LOCK:
        _CACHE.clear()


def _resolve_sampler(name: SamplerName) -> str:
    if name != "auto":
        return name
    try:
        import nutpie  # noqa: F401
    except ImportError:
        return "pymc"
    return "nutpie"


def _import_pymc() -> Any:
    try:
        import pymc as pm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("abwb.stats.models needs PyMC: install the 'bayes' extra "
                          "(pip install 'abwb[bayes]')") from exc
    return pm


def _get_compiled(key: str, n_groups: int, sampler: str,
                  build: Callable[[int], Any]) -> tuple[_Compiled, float]:
    with _LOCK:
        cached = _CACHE.get((key, n_groups, sampler))
        if cached is not None:
            return cached, 0.0
        t0 = time.perf_counter()
        model = build(n_groups)
        compiled_np = None
        if sampler == "nutpie":
            import nutpie

            compiled_np = nutpie.compile_pymc_model(model)
        entry = _Compiled(model, compiled_np)
        _CACHE[(key, n_groups, sampler)] = entry
        return entry, time.perf_counter() - t0


def _sample(entry: _Compiled, data: Mapping[str, NDArray[Any]], sampler: str,
            cfg: SamplingConfig) -> Any:
    if sampler == "nutpie":
        import nutpie

        compiled = entry.nutpie_model.with_data(**data)
        return nutpie.sample(compiled, draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                             seed=cfg.seed, progress_bar=False,
                             target_accept=cfg.target_accept)
    pm = _import_pymc()
    with _LOCK:  # set_data mutates the shared model
        pm.set_data(dict(data), model=entry.model)
        with entry.model:
            return pm.sample(draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                             random_seed=cfg.seed, progressbar=False, nuts_sampler="pymc",
                             target_accept=cfg.target_accept, compute_convergence_checks=False)


def _max_over(result: Any) -> list[float]:
    ds = result.to_dataset() if hasattr(result, "to_dataset") else result
    return [float(np.asarray(v).max()) for v in ds.data_vars.values()] or [math.nan]


def _min_over(result: Any) -> list[float]:
    ds = result.to_dataset() if hasattr(result, "to_dataset") else result
    return [float(np.asarray(v).min()) for v in ds.data_vars.values()] or [math.nan]


def _diagnose(idata: Any, var_names: list[str], cfg: SamplingConfig) -> Diagnostics:
    # arviz_stats re-exports these implicitly from its package root; import the definitions.
    from arviz_stats.sampling_diagnostics import ess, rhat

    max_rhat = max(_max_over(rhat(idata, var_names=var_names)))
    min_ess = min(_min_over(ess(idata, var_names=var_names, method="bulk")))
    divergences = int(np.asarray(idata["sample_stats"]["diverging"]).sum())
    passed = (max_rhat <= cfg.max_rhat and min_ess >= cfg.min_ess_bulk and divergences == 0)
    return Diagnostics(max_rhat, min_ess, divergences, bool(passed))


def _summarise(names: list[str], ns: list[int], control_idx: int, draws: NDArray[Any],
               cfg: SamplingConfig, ok: bool) -> tuple[GroupPosterior, ...]:
    """Summaries from draws of shape (samples, groups) of each group's metric mean."""
    q = [(1.0 - cfg.ci_prob) / 2.0, 1.0 - (1.0 - cfg.ci_prob) / 2.0]
    out = []
    ctrl = draws[:, control_idx]
    for i, (name, n) in enumerate(zip(names, ns, strict=True)):
        if not ok:
            out.append(GroupPosterior(name, n, *([math.nan] * 8)))
            continue
        diff = draws[:, i] - ctrl
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = draws[:, i] / ctrl - 1.0
        lo, hi = np.quantile(diff, q)
        lo_r, hi_r = np.quantile(rel, q)
        ctb = math.nan if i == control_idx else float((diff > 0).mean())
        out.append(GroupPosterior(name, n, float(draws[:, i].mean()), float(diff.mean()),
                                  float(lo), float(hi), float(rel.mean()), float(lo_r),
                                  float(hi_r), ctb))
    return tuple(out)


def _stack(idata: Any, var: str) -> NDArray[Any]:
    arr = np.asarray(idata["posterior"][var])
    return arr.reshape(arr.shape[0] * arr.shape[1], -1)


def _run(method: str, key: str, build: Callable[[int], Any], data: Mapping[str, NDArray[Any]],
         names: list[str], ns: list[int], control: str, cfg: SamplingConfig,
         transform: Callable[[Any], NDArray[Any]]) -> ModelResult:
    sampler = _resolve_sampler(cfg.sampler)
    entry, compile_s = _get_compiled(key, len(names), sampler, build)
    t0 = time.perf_counter()
    idata = _sample(entry, data, sampler, cfg)
    sample_s = time.perf_counter() - t0
    var_names = [rv.name for rv in entry.model.free_RVs]
    diag = _diagnose(idata, var_names, cfg)
    groups = _summarise(names, ns, names.index(control), transform(idata), cfg, diag.passed)
    status: Status = "ok" if diag.passed else "diagnostics_failed"
    return ModelResult(method, status, control, groups, diag, sampler, compile_s, sample_s, idata)


# ---------------------------------------------------------------- hierarchical model

def _build_binomial(pooling: str) -> Callable[[int], Any]:
    def build(g: int) -> Any:
        pm = _import_pymc()
        with pm.Model() as model:
            n = pm.Data("n", np.ones(g, dtype="int64"))
            k = pm.Data("k", np.zeros(g, dtype="int64"))
            if pooling == "partial":
                # Non-centred: variants of one experiment differ little, so τ sits near
                # 0, where the centred form has a funnel that NUTS cannot explore.
                mu = pm.Normal("mu", 0.0, 2.5)
                tau = pm.HalfNormal("tau", 1.0)
                z = pm.Normal("z", 0.0, 1.0, shape=g)
                p = pm.Deterministic("p", pm.math.invlogit(mu + tau * z))
            else:
                p = pm.Beta("p", 1.0, 1.0, shape=g)
            pm.Binomial("y", n=n, p=p, observed=k)
        return model
    return build


def _build_normal(pooling: str) -> Callable[[int], Any]:
    def build(g: int) -> Any:
        pm = _import_pymc()
        with pm.Model() as model:
            y = pm.Data("y_bar", np.zeros(g))
            se = pm.Data("se", np.ones(g))
            if pooling == "partial":
                mu = pm.Normal("mu", 0.0, 1.0)
                tau = pm.HalfNormal("tau", 1.0)
                z = pm.Normal("z", 0.0, 1.0, shape=g)
                theta = pm.Deterministic("theta", mu + tau * z)
            else:
                theta = pm.Normal("theta", 0.0, 10.0, shape=g)
            pm.Normal("obs", theta, se, observed=y)
        return model
    return build


def _check_groups(groups: Mapping[str, MeanStats], control: str) -> None:
    if len(groups) < 2:
        raise InvalidInput(f"expected at least 2 groups, got {len(groups)}", path="groups")
    if control not in groups:
        raise InvalidInput(f"control {control!r} not among {sorted(groups)}", path="control")
    for name, s in groups.items():
        if not isinstance(s, MeanStats):
            raise InvalidInput(f"expected MeanStats, got {type(s).__name__}",
                               path=f"groups[{name!r}]")
        if s.n < 2:
            raise InvalidInput(f"expected n >= 2, got {s.n}", path=f"groups[{name!r}].n")


def fit_hierarchical(
    groups: Mapping[str, MeanStats],
    *,
    control: str,
    kind: Literal["mean", "proportion"] = "proportion",
    pooling: Literal["partial", "none"] = "partial",
    sampling: SamplingConfig | None = None,
) -> ModelResult:
    """Partially pool many variants (or segments) of one metric towards a common mean.

    ``proportion``: k_g ~ Binomial(n_g, p_g), logit p_g ~ N(μ, τ) (non-centred), μ ~ N(0, 2.5),
    τ ~ HalfNormal(1); with ``pooling="none"`` p_g ~ Beta(1, 1) independently
    (the conjugate model, used as a reference). ``mean``: the group means are
    standardised by the pooled mean and SD, ȳ_g ~ N(θ_g, se_g) (CLT), θ_g ~ N(μ, τ),
    μ ~ N(0, 1), τ ~ HalfNormal(1); with ``pooling="none"`` θ_g ~ N(0, 10).
    Shrinkage pulls noisy groups towards the grand mean, taming the winner's curse
    when many variants or segments are compared.

    Args:
        groups: ``{name: MeanStats}``; for ``proportion`` they must be 0/1 metrics.
        control: Name of the reference group for lifts and chance to beat control.
        kind: ``proportion`` or ``mean``.
        pooling: ``partial`` (hierarchical) or ``none`` (independent groups).
        sampling: MCMC settings and diagnostic thresholds.

    Returns:
        Per-group posteriors, diagnostics and timings; ``diagnostics_failed`` → NaN.

    Raises:
        InvalidInput: Fewer than 2 groups, unknown control, a group with n < 2,
            non-binary data for ``proportion``, or bad ``kind``/``pooling``.
        ImportError: PyMC is not installed (install the ``bayes`` extra).

    References:
        Gelman et al. (2013), Bayesian Data Analysis, 3rd ed., ch. 5; Gelman, Hill &
        Yajima (2012), "Why we (usually) don't have to worry about multiple comparisons".
    """
    cfg = sampling or SamplingConfig()
    _check_groups(groups, control)
    if kind not in ("mean", "proportion") or pooling not in ("partial", "none"):
        raise InvalidInput(f"unknown kind/pooling {kind!r}/{pooling!r}", path="kind")
    names = list(groups)
    ns = [groups[k].n for k in names]
    if kind == "proportion":
        for name in names:
            require_binary(groups[name], f"groups[{name!r}]")
        data = {"n": np.array(ns, dtype="int64"),
                "k": np.array([round(groups[k].total) for k in names], dtype="int64")}
        return _run(f"hierarchical_binomial_{pooling}", f"binomial_{pooling}",
                    _build_binomial(pooling), data, names, ns, control, cfg,
                    lambda idata: _stack(idata, "p"))
    pooled = sum((groups[k] for k in names), MeanStats(0, 0.0, 0.0,
                 has_covariate=groups[names[0]].has_covariate))
    center, scale = pooled.mean, math.sqrt(pooled.var) if pooled.var > 0 else 1.0
    se = np.array([math.sqrt(groups[k].var / groups[k].n) for k in names]) / scale
    if np.any(se <= 0):
        raise InvalidInput("a group has zero variance; the normal model needs se > 0",
                           path="groups")
    data = {"y_bar": (np.array([groups[k].mean for k in names]) - center) / scale, "se": se}
    return _run(f"hierarchical_normal_{pooling}", f"normal_{pooling}", _build_normal(pooling),
                data, names, ns, control, cfg,
                lambda idata: center + scale * _stack(idata, "theta"))


# ---------------------------------------------------------------- hurdle revenue model

def _build_hurdle(g: int) -> Any:
    pm = _import_pymc()
    with pm.Model() as model:
        n = pm.Data("n", np.ones(g, dtype="int64"))
        k = pm.Data("k", np.zeros(g, dtype="int64"))
        kf = pm.Data("k_float", np.zeros(g))
        s1 = pm.Data("log_total", np.zeros(g))
        s2 = pm.Data("log_total_sq", np.zeros(g))
        pi = pm.Beta("pi", 1.0, 1.0, shape=g)
        mu = pm.Normal("mu", 0.0, 3.0, shape=g)
        sigma = pm.HalfNormal("sigma", 2.0, shape=g)
        pm.Binomial("positive", n=n, p=pi, observed=k)
        # Σ_i log N(z_i | μ, σ) over positive units, from k, Σz, Σz² (z = standardised log y).
        ssq = s2 - 2.0 * mu * s1 + kf * mu**2
        pm.Potential("log_normal_part",
                     (-kf * pm.math.log(sigma) - ssq / (2.0 * sigma**2)).sum())
    return model


def fit_revenue_hurdle(
    values: Mapping[str, ArrayLike],
    *,
    control: str,
    sampling: SamplingConfig | None = None,
) -> ModelResult:
    """Hurdle log-normal model of revenue per unit: P(y > 0) and log y | y > 0 ~ Normal.

    Per group g: #{y > 0} ~ Binomial(n_g, π_g), π_g ~ Beta(1, 1);
    log y | y > 0 ~ N(μ_g, σ_g) (on logs standardised by the pooled mean and SD of
    positive log values; μ_g ~ N(0, 3), σ_g ~ HalfNormal(2)). The reported group
    mean is the mean revenue per unit, π_g · exp(μ_g + σ_g²/2), so lifts and chance
    to beat control are on revenue per unit, zeros included.

    Args:
        values: ``{group: per-unit revenue}`` arrays (non-negative, finite, 1-D).
        control: Reference group.
        sampling: MCMC settings and diagnostic thresholds.

    Returns:
        Per-group posteriors, diagnostics and timings.

    Raises:
        InvalidInput: Fewer than 2 groups, unknown control, negative or non-finite
            values, fewer than 2 positive values overall.
        ImportError: PyMC is not installed (install the ``bayes`` extra).

    References:
        Cragg, J. G. (1971), "Some statistical models for limited dependent variables";
        Gelman et al. (2013), Bayesian Data Analysis, 3rd ed., §14.7.
    """
    cfg = sampling or SamplingConfig()
    if len(values) < 2:
        raise InvalidInput(f"expected at least 2 groups, got {len(values)}", path="values")
    if control not in values:
        raise InvalidInput(f"control {control!r} not among {sorted(values)}", path="control")
    names = list(values)
    arrays = {}
    for name in names:
        a = np.asarray(values[name], dtype=float)
        if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0):
            raise InvalidInput("expected a non-empty 1-D array of finite values >= 0",
                               path=f"values[{name!r}]")
        arrays[name] = a
    logs = {k: np.log(a[a > 0]) for k, a in arrays.items()}
    all_logs = np.concatenate(list(logs.values()))
    if all_logs.size < 2:
        raise InvalidInput("expected at least 2 positive values overall", path="values")
    center = float(all_logs.mean())
    scale = float(all_logs.std()) or 1.0
    z = {k: (v - center) / scale for k, v in logs.items()}
    data = {
        "n": np.array([arrays[k].size for k in names], dtype="int64"),
        "k": np.array([z[k].size for k in names], dtype="int64"),
        "k_float": np.array([float(z[k].size) for k in names]),
        "log_total": np.array([z[k].sum() for k in names]),
        "log_total_sq": np.array([z[k] @ z[k] for k in names]),
    }

    def mean_revenue(idata: Any) -> NDArray[Any]:
        pi, mu, sigma = (_stack(idata, v) for v in ("pi", "mu", "sigma"))
        return pi * np.exp(center + scale * mu + 0.5 * (scale * sigma) ** 2)

    return _run("hurdle_lognormal", "hurdle_lognormal", _build_hurdle, data, names,
                [arrays[k].size for k in names], control, cfg, mean_revenue)
