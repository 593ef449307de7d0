"""Exact posterior of the normal hierarchical model, by one-dimensional quadrature over τ.

What belongs here: the closed-form / quadrature maths of the model
ȳ_g ~ N(θ_g, se_g), θ_g ~ N(μ, τ), μ ~ N(m0, s0), τ ~ HalfNormal(t0) — no PyMC,
no sampler, nothing to converge. ``abwb.stats.models`` uses it for
``fit_hierarchical(kind="mean")`` and as the reference its MCMC path is tested against.

How (Gelman et al., BDA3 §5.4): integrating the group effects out gives
ȳ_g | μ, τ ~ N(μ, √(τ² + se_g²)); μ | τ, ȳ is normal (conjugate, the prior acts as one
more observation m0 with variance s0²); so p(τ | ȳ) is known up to a constant in closed
form and is integrated on a fine grid over τ (dense near 0, where the mass of a
half-normal posterior usually sits). Posterior means of θ_g are sums over that grid;
independent draws come from τ (inverse CDF on the grid), then μ | τ, then θ_g | μ, τ
exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["NormalHierarchyPosterior", "normal_hierarchy_posterior"]

# τ grid: τ = t_max · u² on a uniform u grid, so spacing shrinks towards 0, where the
# posterior of τ piles up when groups barely differ (spacing there ≈ 1e-7 · t_max).
_GRID_POINTS = 4001


@dataclass(frozen=True, slots=True)
class NormalHierarchyPosterior:
    """Exact posterior summaries and independent draws of the normal hierarchical model.

    Attributes:
        theta_mean: Exact posterior mean of each θ_g, shape (groups,).
        mu_mean: Exact posterior mean of μ.
        tau_mean: Exact posterior mean of τ.
        theta_draws: Independent posterior draws of θ, shape (draws, groups).
    """

    theta_mean: NDArray[np.float64]
    mu_mean: float
    tau_mean: float
    theta_draws: NDArray[np.float64]


def normal_hierarchy_posterior(
    y: NDArray[np.float64],
    se: NDArray[np.float64],
    *,
    mu_prior_sd: float = 1.0,
    mu_prior_mean: float = 0.0,
    tau_prior_sd: float = 1.0,
    draws: int = 8000,
    seed: int = 0,
) -> NormalHierarchyPosterior:
    """Posterior of ȳ_g ~ N(θ_g, se_g), θ_g ~ N(μ, τ), μ ~ N(m0, s0), τ ~ HalfNormal(t0).

    Args:
        y: Observed group means, shape (groups,).
        se: Their standard errors (> 0), shape (groups,).
        mu_prior_sd: s0, the prior SD of μ.
        mu_prior_mean: m0, the prior mean of μ.
        tau_prior_sd: t0, the scale of the half-normal prior of τ.
        draws: Number of independent posterior draws to return.
        seed: Seed of the draws (the means are exact and do not depend on it).

    Returns:
        Exact posterior means and independent draws.

    References:
        Gelman et al. (2013), Bayesian Data Analysis, 3rd ed., §5.4 (eqs. 5.17-5.21).

    Examples:
        >>> post = normal_hierarchy_posterior(np.array([0.1, -0.1]), np.array([0.05, 0.05]))
        >>> bool(abs(post.theta_mean[0]) < 0.1), post.theta_draws.shape
        (True, (8000, 2))
    """
    y = np.asarray(y, dtype=float)
    se2 = np.asarray(se, dtype=float) ** 2
    # τ beyond 6 prior SDs or 10x the spread of the data carries no posterior mass.
    t_max = min(6.0 * tau_prior_sd, 10.0 * float(np.ptp(y) + np.sqrt(se2.max())) + 1e-12)
    tau = t_max * np.linspace(0.0, 1.0, _GRID_POINTS) ** 2
    v = tau[:, None] ** 2 + se2[None, :]  # Var(ȳ_g | μ, τ), shape (grid, groups)
    prec_mu = 1.0 / mu_prior_sd**2 + (1.0 / v).sum(axis=1)
    mu_hat = (mu_prior_mean / mu_prior_sd**2 + (y / v).sum(axis=1)) / prec_mu
    log_post = (
        -0.5 * tau**2 / tau_prior_sd**2  # half-normal prior
        - 0.5 * np.log(prec_mu)
        - 0.5 * np.log(v).sum(axis=1)
        - 0.5 * ((y - mu_hat[:, None]) ** 2 / v).sum(axis=1)
        - 0.5 * (mu_hat - mu_prior_mean) ** 2 / mu_prior_sd**2
    )
    dens = np.exp(log_post - log_post.max())
    # trapezoid weights on the non-uniform τ grid
    widths = np.diff(tau)
    weights = np.zeros_like(tau)
    weights[:-1] += 0.5 * widths
    weights[1:] += 0.5 * widths
    w = dens * weights
    w /= w.sum()
    # E[θ_g | τ, ȳ] = (ȳ_g/se² + μ̂/τ²)/(1/se² + 1/τ²) = ȳ_g − B (ȳ_g − μ̂), B = se²/(se² + τ²)
    shrink = se2[None, :] / v
    theta_given_tau = y[None, :] - shrink * (y[None, :] - mu_hat[:, None])
    theta_mean = w @ theta_given_tau

    rng = np.random.default_rng(seed)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[:-1] + dens[1:]) * widths)])
    cdf /= cdf[-1]
    tau_draw = np.interp(rng.random(draws), cdf, tau)
    v_d = tau_draw[:, None] ** 2 + se2[None, :]
    prec_d = 1.0 / mu_prior_sd**2 + (1.0 / v_d).sum(axis=1)
    mu_hat_d = (mu_prior_mean / mu_prior_sd**2 + (y / v_d).sum(axis=1)) / prec_d
    mu_draw = mu_hat_d + rng.standard_normal(draws) / np.sqrt(prec_d)
    # θ_g | μ, τ, ȳ ~ N(ȳ_g − B (ȳ_g − μ), √(se² (1 − B))); τ = 0 gives θ_g = μ exactly.
    b = se2[None, :] / v_d
    cond_mean = y[None, :] - b * (y[None, :] - mu_draw[:, None])
    cond_sd = np.sqrt(se2[None, :] * (1.0 - b))
    theta_draws = cond_mean + cond_sd * rng.standard_normal(cond_mean.shape)
    return NormalHierarchyPosterior(
        theta_mean=np.asarray(theta_mean, dtype=float),
        mu_mean=float(w @ mu_hat),
        tau_mean=float(w @ tau),
        theta_draws=np.asarray(theta_draws, dtype=float),
    )
