"""The vectorised bulk path gives the scalar engine's answer for every row, bit for bit."""

from __future__ import annotations

import math
import sys
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abwb.assignment import Assigner, Reason, bucket, reweight
from abwb.bulk import assign_frame, bucket_frame, condition_mask
from abwb.config import (
    ConfigBundle,
    Experiment,
    Holdout,
    Layer,
    LayerPlacement,
    Schedule,
    Segment,
    Variant,
)
from abwb.errors import InvalidInput
from abwb.targeting import compile_condition

NOW = datetime(2026, 3, 1, tzinfo=UTC)

COUNTRIES = ["US", "CA", "DE", "us", "FR", None]
VERSIONS = ["4.2.0", "4.10.1", "3.9.9", "5.0.0-beta.1", "not-a-version", None]
CONDITIONS: list[Any] = [
    {"attr": "country", "op": "in", "value": ["US", "CA"]},
    {"attr": "country", "op": "eq", "value": "us", "ignore_case": True},
    {"attr": "country", "op": "not_in", "value": ["DE"]},
    {"attr": "app.version", "op": "semver_gte", "value": "4.2.0"},
    {"attr": "age", "op": "gte", "value": 30},
    {"attr": "score", "op": "lt", "value": 0.5},
    {"attr": "score", "op": "exists"},
    {"attr": "plan", "op": "ne", "value": "enterprise"},
    {"attr": "plan", "op": "not_exists"},
    {"attr": "email", "op": "ends_with", "value": "@example.com"},
    {"attr": "email", "op": "regex", "value": "^a.*@"},
    {"attr": "staff", "op": "eq", "value": True},
    {"attr": "signup", "op": "before", "value": "2025-06-01"},
    {"attr": "missing.path", "op": "not_exists"},
    {"segment": "north-america"},
    {"not": {"segment": "north-america"}},
]
SEGMENTS = [Segment(key="north-america", condition={"any": [
    {"attr": "country", "op": "in", "value": ["US", "CA"]},
    {"attr": "app.version", "op": "semver_lt", "value": "4.0.0"}]})]

conditions = st.recursive(
    st.sampled_from(CONDITIONS),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda cs: {"all": cs}),
        st.lists(inner, min_size=1, max_size=3).map(lambda cs: {"any": cs}),
        inner.map(lambda c: {"not": c}),
    ),
    max_leaves=5,
)


@st.composite
def frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 60))
    # Repeated ids too: a frame of events has one row per event, not per unit.
    ids = draw(st.lists(st.text(min_size=1, max_size=12).filter(lambda s: s.strip()),
                        min_size=n, max_size=n, unique=draw(st.booleans())))
    ids = [i for i in ids if len(i.encode("utf-8", "surrogatepass")) == len(i.encode(
        "utf-8", "ignore"))]
    n = len(ids)
    pick = lambda values: draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))  # noqa: E731
    columns: dict[str, Any] = {
        "unit_id": pl.Series(ids, dtype=pl.String),
        "country": pl.Series(pick(COUNTRIES), dtype=pl.String),
        "age": pl.Series(pick([18, 30, 45, None]), dtype=pl.Int64),
        "score": pl.Series(pick([0.1, 0.9, math.nan, None]), dtype=pl.Float64),
        "staff": pl.Series(pick([True, False, None]), dtype=pl.Boolean),
        "email": pl.Series(pick(["a@example.com", "b@corp.io", None]), dtype=pl.String),
        "signup": pl.Series(pick([date(2025, 1, 1), date(2026, 1, 1), None]), dtype=pl.Date),
    }
    if draw(st.booleans()):  # nested attributes as a struct column, or flat dotted names
        columns["app"] = pl.Series([None if v is None else {"version": v}
                                    for v in pick(VERSIONS)])
    else:
        columns["app.version"] = pl.Series(pick(VERSIONS), dtype=pl.String)
    if draw(st.booleans()):
        columns["plan"] = pl.Series(pick(["pro", "enterprise", None]), dtype=pl.String)
    return pl.DataFrame(columns)


@st.composite
def bundles(draw: st.DrawFn, ids: list[str]) -> ConfigBundle:
    count = draw(st.integers(1, 3))
    experiments = []
    shared_surface = draw(st.booleans())
    layer_cut = sorted(draw(st.lists(st.integers(1, 9999), min_size=2, max_size=2, unique=True)))
    for i in range(count):
        weights = draw(st.lists(st.integers(1, 10), min_size=2, max_size=4))
        total = sum(weights)
        shares = [w / total for w in weights]
        shares[-1] = 1.0 - sum(shares[:-1])
        variants = [Variant(key=f"v{j}", weight=w, is_control=j == 0, payload={"j": j})
                    for j, w in enumerate(shares)]
        kw: dict[str, Any] = {
            "key": f"e{i}", "variants": variants,
            "status": draw(st.sampled_from(["running", "running", "running", "paused"])),
            # 0.33333 and 0.99995: limits between two buckets (3333.3, 9999.5).
            "traffic_fraction": draw(st.sampled_from([1.0, 0.5, 0.8, 0.0001, 0.0, 0.33333,
                                                      0.99995])),
            "targeting": draw(st.none() | conditions),
        }
        if shared_surface:
            kw["surfaces"] = ["checkout"]
        if draw(st.booleans()):
            kw["layer"] = LayerPlacement("main", [[(0, layer_cut[0])], [(layer_cut[0], layer_cut[1])],
                                                  [(layer_cut[1], 10000)]][i])
        if draw(st.booleans()):
            kw["holdout"] = "global"
        if ids and draw(st.booleans()):
            kw["overrides"] = {draw(st.sampled_from(ids)): variants[-1].key}
        if draw(st.integers(0, 5)) == 0:
            kw["schedule"] = Schedule(start_at=datetime(2026, 4, 1, tzinfo=UTC))
        if draw(st.integers(0, 5)) == 0:
            kw["unit_type"] = "device"
        experiment = Experiment(**kw)
        if draw(st.booleans()):  # an explicit, non-contiguous allocation after re-weighting
            new = draw(st.permutations([v.weight for v in variants]))
            experiment = reweight(experiment, {v.key: w for v, w in zip(variants, new,
                                                                        strict=True)}).experiment
        experiments.append(experiment)
    return ConfigBundle(
        experiments=experiments, segments=SEGMENTS, layers=[Layer(key="main")],
        holdouts=[Holdout(key="global",
                          traffic_fraction=draw(st.sampled_from([0.05, 0.5, 0.12345])))],
    )


def scalar(assigner: Assigner, frame: pl.DataFrame, key: str) -> tuple[list[Any], list[str]]:
    rows = frame.drop("unit_id").to_dicts()
    decisions = [assigner.decide(key, u, now=NOW, attributes=a)
                 for u, a in zip(frame["unit_id"].to_list(), rows, strict=True)]
    return [d.variant for d in decisions], [d.reason.value for d in decisions]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_bulk_equals_scalar_for_every_row(data: st.DataObject) -> None:
    import abwb.bulk.hashing as bulk_hashing

    frame = data.draw(frames())
    bundle = data.draw(bundles(frame["unit_id"].to_list()))
    assigner = Assigner(bundle)
    # The fallback hashes (hashlib, polars-hash) answer too, frame for frame.
    fallback = Assigner(bundle, native=False)
    # Hashes run in parallel pieces; small pieces put several in every frame.
    piece_rows = data.draw(st.sampled_from([1, 7, 250_000]))
    for exp in bundle.experiments:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bulk_hashing, "_PIECE_ROWS", piece_rows)
            out = assign_frame(assigner, frame, exp.key, now=NOW)
            assert assign_frame(fallback, frame, exp.key, now=NOW).equals(out), exp.key
        variants, reasons = scalar(assigner, frame, exp.key)
        assert out["reason"].to_list() == reasons, exp.key
        assert out["variant"].to_list() == variants, exp.key
        assert out.columns == [*frame.columns, "variant", "reason"]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), condition=conditions)
def test_condition_mask_equals_the_compiled_predicate(data: st.DataObject, condition: Any) -> None:
    frame = data.draw(frames()).drop("unit_id")
    predicate = compile_condition(condition, segments=SEGMENTS)
    expected = [predicate(row)[0] for row in frame.to_dicts()]
    got = condition_mask(condition, frame, segments={s.key: s for s in SEGMENTS})
    assert got.to_list() == expected


@given(ids=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=50),
       salt=st.text(max_size=20), piece_rows=st.sampled_from([1, 3, 250_000]))
@settings(max_examples=100, deadline=None)
def test_column_hash_is_the_scalar_hash(ids: list[str], salt: str, piece_rows: int) -> None:
    import abwb.bulk.hashing as bulk_hashing

    ids = [i for i in ids if not any(0xD800 <= ord(c) <= 0xDFFF for c in i)]
    salt = "".join(c for c in salt if not 0xD800 <= ord(c) <= 0xDFFF)
    with pytest.MonkeyPatch.context() as patch:  # several pieces hashed in parallel, or one
        patch.setattr(bulk_hashing, "_PIECE_ROWS", piece_rows)
        out = bucket_frame(pl.Series(ids, dtype=pl.String), [salt, "x"])
        assert bucket_frame(pl.Series(ids, dtype=pl.String), [salt, "x"],
                            native=False).equals(out)
    assert out["b0"].to_list() == [bucket(salt, i) for i in ids]
    assert out["b1"].to_list() == [bucket("x", i) for i in ids]


def test_custom_condition_compiler_is_used_row_by_row() -> None:
    seen: list[dict[str, Any]] = []

    def compile_odd(condition: Any) -> Any:
        def predicate(attrs: Any) -> tuple[bool, str]:
            seen.append(dict(attrs))
            return attrs["n"] % 2 == 1, "even"
        return predicate

    exp = Experiment(key="e", status="running", targeting={"attr": "n", "op": "exists"},
                     variants=[Variant(key="c", weight=0.5, is_control=True),
                               Variant(key="t", weight=0.5)])
    assigner = Assigner(ConfigBundle(experiments=[exp]), compile_condition=compile_odd)
    frame = pl.DataFrame({"unit_id": ["a", "b", "c"], "n": [1, 2, 3]})
    out = assign_frame(assigner, frame, "e", now=NOW)
    assert out["reason"].to_list()[1] == Reason.TARGETING_MISS.value
    assert out["reason"].to_list() == scalar(assigner, frame, "e")[1]
    assert {"n": 2} in seen


@pytest.mark.parametrize(("frame", "message"), [
    (pl.DataFrame({"id": ["a"]}), "unit_id: missing unit id column 'unit_id'"),
    (pl.DataFrame({"unit_id": [1]}), "unit_id: must be a String column, got Int64"),
    (pl.DataFrame({"unit_id": ["a", " ", None]}), "unit_id: 2 unit ids are null, empty"),
    # U+001C..U+001F are whitespace to Python's str.strip(), as in the scalar check.
    (pl.DataFrame({"unit_id": ["a", "\x1c\x1f", "\u3000"]}),
     "unit_id: 2 unit ids are null, empty"),
])
def test_bad_frames_name_the_column(frame: pl.DataFrame, message: str) -> None:
    assigner = Assigner(ConfigBundle(experiments=[Experiment(key="e", status="running", variants=[
        Variant(key="c", weight=0.5, is_control=True), Variant(key="t", weight=0.5)])]))
    with pytest.raises(InvalidInput) as info:
        assign_frame(assigner, frame, "e", now=NOW)
    assert str(info.value).startswith(message)
    with pytest.raises(InvalidInput, match="unknown experiment 'nope'"):
        assign_frame(assigner, pl.DataFrame({"unit_id": ["a"]}), "nope", now=NOW)


def test_an_empty_frame_gets_empty_answer_columns() -> None:
    exp = Experiment(key="e", status="running", traffic_fraction=0.5, targeting=CONDITIONS[0],
                     variants=[Variant(key="c", weight=0.5, is_control=True),
                               Variant(key="t", weight=0.5)])
    frame = pl.DataFrame(schema={"unit_id": pl.String, "country": pl.String})
    out = assign_frame(Assigner(ConfigBundle(experiments=[exp])), frame, "e", now=NOW)
    assert out.schema == {"unit_id": pl.String, "country": pl.String, "variant": pl.String,
                          "reason": pl.String}
    assert out.height == 0


def test_frame_check_strips_what_python_strips() -> None:
    from abwb.bulk.assignment import _PYTHON_WHITESPACE

    python = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert python == _PYTHON_WHITESPACE
    with pytest.raises(InvalidInput, match="unit_id"):
        Assigner(ConfigBundle()).assign("\x1c", now=NOW)


def test_bulk_module_stays_out_of_the_light_core() -> None:
    assert "abwb.bulk" in sys.modules  # imported by this test module
    import abwb.assignment

    assert not hasattr(abwb.assignment, "assign_frame")


def test_hashing_in_pieces_gives_the_same_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    import abwb.bulk.hashing as bulk_hashing

    exp = Experiment(key="e", status="running", traffic_fraction=0.6, targeting=CONDITIONS[0],
                     overrides={"u3": "t"}, variants=[Variant(key="c", weight=0.5, is_control=True),
                                                      Variant(key="t", weight=0.5)])
    assigner = Assigner(ConfigBundle(experiments=[exp]))
    frame = pl.DataFrame({"unit_id": [f"u{i}" for i in range(103)],
                          "country": [["US", "DE", None][i % 3] for i in range(103)]})
    whole = assign_frame(assigner, frame, "e", now=NOW)
    monkeypatch.setattr(bulk_hashing, "_PIECE_ROWS", 10)
    sliced = assign_frame(assigner, frame, "e", now=NOW)
    assert sliced.equals(whole)
    assert whole["reason"].to_list() == scalar(assigner, frame, "e")[1]
    assert whole.filter(pl.col("unit_id") == "u3")["variant"].item() == "t"
