"""Sufficient statistics: pooling, validation, public surface."""

from __future__ import annotations

import math
import pkgutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import abwb.stats
from abwb.errors import InvalidInput
from abwb.stats import MeanStats, RatioStats

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
arrays = st.lists(st.tuples(finite, finite), min_size=0, max_size=30)


@given(arrays, arrays)
@settings(max_examples=200, deadline=None)
def test_mean_stats_pool_equals_union(a: list[tuple[float, float]],
                                      b: list[tuple[float, float]]) -> None:
    def stats(rows: list[tuple[float, float]]) -> MeanStats:
        arr = np.array(rows, dtype=float).reshape(-1, 2)
        return MeanStats.from_values(arr[:, 0], x=arr[:, 1])

    pooled, union = stats(a) + stats(b), stats(a + b)
    assert pooled.n == union.n
    for name in ("total", "total_sq", "covariate_total", "covariate_total_sq", "cross_total"):
        assert math.isclose(getattr(pooled, name), getattr(union, name),
                            rel_tol=1e-9, abs_tol=1e-6), name
    if union.n > 1:
        assert math.isclose(pooled.var, union.var, rel_tol=1e-6, abs_tol=1e-6)


@given(arrays, arrays)
@settings(max_examples=200, deadline=None)
def test_ratio_stats_pool_equals_union(a: list[tuple[float, float]],
                                       b: list[tuple[float, float]]) -> None:
    def stats(rows: list[tuple[float, float]]) -> RatioStats:
        arr = np.array(rows, dtype=float).reshape(-1, 2)
        return RatioStats.from_values(arr[:, 0], arr[:, 1])

    pooled, union = stats(a) + stats(b), stats(a + b)
    assert pooled.n == union.n
    for name in ("num_total", "num_total_sq", "den_total", "den_total_sq", "num_den_total"):
        assert math.isclose(getattr(pooled, name), getattr(union, name),
                            rel_tol=1e-9, abs_tol=1e-6), name


def test_mean_and_var_match_numpy(rng: np.random.Generator) -> None:
    y = rng.normal(3.0, 2.0, 500)
    s = MeanStats.from_values(y)
    assert s.mean == pytest.approx(y.mean(), rel=1e-12)
    assert s.var == pytest.approx(y.var(ddof=1), rel=1e-10)


@pytest.mark.parametrize("n", [0, 1])
def test_var_is_nan_below_two_units(n: int) -> None:
    assert math.isnan(MeanStats.from_values(np.ones(n)).var)


def test_pooling_with_and_without_covariate_raises() -> None:
    with pytest.raises(InvalidInput, match="has_covariate"):
        _ = MeanStats.from_values([1.0], x=[2.0]) + MeanStats.from_values([1.0])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n": -1, "total": 0.0, "total_sq": 0.0}, "MeanStats.n"),
        ({"n": 3, "total": math.nan, "total_sq": 0.0}, "MeanStats.total"),
        ({"n": 3, "total": 1.0, "total_sq": math.inf}, "MeanStats.total_sq"),
        ({"n": 2.5, "total": 1.0, "total_sq": 1.0}, "MeanStats.n"),
    ],
)
def test_mean_stats_validation_names_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        MeanStats(**kwargs)  # type: ignore[arg-type]
    assert any(p.path == field for p in info.value.problems)


def test_ratio_stats_validation_names_field() -> None:
    with pytest.raises(InvalidInput, match=r"RatioStats\.den_total"):
        RatioStats(n=2, num_total=1.0, num_total_sq=1.0, den_total=math.nan,
                   den_total_sq=1.0, num_den_total=1.0)


def test_frozen() -> None:
    s = MeanStats.from_values([1.0])
    with pytest.raises(AttributeError):
        s.n = 3  # type: ignore[misc]


def test_root_all_sorted_and_complete() -> None:
    names = abwb.stats.__all__
    assert names == sorted(names)
    public = {n for n in dir(abwb.stats) if not n.startswith("_")}
    # submodules show up in dir() once anything imported them (order-dependent): skip them all
    modules = {m.name for m in pkgutil.iter_modules(abwb.stats.__path__)}
    assert public - modules - {"annotations"} == set(names)


@pytest.mark.slow  # starts a Python process
def test_import_does_not_import_pymc() -> None:
    code = ("import sys, abwb.stats, abwb.stats.models; "
            "assert 'pymc' not in sys.modules and 'pytensor' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=".")
