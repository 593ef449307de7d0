"""Bayesian models beyond the conjugate ones: hierarchical pooling and revenue hurdles.

What belongs here: a hierarchical model that partially pools many variants (or
segments) of one metric, a hurdle log-normal model for revenue with many zeros and a
heavy right tail, their MCMC plumbing (ArviZ convergence diagnostics gating every
result, a cache of compiled models), and the readable summary of a ``ModelResult``.

The normal ("mean") hierarchical model needs no MCMC: its posterior is computed
exactly by one-dimensional quadrature over τ (``abwb.stats.normal_hierarchy``), so it
has no convergence to fail; ``engine="mcmc"`` runs the PyMC version, which is tested
against that reference. The binomial hierarchical and hurdle models need PyMC (the
``bayes`` extra).

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
- Sampling is seeded: the same data, config and seed give the same draws (on one
  CPU; another CPU may give other chains, which is why tests check many seeds).
- Models are parameterised to converge on informative data: the binomial model's
  location is centred on the pooled logit (passed as data; the prior on μ is
  unchanged) and scaled by its standard error, group effects are non-centred, and the
  MCMC normal model integrates the group effects out (ȳ_g ~ N(μ, √(τ² + se_g²))) and
  draws θ_g | μ, τ exactly afterwards.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from abwb.errors import InvalidInput
from abwb.stats.normal_hierarchy import normal_hierarchy_posterior
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
    "format_model_result",
]

SamplerName = Literal["auto", "nutpie", "pymc"]
Engine = Literal["exact", "mcmc"]


@dataclass(frozen=True, slots=True)
class SamplingConfig:
    """MCMC settings and the diagnostic thresholds a result must pass.

    Args:
        draws: Post-warmup draws per chain.
        tune: Warmup draws per chain.
        chains: Number of chains (≥ 2, r-hat needs several).
        seed: Random seed.
        sampler: ``auto`` (nutpie if installed, else PyMC's NUTS), ``nutpie`` or ``pymc``.
        target_accept: NUTS target acceptance rate; ``None`` uses the model's own
            (0.99 for the partially pooled binomial model, whose τ-z geometry gives
            occasional divergences at 0.95; 0.95 otherwise).
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
    target_accept: float | None = None
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
            if v is not None and not 0.0 < v < 1.0:
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
        rhat_limit: The largest r-hat the gate allowed.
        ess_limit: The smallest bulk ESS the gate required.
    """

    max_rhat: float
    min_ess_bulk: float
    divergences: int
    passed: bool
    rhat_limit: float = 1.01
    ess_limit: float = 400.0


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
    """Result of a model fit (MCMC or exact); ``str()`` gives a readable summary.

    Attributes:
        method: Model name, e.g. ``hierarchical_binomial_partial``.
        status: ``ok`` or ``diagnostics_failed`` (estimates NaN).
        control: Control group name.
        groups: One summary per group, in input order.
        diagnostics: Convergence diagnostics.
        sampler: ``nutpie``, ``pymc``, or ``quadrature`` (the exact normal model; its
            draws are independent, so diagnostics are r-hat 1 and ESS = draws).
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

    def __str__(self) -> str:
        return format_model_result(self)


def _fmt(x: float, spec: str) -> str:
    return "n/a" if math.isnan(x) else format(x, spec)


def format_model_result(result: ModelResult) -> str:
    """A readable, multi-line summary of a model fit (also ``str(result)``).

    A failed diagnostics gate is stated in words with the diagnostics that failed,
    never shown as NaN estimates.

    Args:
        result: The fit.

    Returns:
        One header line (method, status, diagnostics, engine, timings), then one line per
        non-control group (lift, credible interval, chance to beat control).

    Examples:
        >>> d = Diagnostics(1.31, 12.0, 3, False)
        >>> g = GroupPosterior("b", 100, *([math.nan] * 8))
        >>> r = ModelResult("hierarchical_binomial_partial", "diagnostics_failed", "a",
        ...                 (g,), d, "nutpie", 0.0, 1.5)
        >>> print(r)  # doctest: +NORMALIZE_WHITESPACE
        hierarchical_binomial_partial: NOT REPORTED - MCMC diagnostics failed
        (max r-hat 1.310 > 1.01 allowed; min bulk ESS 12 < 400 needed; 3 divergences);
        estimates withheld, draws kept in .idata for inspection [nutpie, sampled in 1.5 s]
    """
    d = result.diagnostics
    timing = f"{result.sampler}, sampled in {result.sample_s:.1f} s"
    if result.compile_s > 0:
        timing += f", compiled in {result.compile_s:.1f} s"
    if result.status != "ok":
        return (f"{result.method}: NOT REPORTED - MCMC diagnostics failed "
                f"({'; '.join(_failures(d)) or result.status}); "
                f"estimates withheld, draws kept in .idata for inspection [{timing}]")
    head = (f"{result.method}: ok (max r-hat {_fmt(d.max_rhat, '.3f')}, "
            f"min bulk ESS {_fmt(d.min_ess_bulk, '.0f')}, {d.divergences} divergences) "
            f"[{timing}]")
    lines = [head]
    for g in result.groups:
        if g.name == result.control:
            lines.append(f"  {g.name} (control): mean {g.mean:.4g}")
            continue
        lines.append(
            f"  {g.name}: mean {g.mean:.4g}, lift {g.effect_rel:+.2%} "
            f"[{g.ci_low_rel:+.2%}, {g.ci_high_rel:+.2%}], "
            f"P(> {result.control}) {g.chance_to_beat_control:.1%}")
    return "\n".join(lines)


def _failures(d: Diagnostics) -> list[str]:
    out = []
    if not d.max_rhat <= d.rhat_limit:
        out.append(f"max r-hat {_fmt(d.max_rhat, '.3f')} > {d.rhat_limit:g} allowed")
    if not d.min_ess_bulk >= d.ess_limit:
        out.append(f"min bulk ESS {_fmt(d.min_ess_bulk, '.0f')} < {d.ess_limit:g} needed")
    if d.divergences:
        out.append(f"{d.divergences} divergences")
    return out


# ---------------------------------------------------------------- compilation cache

@dataclass
class _Compiled:
    model: Any
    nutpie_model: Any  # nutpie CompiledModel or None


_CACHE: dict[tuple[str, int, str], _Compiled] = {}
# Per-model NUTS target acceptance (where a higher one pays); 0.95 for the rest.
_TARGET_ACCEPT = {"binomial_partial": 0.99}
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
            cfg: SamplingConfig, target_accept: float) -> Any:
    if sampler == "nutpie":
        import nutpie

        compiled = entry.nutpie_model.with_data(**data)
        return nutpie.sample(compiled, draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                             seed=cfg.seed, progress_bar=False,
                             target_accept=target_accept)
    pm = _import_pymc()
    with _LOCK:  # set_data mutates the shared model
        pm.set_data(dict(data), model=entry.model)
        with entry.model:
            return pm.sample(draws=cfg.draws, tune=cfg.tune, chains=cfg.chains,
                             random_seed=cfg.seed, progressbar=False, nuts_sampler="pymc",
                             target_accept=target_accept, compute_convergence_checks=False)


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
    return Diagnostics(max_rhat, min_ess, divergences, bool(passed), cfg.max_rhat,
                       cfg.min_ess_bulk)


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
    target = cfg.target_accept or _TARGET_ACCEPT.get(key, 0.95)
    idata = _sample(entry, data, sampler, cfg, target)
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
                # The prior is μ ~ N(0, 2.5), τ ~ HalfNormal(1) on the logit scale. The
                # sampler sees it centred on the pooled logit c and scaled by s, the
                # standard error of one group's logit (both data): μ = c + s·a,
                # τ = s·b, so a and b are O(1) a posteriori and every chain starts near
                # the data. From far away (logit μ ≈ +1 with data at −2.2, n = 2,000),
                # the likelihood drives τ to ~1e-21 along the ridge μ + τz and the
                # step size collapses. Group effects stay non-centred: variants differ
                # by about one standard error, between the funnel and the ridge.
                c = pm.Data("center", 0.0)
                sc = pm.Data("scale", 1.0)
                a = pm.Normal("mu_std", -c / sc, 2.5 / sc)
                b = pm.HalfNormal("tau_std", 1.0 / sc)
                z = pm.Normal("z", 0.0, 1.0, shape=g)
                p = pm.Deterministic("p", pm.math.invlogit(c + sc * (a + b * z)))
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
                # Group effects integrated out: ȳ_g | μ, τ ~ N(μ, √(τ² + se_g²)). Only μ
                # and τ are sampled; θ_g | μ, τ, ȳ is drawn exactly afterwards
                # (_theta_given_mu_tau), so there is no funnel to get stuck in.
                mu = pm.Normal("mu", 0.0, 1.0)
                tau = pm.HalfNormal("tau", 1.0)
                pm.Normal("obs", mu, pm.math.sqrt(tau**2 + se**2), observed=y)
            else:
                theta = pm.Normal("theta", 0.0, 10.0, shape=g)
                pm.Normal("obs", theta, se, observed=y)
        return model
    return build


def _theta_given_mu_tau(idata: Any, y: NDArray[Any], se: NDArray[Any],
                        seed: int) -> NDArray[Any]:
    """Exact draws of θ_g | μ, τ, ȳ ~ N(ȳ_g − B(ȳ_g − μ), √(se²(1 − B))), B = se²/(se² + τ²)."""
    mu, tau = _stack(idata, "mu"), _stack(idata, "tau")  # (samples, 1)
    se2 = se[None, :] ** 2
    b = se2 / (se2 + tau**2)
    mean = y[None, :] - b * (y[None, :] - mu)
    rng = np.random.default_rng(seed)
    out: NDArray[Any] = mean + np.sqrt(se2 * (1.0 - b)) * rng.standard_normal(mean.shape)
    return out


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


def _binomial_data(ns: list[int], ks: list[int]) -> dict[str, NDArray[Any]]:
    """Counts plus the centre (pooled logit) and scale (one group's logit SE) of the sampler."""
    n_all, k_all = sum(ns), sum(ks)
    p = (k_all + 0.5) / (n_all + 1.0)  # +0.5/+1 keeps the logit finite at 0 or n successes
    n_bar = n_all / len(ns)
    return {"n": np.array(ns, dtype="int64"), "k": np.array(ks, dtype="int64"),
            "center": np.asarray(math.log(p / (1.0 - p))),
            "scale": np.asarray(min(1.0, 1.0 / math.sqrt(n_bar * p * (1.0 - p))))}


def fit_hierarchical(
    groups: Mapping[str, MeanStats],
    *,
    control: str,
    kind: Literal["mean", "proportion"] = "proportion",
    pooling: Literal["partial", "none"] = "partial",
    sampling: SamplingConfig | None = None,
    engine: Engine | None = None,
) -> ModelResult:
    """Partially pool many variants (or segments) of one metric towards a common mean.

    ``proportion``: k_g ~ Binomial(n_g, p_g), logit p_g ~ N(μ, τ) (non-centred, sampled
    centred on the pooled logit), μ ~ N(0, 2.5), τ ~ HalfNormal(1); with
    ``pooling="none"`` p_g ~ Beta(1, 1) independently (the conjugate model, used as a
    reference). ``mean``: the group means are standardised by the pooled mean and SD,
    ȳ_g ~ N(θ_g, se_g) (CLT), θ_g ~ N(μ, τ), μ ~ N(0, 1), τ ~ HalfNormal(1); with
    ``pooling="none"`` θ_g ~ N(0, 10). Shrinkage pulls noisy groups towards the grand
    mean, taming the winner's curse when many variants or segments are compared.

    The ``mean`` model's posterior is exact by default (``engine="exact"``: quadrature
    over τ, then independent draws, ``cfg.draws × cfg.chains`` of them; sampler
    ``quadrature``, diagnostics trivially passed). ``engine="mcmc"`` samples it with
    PyMC instead. ``proportion`` always uses MCMC.

    Args:
        groups: ``{name: MeanStats}``; for ``proportion`` they must be 0/1 metrics.
        control: Name of the reference group for lifts and chance to beat control.
        kind: ``proportion`` or ``mean``.
        pooling: ``partial`` (hierarchical) or ``none`` (independent groups).
        sampling: MCMC settings and diagnostic thresholds (the seed and the number of
            draws also apply to the exact engine).
        engine: ``exact`` or ``mcmc``; ``None`` picks ``exact`` for ``mean`` and
            ``mcmc`` for ``proportion``.

    Returns:
        Per-group posteriors, diagnostics and timings; ``diagnostics_failed`` → NaN.

    Raises:
        InvalidInput: Fewer than 2 groups, unknown control, a group with n < 2,
            non-binary data for ``proportion``, bad ``kind``/``pooling``/``engine``,
            or ``engine="exact"`` with ``kind="proportion"``.
        ImportError: PyMC is not installed (install the ``bayes`` extra).

    References:
        Gelman et al. (2013), Bayesian Data Analysis, 3rd ed., ch. 5; Gelman, Hill &
        Yajima (2012), "Why we (usually) don't have to worry about multiple comparisons".
    """
    cfg = sampling or SamplingConfig()
    _check_groups(groups, control)
    if kind not in ("mean", "proportion") or pooling not in ("partial", "none"):
        raise InvalidInput(f"unknown kind/pooling {kind!r}/{pooling!r}", path="kind")
    engine = engine or ("exact" if kind == "mean" else "mcmc")
    if engine not in ("exact", "mcmc") or (engine == "exact" and kind == "proportion"):
        allowed = "'exact' or 'mcmc'" if kind == "mean" else "'mcmc'"
        raise InvalidInput(f"expected engine {allowed} for kind {kind!r}, got {engine!r}",
                           path="engine")
    names = list(groups)
    ns = [groups[k].n for k in names]
    if kind == "proportion":
        for name in names:
            require_binary(groups[name], f"groups[{name!r}]")
        data = _binomial_data(ns, [round(groups[k].total) for k in names])
        if pooling == "none":
            data = {"n": data["n"], "k": data["k"]}
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
    y = (np.array([groups[k].mean for k in names]) - center) / scale
    method = f"hierarchical_normal_{pooling}"
    if engine == "exact":
        return _exact_normal(method, pooling, y, se, names, ns, control, cfg,
                             lambda theta: center + scale * theta)
    if pooling == "partial":
        def theta(idata: Any) -> NDArray[Any]:
            return center + scale * _theta_given_mu_tau(idata, y, se, cfg.seed)
    else:
        def theta(idata: Any) -> NDArray[Any]:
            return center + scale * _stack(idata, "theta")
    return _run(method, f"normal_{pooling}", _build_normal(pooling),
                {"y_bar": y, "se": se}, names, ns, control, cfg, theta)


def _exact_normal(method: str, pooling: str, y: NDArray[Any], se: NDArray[Any],
                  names: list[str], ns: list[int], control: str, cfg: SamplingConfig,
                  unscale: Callable[[NDArray[Any]], NDArray[Any]]) -> ModelResult:
    """The normal model's exact posterior: summaries from independent draws, exact means."""
    t0 = time.perf_counter()
    size = cfg.draws * cfg.chains
    if pooling == "partial":
        post = normal_hierarchy_posterior(y, se, draws=size, seed=cfg.seed)
        theta_mean, theta_draws = post.theta_mean, post.theta_draws
    else:  # θ_g ~ N(0, 10) independently: conjugate normal posterior per group
        prec = 1.0 / 100.0 + 1.0 / se**2
        theta_mean = (y / se**2) / prec
        rng = np.random.default_rng(cfg.seed)
        theta_draws = theta_mean + rng.standard_normal((size, len(y))) / np.sqrt(prec)
    draws, means = unscale(theta_draws), unscale(theta_mean)
    diag = Diagnostics(1.0, float(size), 0, True, cfg.max_rhat, cfg.min_ess_bulk)
    summaries = _summarise(names, ns, names.index(control), draws, cfg, True)
    ctrl = float(means[names.index(control)])
    # Means and absolute effects are exact (no Monte Carlo error); intervals come from draws.
    exact = tuple(replace(g, mean=float(m), effect_abs=float(m) - ctrl)
                  for g, m in zip(summaries, means, strict=True))
    return ModelResult(method, "ok", control, exact, diag, "quadrature", 0.0,
                       time.perf_counter() - t0, None)


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
