"""What a notebook needs before its first readout call: version check and store connection.

What belongs here: :func:`require_version` (the readout notebook's second cell)
and :func:`connect` (stores from a ``database_url`` parameter, or from the
environment when it is ``None``). Entry points choose adapters; a notebook is one.
"""

from __future__ import annotations

from abwb.errors import InvalidInput
from abwb.settings import DatabaseSettings, Settings
from abwb.store.protocol import ConfigStore, EventStore

__all__ = ["connect", "require_version"]


def _parts(version: str) -> tuple[int, ...]:
    out = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


def require_version(minimum: str, *, installed: str | None = None) -> str:
    """Check that the installed abwb is at least ``minimum``.

    Args:
        minimum: Oldest abwb version the notebook works with (``0.1.0``).
        installed: Version to check (default ``abwb.__version__``).

    Returns:
        The installed version.

    Raises:
        InvalidInput: abwb is older than the notebook needs.

    Examples:
        >>> require_version("0.1.0", installed="0.2.1")
        '0.2.1'
        >>> require_version("1.0", installed="0.9.3")
        Traceback (most recent call last):
        ...
        abwb.errors.InvalidInput: abwb: this notebook needs abwb >= 1.0, installed 0.9.3; ...
    """
    if installed is None:
        import abwb

        installed = abwb.__version__
    if _parts(installed) < _parts(minimum):
        raise InvalidInput(
            f"this notebook needs abwb >= {minimum}, installed {installed}; "
            "upgrade with `pip install -U abwb`",
            path="abwb",
        )
    return installed


def connect(
    database_url: str | None = None, schema: str | None = None
) -> tuple[ConfigStore, EventStore]:
    """Open the config and event stores for a notebook.

    Args:
        database_url: ``sqlite:///path`` or ``postgresql://...``; ``None`` uses
            ``ABWB_DATABASE_URL`` or the embedded default.
        schema: PostgreSQL schema; ``None`` uses ``ABWB_DATABASE_SCHEMA`` (``public``).

    Returns:
        ``(config_store, event_store)``.

    Raises:
        InvalidInput: ``database_url`` is not a supported URL.
        StorageError: The database cannot be opened.
    """
    from abwb.store import open_stores

    settings = Settings.from_env()
    if database_url is not None:
        if not isinstance(database_url, str) or not database_url.startswith(
            ("sqlite:", "postgresql://", "postgres://")
        ):
            raise InvalidInput(
                f"must be None, sqlite:///PATH or postgresql://..., got {database_url!r}",
                path="database_url",
            )
        settings = Settings(
            database=DatabaseSettings(
                url=database_url, home=settings.database.home, schema=settings.database.schema
            ),
            cache=settings.cache, api=settings.api, analysis=settings.analysis,
        )
    stores = open_stores(settings, schema=schema)
    stores.alerts.close()  # a notebook needs the config and event stores only
    return stores.config, stores.events
