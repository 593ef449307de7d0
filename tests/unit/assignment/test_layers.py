"""Layer allocation: first fit, free-space accounting, over-allocation refused."""

from __future__ import annotations

import pytest

from abwb.assignment.layers import allocate, check_placement, layer_usage
from abwb.config import ConfigBundle, Experiment, Layer, LayerPlacement, Variant
from abwb.errors import Conflict, InvalidInput, NotFound

VARIANTS = [Variant(key="c", weight=0.5, is_control=True), Variant(key="t", weight=0.5)]


def exp(key: str, ranges: list[tuple[int, int]], status: str = "running",
        layer: str = "checkout-layer") -> Experiment:
    return Experiment(key=key, variants=VARIANTS, status=status,  # type: ignore[arg-type]
                      layer=LayerPlacement(layer, ranges))


def bundle(*experiments: Experiment) -> ConfigBundle:
    return ConfigBundle(layers=[Layer(key="checkout-layer"), Layer(key="other")],
                        experiments=list(experiments))


def test_free_space_accounting() -> None:
    b = bundle(exp("a", [(0, 4000)]), exp("b", [(6000, 8500)]), exp("old", [(4000, 6000)], "stopped"),
               exp("elsewhere", [(0, 10000)], layer="other"), exp("p", [(9000, 9500)], "paused"))
    usage = layer_usage(b, "checkout-layer")
    assert usage.free == ((4000, 6000), (8500, 9000), (9500, 10000))
    assert usage.free_buckets == 3000
    assert str(usage) == "layer checkout-layer: 30.0 % free"
    assert [k for k, _ in usage.occupants] == ["a", "b", "p"]
    assert str(layer_usage(b, "checkout-layer", exclude="a")) == "layer checkout-layer: 70.0 % free"
    assert str(layer_usage(bundle(), "checkout-layer")) == "layer checkout-layer: 100.0 % free"


def test_first_fit_prefers_one_range_then_combines() -> None:
    b = bundle(exp("a", [(0, 4000)]), exp("b", [(6000, 8500)]))
    assert allocate(b, "checkout-layer", "new", 0.15) == LayerPlacement("checkout-layer", [(4000, 5500)])
    assert allocate(b, "checkout-layer", "new", 0.2) == LayerPlacement("checkout-layer", [(4000, 6000)])
    assert allocate(b, "checkout-layer", "new", 0.3) == LayerPlacement(
        "checkout-layer", [(4000, 6000), (8500, 9500)])
    placed = allocate(b, "checkout-layer", "new", 0.35)
    assert placed.size == 3500
    # the placement is valid on an experiment and leaves the layer full
    full = bundle(*b.experiments, exp("new", placed.ranges))
    assert layer_usage(full, "checkout-layer").free_buckets == 0
    check_placement(full.experiments[-1], full)


def test_reallocation_ignores_the_experiments_own_ranges() -> None:
    b = bundle(exp("a", [(0, 9000)]))
    assert allocate(b, "checkout-layer", "a", 1.0) == LayerPlacement("checkout-layer", [(0, 10000)])


def test_over_allocation_is_refused() -> None:
    b = bundle(exp("a", [(0, 6500)]))
    with pytest.raises(Conflict) as info:
        allocate(b, "checkout-layer", "new", 0.5)
    assert str(info.value) == "layer checkout-layer: 35.0 % free; experiment 'new' asks for 50.0 %"
    assert info.value.reasons == ["'a' holds [0, 6500)"]
    clash = exp("new", [(6000, 7000), (9000, 9100)], status="draft")
    with pytest.raises(Conflict) as info:
        check_placement(clash, bundle(*b.experiments, clash))
    assert info.value.reasons == ["[6000, 6500) is held by 'a'"]
    assert "over-allocates layer 'checkout-layer'" in str(info.value)


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, float("nan"), 0.00001])
def test_bad_fractions(fraction: float) -> None:
    with pytest.raises(InvalidInput, match="traffic_fraction"):
        allocate(bundle(), "checkout-layer", "x", fraction)


def test_unknown_layer() -> None:
    with pytest.raises(NotFound, match="unknown layer 'nope'"):
        allocate(bundle(), "nope", "x", 0.1)
