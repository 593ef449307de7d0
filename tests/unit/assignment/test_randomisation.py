"""Randomisation properties: uniform buckets, uniform variant shares, independent salts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
from scipy import stats

from abwb.assignment import Assigner
from abwb.bulk import assign_frame, bucket_frame
from abwb.config import ConfigBundle, Experiment, Variant

N = 1_000_000
IDS = pl.Series([f"unit-{i}" for i in range(N)])
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_buckets_are_uniform_over_deciles() -> None:
    buckets = bucket_frame(IDS, ["uniformity"])["b0"].to_numpy()
    observed = np.bincount(buckets // 1000, minlength=10)
    assert stats.chisquare(observed).pvalue > 0.001
    # And over the full bucket line (10,000 cells, ~100 units each).
    assert stats.chisquare(np.bincount(buckets, minlength=10_000)).pvalue > 0.001


def test_variant_shares_match_weights() -> None:
    exp = Experiment(
        key="shares",
        status="running",
        variants=[
            Variant(key="control", weight=0.2, is_control=True),
            Variant(key="b", weight=0.3),
            Variant(key="c", weight=0.5),
        ],
    )
    out = assign_frame(
        Assigner(ConfigBundle(experiments=[exp])), pl.DataFrame({"unit_id": IDS}), "shares", now=NOW
    )
    counts = out["variant"].value_counts().sort("variant")
    observed = counts["count"].to_numpy()
    assert counts["variant"].to_list() == ["b", "c", "control"]
    assert stats.chisquare(observed, np.array([0.3, 0.5, 0.2]) * N).pvalue > 0.001


def test_two_salts_are_independent() -> None:
    b = bucket_frame(IDS, ["exp-one/p1/variant", "exp-two/p1/variant"])
    table = np.histogram2d(b["b0"].to_numpy() // 1000, b["b1"].to_numpy() // 1000, bins=10)[0]
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_traffic_and_variant_hashes_are_independent() -> None:
    b = bucket_frame(IDS, ["exp/p1/traffic", "exp/p1/variant"])
    table = np.histogram2d(b["b0"].to_numpy() < 3000, b["b1"].to_numpy() < 5000, bins=2)[0]
    assert stats.chi2_contingency(table).pvalue > 0.001
