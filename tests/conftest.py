"""Fixtures shared by every test directory: clock, and the addresses of real services."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def now() -> datetime:
    """A fixed, timezone-aware 'now' (the core never reads the clock itself)."""
    return datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The real PostgreSQL used by integration tests (each test isolates itself in a schema)."""
    return os.environ.get("ABWB_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis used by integration tests (each test isolates itself by key prefix)."""
    return os.environ.get("ABWB_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] Spark session for the whole run (starting one takes seconds)."""
    from abwb.metrics.warehouse import spark_session

    session = spark_session("local[2]")
    # Small shuffles: the test data is small, and 200 partitions cost seconds per query.
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.stop()
