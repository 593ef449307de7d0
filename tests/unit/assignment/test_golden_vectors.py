"""Golden vectors: the hash and allocation are identical in Python, DuckDB and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import polars as pl
import psycopg
import pytest

from abwb.assignment import (
    DUCKDB_BUCKET_MACRO,
    POSTGRES_BUCKET_FUNCTION,
    Assigner,
    bucket,
    variant_sql,
)
from abwb.assignment.hashing import MAX_UNIT_ID_BYTES
from abwb.bulk import assign_frame, bucket_frame
from abwb.config import ConfigBundle, Experiment
from abwb.errors import InvalidInput

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "hashing_v1.json").read_text(encoding="utf-8")
)
ROWS: list[dict[str, Any]] = VECTORS["rows"]
SHAPES = {k: msgspec.convert(v, Experiment) for k, v in VECTORS["shapes"].items()}
#: The vectors pin the hash up to 512-byte ids; the engine serves ids up to its limit.
SERVED = [r for r in ROWS if len(r["unit_id"].encode()) <= MAX_UNIT_ID_BYTES]
TOO_LONG = [r for r in ROWS if len(r["unit_id"].encode()) > MAX_UNIT_ID_BYTES]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_vector_file_is_large_and_varied() -> None:
    ids = [r["unit_id"] for r in ROWS]
    assert len(ROWS) >= 1000
    assert any(len(i.encode()) >= 500 for i in ids)
    assert any(not i.isascii() for i in ids)
    assert any(len(i) == 1 for i in ids)
    assert VECTORS["hash_version"] == 1


def test_python_reproduces_every_bucket() -> None:
    mismatches = [r for r in ROWS if bucket(r["salt"], r["unit_id"]) != r["bucket"]]
    assert mismatches == []


def test_python_engine_reproduces_every_variant() -> None:
    assigner = Assigner(ConfigBundle(experiments=list(SHAPES.values())))
    for shape, exp in SHAPES.items():
        got = [assigner.decide(exp.key, r["unit_id"], now=NOW).variant for r in SERVED]
        assert got == [r["variants"][shape] for r in SERVED], shape


def test_engine_and_bulk_path_refuse_ids_over_the_unit_id_limit() -> None:
    assert TOO_LONG, "the vectors hold ids over the limit"
    assigner = Assigner(ConfigBundle(experiments=list(SHAPES.values())))
    for r in TOO_LONG:
        with pytest.raises(InvalidInput, match=f"at most {MAX_UNIT_ID_BYTES} bytes"):
            assigner.decide("vec-50-50", r["unit_id"], now=NOW)
    units = pl.DataFrame({"unit_id": [r["unit_id"] for r in TOO_LONG]})
    with pytest.raises(InvalidInput, match=f"longer than {MAX_UNIT_ID_BYTES} bytes"):
        assign_frame(assigner, units, "vec-50-50", now=NOW)


def test_vectorised_bulk_path_matches_vectors() -> None:
    frame = bucket_frame(pl.Series([r["unit_id"] for r in ROWS]), ["exp-a"])
    expected = [bucket("exp-a", r["unit_id"]) for r in ROWS]
    assert frame["b0"].to_list() == expected
    assigner = Assigner(ConfigBundle(experiments=list(SHAPES.values())))
    units = pl.DataFrame({"unit_id": [r["unit_id"] for r in SERVED]})
    for shape, exp in SHAPES.items():
        out = assign_frame(assigner, units, exp.key, now=NOW)
        assert out["variant"].to_list() == [r["variants"][shape] for r in SERVED], shape


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute(DUCKDB_BUCKET_MACRO)
    con.register(
        "vectors",
        pl.DataFrame(
            {
                "i": list(range(len(ROWS))),
                "salt": [r["salt"] for r in ROWS],
                "unit_id": [r["unit_id"] for r in ROWS],
            }
        ),
    )
    yield con
    con.close()


def test_duckdb_reproduces_every_bucket(duck: duckdb.DuckDBPyConnection) -> None:
    got = duck.sql("SELECT abwb_bucket(salt, unit_id) FROM vectors ORDER BY i").fetchall()
    assert [g[0] for g in got] == [r["bucket"] for r in ROWS]


def test_duckdb_reproduces_every_variant(duck: duckdb.DuckDBPyConnection) -> None:
    for shape, exp in SHAPES.items():
        sql = f"SELECT {variant_sql(exp, 'unit_id', layer_salt='layer:l1')} FROM vectors ORDER BY i"
        got = [g[0] for g in duck.sql(sql).fetchall()]
        assert got == [r["variants"][shape] for r in ROWS], shape


@pytest.mark.integration
def test_postgres_reproduces_buckets_and_variants(pg_url: str) -> None:
    schema = "abwb_vectors_test"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(f"SET search_path TO {schema}")
            conn.execute(POSTGRES_BUCKET_FUNCTION)
            conn.execute("CREATE TABLE vectors (i int, salt text, unit_id text)")
            with conn.cursor().copy("COPY vectors (i, salt, unit_id) FROM STDIN") as copy:
                for i, r in enumerate(ROWS):
                    copy.write_row((i, r["salt"], r["unit_id"]))
            got = conn.execute(
                "SELECT abwb_bucket(salt, unit_id) FROM vectors ORDER BY i"
            ).fetchall()
            assert [g[0] for g in got] == [r["bucket"] for r in ROWS]
            for shape, exp in SHAPES.items():
                sql = f"SELECT {variant_sql(exp, 'unit_id', layer_salt='layer:l1')} FROM vectors ORDER BY i"
                variants = [g[0] for g in conn.execute(sql).fetchall()]
                assert variants == [r["variants"][shape] for r in ROWS], shape
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
