"""Process settings read from the environment (prefix ``ABWB_``), grouped by concern.

Entry points (``create_app``, the CLI, the notebook bootstrap) call
:meth:`Settings.from_env` once; tests build :class:`Settings` directly. Nothing is
read at import time.

================================  ==============================================
variable                          meaning (default)
================================  ==============================================
``ABWB_DATABASE_URL``             ``postgresql://...`` or ``sqlite:///path``
                                  (unset: embedded SQLite at ``./.abwb/abwb.db``)
``ABWB_DATABASE_SCHEMA``          PostgreSQL schema holding abwb's tables (``public``)
``ABWB_REDIS_URL``                ``redis://host:port/db`` (unset: in-process cache)
``ABWB_HOME``                     directory of embedded state (``./.abwb``)
``ABWB_API_HOST`` / ``_PORT``     bind address of ``abwb serve`` (127.0.0.1:8000)
``ABWB_ALPHA``                    default significance level (0.05)
``ABWB_REPORTS_DIR``              where readouts are written (``./reports``)
================================  ==============================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from abwb.errors import InvalidInput

__all__ = ["AnalysisSettings", "ApiSettings", "CacheSettings", "DatabaseSettings", "Settings"]


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where config and events are stored."""

    url: str | None = None
    home: Path = Path(".abwb")
    schema: str = "public"

    @property
    def effective_url(self) -> str:
        """The URL in use: the configured one or the embedded SQLite file."""
        return self.url or f"sqlite:///{(self.home / 'abwb.db').as_posix()}"

    @property
    def is_postgres(self) -> bool:
        """Whether the store is PostgreSQL."""
        return self.effective_url.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """Assignment cache: Redis when a URL is set, else in-process."""

    redis_url: str | None = None


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """HTTP service binding."""

    host: str = "127.0.0.1"
    port: int = 8000


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """Defaults for analyses that do not state their own."""

    alpha: float = 0.05
    reports_dir: Path = Path("reports")


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings of one process."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``ABWB_*`` variables (from ``environ`` or the process environment).

        Raises:
            InvalidInput: a variable has an unusable value (named in the message).
        """
        env = os.environ if environ is None else environ
        home = Path(env.get("ABWB_HOME", ".abwb"))
        return cls(
            database=DatabaseSettings(
                url=env.get("ABWB_DATABASE_URL") or None,
                home=home,
                schema=env.get("ABWB_DATABASE_SCHEMA") or "public",
            ),
            cache=CacheSettings(redis_url=env.get("ABWB_REDIS_URL") or None),
            api=ApiSettings(
                host=env.get("ABWB_API_HOST", "127.0.0.1"),
                port=_int(env, "ABWB_API_PORT", 8000, 1, 65535),
            ),
            analysis=AnalysisSettings(
                alpha=_float(env, "ABWB_ALPHA", 0.05, 0.0, 1.0),
                reports_dir=Path(env.get("ABWB_REPORTS_DIR", "reports")),
            ),
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"must be an integer, got {raw!r}", path=name) from None
    if not low <= value <= high:
        raise InvalidInput(f"must be in [{low}, {high}], got {value}", path=name)
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"must be a number, got {raw!r}", path=name) from None
    if not low < value < high:
        raise InvalidInput(f"must be in ({low}, {high}), got {value}", path=name)
    return value
