"""The API keys a serving process knows, refreshed in the background.

What belongs here: :class:`ApiKeyRing`, the key list the request path reads (one
attribute read, never a store call) and the one background thread that re-reads it
from the :class:`~abwb.access.ApiKeyStore` every ``refresh_s``. A store that is down
or slow delays only that thread: requests keep using the keys last read (one reload
at a time, so a down store is never asked by many callers at once). Keys given at
start-up are held in memory too, so they work while the store is unreachable.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable

from abwb.access.keys import ApiKey, ApiKeyStore
from abwb.errors import AbwbError

__all__ = ["ApiKeyRing"]

log = logging.getLogger(__name__)


class ApiKeyRing:
    """The active API keys of one process, reloaded off the request path.

    Args:
        store: Where keys live.
        refresh_s: Seconds between background reloads.
        bootstrap: Keys known without the store (given at start-up).

    Examples:
        >>> from abwb.access.keys import MemoryApiKeyStore
        >>> store = MemoryApiKeyStore()
        >>> ring = ApiKeyRing(store)
        >>> ring.reload(), ring.configured
        (True, False)
        >>> _ = store.add("ci", "secret-123", ["read"])
        >>> ring.reload(), ring.configured, [k.name for k in ring.keys]
        (True, True, ['ci'])
    """

    def __init__(
        self, store: ApiKeyStore, *, refresh_s: float = 10.0, bootstrap: Iterable[ApiKey] = ()
    ) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self._bootstrap = list(bootstrap)
        #: The keys requests are checked against (replaced whole, never mutated).
        self.keys: list[ApiKey] = list(self._bootstrap)
        self._configured = bool(self._bootstrap)
        self._answered = False
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: ``reloads``, ``reload_failed``.
        self.counters: Counter[str] = Counter()
        #: The last reload failure (``None`` once a reload succeeds).
        self.last_error: str | None = None

    @property
    def configured(self) -> bool:
        """Whether any key was ever seen (start-up, stored or revoked), or might exist.

        Until the store has answered once, keys might exist that this process cannot
        see: authentication then stays on (``auto`` fails closed), and only start-up
        keys are accepted.
        """
        return self._configured or not self._answered

    def reload(self) -> bool:
        """Re-read the keys from the store now (blocking; one reload at a time).

        A store failure keeps the keys already known and is logged and counted.

        Returns:
            Whether the store answered.
        """
        with self._load_lock:
            try:
                stored = self.store.active()
                configured = bool(stored) or self.store.configured()
            except AbwbError as exc:
                self.counters["reload_failed"] += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("API keys not reloaded, keeping %d known: %s", len(self.keys), exc)
                return False
            known = {k.key_hash for k in stored}
            self.keys = stored + [k for k in self._bootstrap if k.key_hash not in known]
            # once configured, always configured: an empty read never opens the API
            self._configured = self._configured or configured
            self._answered = True
            self.counters["reloads"] += 1
            self.last_error = None
            return True

    def start(self) -> None:
        """Start the background reloads (idempotent); the first runs at once."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="abwb-api-keys", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the background reloads.

        Args:
            timeout_s: Longest wait for a reload in flight (the thread is a daemon).
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.reload()
            self._stop.wait(self.refresh_s)
