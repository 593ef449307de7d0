"""A bounded on-disk spool of exposures the event store could not take.

What belongs here: :class:`ExposureSpool`. While the store is down the exposure log
writes each failed batch here as one file (written to a temporary name, flushed with
``fsync``, then renamed: a batch is in the spool whole or not at all) and delivers the
files, oldest first, once the store answers again; a file is deleted only after its
append returned. Delivery is idempotent (the store de-duplicates on ``exposure_id``),
so a crash between the append and the delete only repeats work. The spool is bounded
by ``max_bytes``: a batch that does not fit is refused (the caller counts it).

The crash accounting of what is only in memory lives beside the spool files, in
:mod:`abwb.events.crash_ledger`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from abwb.errors import StorageError
from abwb.events.models import AppendResult, Exposure
from abwb.store.protocol import EventStore

__all__ = ["ExposureSpool"]

_SUFFIX = ".spool.json"
_decoder = msgspec.json.Decoder(list[Exposure])


class ExposureSpool:
    """Exposure batches kept on local disk until the store takes them.

    Args:
        directory: Where spool files live (created when needed).
        max_bytes: Largest total size of the spool files.

    Examples:
        >>> import tempfile
        >>> from datetime import UTC, datetime
        >>> from abwb.store.memory import MemoryEventStore
        >>> spool = ExposureSpool(Path(tempfile.mkdtemp()), max_bytes=1_000_000)
        >>> row = Exposure(exposure_id="e/p1/user/u", experiment="e", variant="a", phase=1,
        ...                unit_type="user", unit_id="u", config_version=1,
        ...                exposed_at=datetime(2026, 1, 1, tzinfo=UTC))
        >>> spool.write([row]), spool.pending_rows()
        (True, 1)
        >>> store = MemoryEventStore()
        >>> spool.deliver(store).accepted, spool.pending_rows()
        (1, 0)
    """

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*" + _SUFFIX))

    def size_bytes(self) -> int:
        """Total size of the spool files."""
        total = 0
        for f in self._files():
            with contextlib.suppress(FileNotFoundError):
                total += f.stat().st_size
        return total

    def pending_rows(self) -> int:
        """Exposures waiting in the spool (reads the files)."""
        return sum(len(self._read(f)) for f in self._files())

    def write(self, rows: Sequence[Exposure]) -> bool:
        """Add a batch durably (fsync) unless it would exceed ``max_bytes``.

        Args:
            rows: The batch.

        Returns:
            Whether the batch is in the spool.

        Raises:
            StorageError: the disk failed (the batch is not in the spool).
        """
        data = msgspec.json.encode(list(rows))
        with self._lock:
            if self.size_bytes() + len(data) > self.max_bytes:
                return False
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):06d}"
            final = self.directory / (name + _SUFFIX)
            tmp = self.directory / (name + ".tmp")
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, final)
                _fsync_dir(self.directory)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise StorageError(f"exposure spool write failed: {exc}") from exc
        return True

    def deliver(self, store: EventStore, *, max_files: int | None = None) -> AppendResult:
        """Append spooled batches to ``store``, oldest first, deleting each once stored.

        Args:
            store: Where the exposures go.
            max_files: Deliver at most this many files (``None``: all).

        Returns:
            Accepted and duplicate counts of what was delivered.

        Raises:
            StorageError: the store failed (what is left stays in the spool).
        """
        accepted = duplicates = 0
        for f in self._files()[:max_files]:
            rows = self._read(f)
            if rows:
                result = store.append_exposures(rows)
                accepted += result.accepted
                duplicates += result.duplicates
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
        return AppendResult(accepted=accepted, duplicates=duplicates)

    def _read(self, path: Path) -> list[Exposure]:
        try:
            return _decoder.decode(path.read_bytes())
        except FileNotFoundError:
            return []
        except (msgspec.DecodeError, OSError) as exc:
            # a damaged file is kept aside for an operator, never silently deleted
            path.rename(path.with_suffix(".damaged"))
            raise StorageError(f"exposure spool file {path.name} is unreadable: {exc}") from exc


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX: fsync the directory)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
