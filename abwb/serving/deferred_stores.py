"""Stores that open in the background: serving starts while the database is down.

What belongs here: :class:`DeferredStores`, used by a serving process whose database
cannot be reached at start-up but which holds a last-known-good snapshot file. It
hands out a config store, an event store and an API-key store at once; until the
database answers, every call on them fails fast with
:class:`~abwb.errors.StorageError` (writes answer 503 at once, exposures go to the
spool, the snapshot keeps serving from the file), while one background thread retries
opening every ``retry_s``. Once open, calls go to the real stores.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from abwb.access.keys import ApiKey
from abwb.errors import AbwbError, StorageError
from abwb.store.protocol import ConfigStore, EventStore

if TYPE_CHECKING:
    from abwb.store.opening import Stores

__all__ = ["DeferredStores"]

log = logging.getLogger(__name__)

#: Attributes never delegated while the stores are not open (wrapper probing).
_NOT_DELEGATED = frozenset({"store", "db"})


class _Deferred:
    """A store facade: delegates to the opened store, fails fast before that."""

    def __init__(self, owner: DeferredStores, pick: Callable[[Stores], Any], name: str) -> None:
        self._owner = owner
        self._pick = pick
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        opened = self._owner.opened
        if opened is not None:
            return getattr(self._pick(opened), attr)
        if attr.startswith("_") or attr in _NOT_DELEGATED:
            raise AttributeError(attr)
        return self._owner.unavailable(f"{self._name}.{attr}")

    def close(self) -> None:
        """Nothing to close here: :meth:`DeferredStores.close` closes the real stores."""


class _DeferredKeys:
    """The API-key store on the database once it opens (fails fast before that)."""

    def __init__(self, owner: DeferredStores) -> None:
        self._owner = owner

    def _store(self) -> Any:
        opened = self._owner.opened
        if opened is None:
            raise StorageError(f"API keys cannot be read: {self._owner.reason}")
        from abwb.access.stores import api_key_store_for

        return api_key_store_for(opened.database)

    def active(self) -> list[ApiKey]:
        """Every active key (raises while the database is unreachable)."""
        return self._store().active()  # type: ignore[no-any-return]

    def configured(self) -> bool:
        """Whether any key was ever stored (raises while the database is unreachable)."""
        return bool(self._store().configured())

    def ensure(self, name: str, secret: str, scopes: Any) -> None:
        """Store a start-up key (raises while the database is unreachable)."""
        self._store().ensure(name, secret, scopes)


class DeferredStores:
    """Config, event and API-key stores on a database that is opened in the background.

    Args:
        opener: Opens the real stores (``open_stores(settings)``); raises
            :class:`~abwb.errors.StorageError` while the database is unreachable.
        reason: Why the first attempt failed (reported until the stores open).
        retry_s: Seconds between attempts.

    Examples:
        >>> stores = DeferredStores(lambda: (_ for _ in ()).throw(StorageError("down")),
        ...                         reason="down", retry_s=60)
        >>> stores.config.config_version()
        Traceback (most recent call last):
        abwb.errors.StorageError: the database is unreachable (config.config_version): down
    """

    def __init__(
        self, opener: Callable[[], Stores], *, reason: str, retry_s: float = 2.0
    ) -> None:
        self._opener = opener
        self.reason = reason
        self.retry_s = retry_s
        self.opened: Stores | None = None
        self.attempts = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.config: ConfigStore = _Deferred(self, lambda o: o.config, "config")
        self.events: EventStore = _Deferred(self, lambda o: o.events, "events")
        self.api_keys = _DeferredKeys(self)

    def unavailable(self, what: str) -> Callable[..., Any]:
        """A callable standing in for ``what`` that fails fast while the stores are closed.

        Args:
            what: The store method asked for.

        Returns:
            A function raising :class:`~abwb.errors.StorageError`.
        """

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise StorageError(f"the database is unreachable ({what}): {self.reason}")

        return fail

    def try_open(self) -> bool:
        """One attempt at opening the stores.

        Returns:
            Whether they are open.
        """
        if self.opened is not None:
            return True
        self.attempts += 1
        try:
            opened = self._opener()
        except AbwbError as exc:
            self.reason = str(exc)
            return False
        self.opened = opened
        log.warning("database reachable again after %d attempt(s): stores open", self.attempts)
        return True

    def start(self) -> None:
        """Retry opening in a background thread until it succeeds (idempotent)."""
        if self._thread is None and self.opened is None:
            self._thread = threading.Thread(target=self._run, name="abwb-open-stores", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.retry_s):
            if self.try_open():
                return

    def close(self) -> None:
        """Stop retrying and close the real stores if they were opened."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.opened is not None:
            self.opened.close()
