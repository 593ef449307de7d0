"""The compiled bucket kernel gives hashlib's buckets, and the engine the same decisions.

Both compressions run here (portable C and, on CPUs with the SHA extensions, SHA-NI), and
the engine runs with and without the kernel, so the fallback stays covered too.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from abwb.assignment import Assigner, bucket
from abwb.assignment.hashing import BACKEND, BucketKernel, SaltTable, native_kernel
from abwb.bulk import bucket_series
from abwb.config import ConfigBundle, Experiment, Holdout, Layer, LayerPlacement, Variant

NOW = datetime(2026, 3, 1, tzinfo=UTC)
#: Any text but lone surrogates (not UTF-8 encodable), up to 256 characters: ids past
#: 55 bytes need a second SHA-256 block, past 119 bytes a third.
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=256)


def kernels() -> list[BucketKernel]:
    kernel = native_kernel(sha_ni=False)
    assert kernel is not None, "the install did not build abwb/assignment/_sha256.c"
    fast = native_kernel()
    return [kernel] if fast == kernel else [kernel, fast]  # type: ignore[list-item]


KERNELS = kernels()


def test_backend_names_the_kernel_in_use() -> None:
    assert KERNELS[-1].name == BACKEND
    assert BACKEND.startswith("native")


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
@settings(max_examples=300, deadline=None)
@given(salts=st.lists(texts, min_size=1, max_size=5), unit_id=texts)
@example(salts=[""], unit_id="")
@example(salts=["a"], unit_id="b")
@example(salts=["s\x00alt", "x" * 60], unit_id="\x00" * 3)
@example(salts=["é" * 30], unit_id="日本語" * 40)
@example(salts=["x" * 54, "x" * 55, "x" * 63, "x" * 64, "x" * 200], unit_id="u" * 256)
def test_buckets_of_one_unit_are_hashlib_buckets(
    kernel: BucketKernel, salts: list[str], unit_id: str
) -> None:
    got = kernel.buckets_of_unit(SaltTable.of(salts), unit_id.encode())
    assert got == [bucket(salt, unit_id) for salt in salts]


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: k.name)
@settings(max_examples=150, deadline=None)
@given(ids=st.lists(texts, max_size=40), salt=texts, skip=st.integers(0, 3))
@example(ids=["", "a" * 12, "b" * 13, "\x00", "ü" * 128], salt="", skip=0)
def test_buckets_of_a_column_are_hashlib_buckets(
    kernel: BucketKernel, ids: list[str], salt: str, skip: int
) -> None:
    import numpy as np

    expected = [bucket(salt, i) for i in ids[skip:]]
    column = pl.Series(ids, dtype=pl.String).slice(skip)  # a slice: an Arrow offset
    views = column.to_arrow(compat_level=pl.CompatLevel.newest())
    offsets = column.to_arrow().cast("large_string")
    n = len(views)
    out = np.full(n, -1, dtype=np.int32)
    _, view_buffer, *data = views.buffers()
    kernel.buckets_of_views(salt, view_buffer.slice(16 * views.offset), tuple(data), out, 0, n)
    assert out.tolist() == expected
    out[:] = -1
    _, offset_buffer, bytes_buffer = offsets.buffers()
    kernel.buckets_of_offsets(salt, offset_buffer.slice(8 * offsets.offset), bytes_buffer, out,
                              0, n)
    assert out.tolist() == expected


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.none() | texts, max_size=60), salt=texts)
def test_bucket_series_with_and_without_the_kernel(ids: list[str | None], salt: str) -> None:
    column = pl.Series(ids, dtype=pl.String)
    native, fallback = bucket_series(column, salt), bucket_series(column, salt, native=False)
    assert native.dtype == fallback.dtype == pl.Int32
    assert native.to_list() == fallback.to_list() == [
        None if i is None else bucket(salt, i) for i in ids]


def test_kernel_refuses_buffers_that_do_not_fit() -> None:
    import numpy as np

    kernel = KERNELS[0]
    out = np.zeros(2, dtype=np.int32)
    offsets = np.array([0, 1, 99], dtype=np.int64)  # the second id ends past the data
    with pytest.raises(ValueError, match="outside the data buffer"):
        kernel.buckets_of_offsets("s", offsets, b"ab", out, 0, 2)
    with pytest.raises(ValueError, match="shorter than stop"):
        kernel.buckets_of_offsets("s", offsets, b"ab", out, 0, 3)
    with pytest.raises(ValueError, match="start <= stop"):
        kernel.buckets_of_offsets("s", offsets, b"ab", out, 2, 1)


@st.composite
def bundles(draw: st.DrawFn) -> ConfigBundle:
    """Experiments sharing salts, layers and holdouts, at odd traffic limits."""
    experiments = []
    for i in range(draw(st.integers(1, 12))):
        weights = draw(st.lists(st.integers(1, 5), min_size=2, max_size=3))
        total = sum(weights)
        shares = [w / total for w in weights]
        shares[-1] = 1.0 - sum(shares[:-1])
        kw: dict[str, object] = {
            "key": f"e{i}", "status": draw(st.sampled_from(["running", "running", "paused"])),
            "traffic_fraction": draw(st.sampled_from([1.0, 0.5, 0.33333, 0.99995, 0.0])),
            "variants": [Variant(key=f"v{j}", weight=w, is_control=j == 0)
                         for j, w in enumerate(shares)],
        }
        if draw(st.booleans()):  # the same salt as another experiment: one table position
            kw["salt"] = f"shared-{draw(st.integers(0, 2))}"
        if draw(st.booleans()):
            start = draw(st.integers(0, 9000))
            kw["layer"] = LayerPlacement(draw(st.sampled_from(["l1", "l2"])),
                                         [(start, start + draw(st.integers(1, 1000)))])
        if draw(st.booleans()):
            kw["holdout"] = "h"
        if draw(st.booleans()):
            kw["targeting"] = {"attr": "country", "op": "in", "value": ["US"]}
        experiments.append(Experiment(**kw))  # type: ignore[arg-type]
    return ConfigBundle(experiments=experiments, layers=[Layer(key="l1"), Layer(key="l2")],
                        holdouts=[Holdout(key="h", traffic_fraction=0.1)])


@settings(max_examples=100, deadline=None)
@given(bundle=bundles(), unit_ids=st.lists(texts.filter(str.strip), min_size=1, max_size=10),
       country=st.sampled_from(["US", "DE"]))
def test_engine_decides_the_same_with_and_without_the_kernel(
    bundle: ConfigBundle, unit_ids: list[str], country: str
) -> None:
    unit_ids = [u for u in unit_ids if len(u.encode()) <= 256]
    native, fallback = Assigner(bundle), Assigner(bundle, native=False)
    assert native.native and not fallback.native
    for unit_id in unit_ids:
        attributes = {"country": country}
        got = native.assign(unit_id, now=NOW, attributes=attributes)
        want = fallback.assign(unit_id, now=NOW, attributes=attributes)
        assert got.decisions == want.decisions
        # One experiment named: hashlib where a step needs it, the same answer.
        for decision in got.decisions:
            assert native.decide(decision.experiment, unit_id, now=NOW,
                                 attributes=attributes) == decision
