"""Runtime guard: a unit never gets two experiments on one flag/surface; losers are counted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from abwb.assignment import Assigner, Reason
from abwb.config import ConfigBundle, Experiment, Schedule, Variant

NOW = datetime(2026, 3, 1, tzinfo=UTC)
VARIANTS = [Variant(key="c", weight=0.5, is_control=True), Variant(key="t", weight=0.5)]


def exp(key: str, **kw: Any) -> Experiment:
    base: dict[str, Any] = {"key": key, "variants": VARIANTS, "status": "running"}
    base.update(kw)
    return Experiment(**base)


def test_no_unit_gets_two_experiments_on_one_surface() -> None:
    a = exp("a", surfaces=["checkout"], traffic_fraction=0.5)
    b = exp("b", surfaces=["checkout"])
    assigner = Assigner(ConfigBundle(experiments=[a, b]))
    taken = 0
    for i in range(2000):
        result = assigner.assign(f"u{i}", now=NOW)
        da, db = result.decision("a"), result.decision("b")
        assert da is not None and db is not None
        assert not (da.in_experiment and db.in_experiment)
        if da.in_experiment:
            assert db.reason is Reason.SURFACE_TAKEN and db.variant is None
            assert db.detail == (f"surface 'checkout' is taken by experiment 'a' "
                                 f"(variant {da.variant!r}) for this unit")
            taken += 1
        else:
            assert db.in_experiment  # b gets every unit a leaves
    assert 900 < taken < 1100
    assert assigner.surface_taken_counts == {"b": taken}


def test_single_decision_agrees_with_full_assignment() -> None:
    a = exp("a", flag_key=None, surfaces=["s"], traffic_fraction=0.5)
    b = exp("b", surfaces=["s"])
    assigner = Assigner(ConfigBundle(experiments=[a, b]))
    for i in range(300):
        full = assigner.assign(f"u{i}", now=NOW).decision("b")
        assert assigner.decide("b", f"u{i}", now=NOW) == full


def test_precedence_earlier_start_wins_regardless_of_config_order() -> None:
    late = exp("late", surfaces=["s"], schedule=Schedule(start_at=datetime(2026, 2, 1, tzinfo=UTC)))
    early = exp("early", surfaces=["s"], schedule=Schedule(start_at=datetime(2026, 1, 1, tzinfo=UTC)))
    result = Assigner(ConfigBundle(experiments=[late, early])).assign("u1", now=NOW)
    assert result.decision("early").reason is Reason.ASSIGNED  # type: ignore[union-attr]
    assert result.decision("late").reason is Reason.SURFACE_TAKEN  # type: ignore[union-attr]


def test_chain_of_rivals_resolves_transitively() -> None:
    # a > b share s1, b > c share s2: when a holds the unit, b yields, so c is free.
    a = exp("a", surfaces=["s1"])
    b = exp("b", surfaces=["s1", "s2"])
    c = exp("c", surfaces=["s2"])
    result = Assigner(ConfigBundle(experiments=[a, b, c])).assign("u1", now=NOW)
    assert [d.reason for d in result.decisions] == [
        Reason.ASSIGNED, Reason.SURFACE_TAKEN, Reason.ASSIGNED]


def test_targeting_miss_frees_the_surface_and_sticky_writes_follow_the_guard() -> None:
    a = exp("a", surfaces=["s"], targeting={"attr": "country", "op": "eq", "value": "US"})
    b = exp("b", surfaces=["s"], sticky=True)
    assigner = Assigner(ConfigBundle(experiments=[a, b]))
    us = assigner.assign("u1", now=NOW, attributes={"country": "US"})
    assert us.decision("b").reason is Reason.SURFACE_TAKEN  # type: ignore[union-attr]
    assert us.sticky_writes == {}
    de = assigner.assign("u1", now=NOW, attributes={"country": "DE"})
    assert de.decision("b").reason is Reason.ASSIGNED  # type: ignore[union-attr]
    assert de.sticky_writes == {"b/p1": de.variant("b")}


def test_unrelated_and_non_running_experiments_are_untouched() -> None:
    a = exp("a", surfaces=["s"], status="paused")
    b = exp("b", surfaces=["s"])
    c = exp("c", surfaces=["other"])
    result = Assigner(ConfigBundle(experiments=[a, b, c])).assign("u1", now=NOW)
    assert [d.reason for d in result.decisions] == [Reason.PAUSED, Reason.ASSIGNED, Reason.ASSIGNED]


def test_bulk_path_applies_the_guard_like_the_scalar_path() -> None:
    import polars as pl

    from abwb.bulk import assign_frame

    a, b = exp("a", surfaces=["checkout"]), exp("b", surfaces=["checkout"])
    assigner = Assigner(ConfigBundle(experiments=[a, b]))
    units = pl.DataFrame({"unit_id": [f"u{i}" for i in range(400)]})
    assert assigner.contested("b") and not assigner.contested("a")  # a has precedence
    for key in ("a", "b"):
        out = assign_frame(assigner, units, key, now=NOW)
        scalar = [assigner.decide(key, u, now=NOW) for u in units["unit_id"]]
        assert out["variant"].to_list() == [d.variant for d in scalar]
        assert out["reason"].to_list() == [d.reason.value for d in scalar]
    assert "surface_taken" in assign_frame(assigner, units, "b", now=NOW)["reason"].to_list()
