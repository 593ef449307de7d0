"""Counting what a killed process held in memory: a per-process exposure ledger on disk.

What belongs here: :class:`CrashLedger`, the crash accounting of the exposure log. Each
process keeps two unsigned 64-bit counters in a small file mapped into its memory
(``MAP_SHARED``): ``held``, the exposures handed to the in-memory queue, and
``settled``, the exposures that left memory (durable in the store or the spool, or
dropped and counted). A store into a shared mapping lands in the kernel's page cache at
once, so the counters survive the process however it dies (``kill -9``, OOM kill) — but
not a power cut (nothing is ``msync``-ed per exposure).

Why the difference ``held - settled`` bounds the loss from above: ``held`` is raised
*before* exposures enter the queue (so before the response that acknowledges them is
sent) and ``settled`` only *after* their batch is durable. A batch committed just before
the kill but not yet settled is counted although stored (at most one flush:
:data:`~abwb.events.exposure_log.CATCH_UP_BATCHES` × ``batch_size`` rows); an
exposure acknowledged but never stored is always counted.

Which ledgers are dead: a process holds an exclusive ``flock`` on its own ledger while it
lives; the kernel releases it when the process dies, whatever the signal. At start a
process claims every ledger in the directory whose lock it can take, adds its
``held - settled`` to the loss it reports, and deletes it. Several workers sharing one
directory each keep their own ledger, and a clean stop deletes its ledger.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import uuid
from pathlib import Path

__all__ = ["CrashLedger"]

_SUFFIX = ".ledger"
_LAYOUT = struct.Struct("=QQ")  # held, settled (native order: read back on this machine)


class CrashLedger:
    """Exposures this process holds only in memory, kept where a restart can read them.

    Args:
        directory: Where the ledgers live (the exposure spool directory).

    Examples:
        >>> import tempfile
        >>> ledger = CrashLedger(Path(tempfile.mkdtemp()))
        >>> ledger.open()  # no previous run: nothing lost
        0
        >>> ledger.hold(5); ledger.settle(3); ledger.in_memory
        2
        >>> ledger.settle(2); ledger.close()  # a clean stop leaves no ledger behind
        >>> list(ledger.directory.glob("*.ledger"))
        []
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path: Path | None = None
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._counts: memoryview | None = None

    @property
    def is_open(self) -> bool:
        """Whether this process's ledger is counting (between :meth:`open` and :meth:`close`)."""
        return self._fd is not None

    @property
    def in_memory(self) -> int:
        """Exposures held and not yet settled by this process."""
        counts = self._counts
        return 0 if counts is None else counts[0] - counts[1]

    def open(self) -> int:
        """Claim the ledgers of dead processes, then start this process's own.

        Returns:
            Exposures the dead processes held only in memory (lost, at most).

        Raises:
            OSError: the directory or the ledger file cannot be written.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        lost = sum(_claim(path) for path in sorted(self.directory.glob("*" + _SUFFIX)))
        if self._fd is None:
            self._start_own()
        return lost

    def _start_own(self) -> None:
        # Locked under a temporary name, then renamed: another process never sees it unlocked.
        name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp = self.directory / (name + ".tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, _LAYOUT.pack(0, 0))
            mapped = mmap.mmap(fd, _LAYOUT.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            final = self.directory / (name + _SUFFIX)
            os.replace(tmp, final)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        self._fd, self._map, self.path = fd, mapped, final
        self._counts = memoryview(mapped).cast("Q")

    def hold(self, n: int) -> None:
        """Count ``n`` exposures about to enter memory (call before queueing them)."""
        if self._counts is not None:
            self._counts[0] += n

    def settle(self, n: int) -> None:
        """Count ``n`` exposures that left memory (durable, or dropped and counted)."""
        if self._counts is not None:
            self._counts[1] += n

    def close(self) -> None:
        """Stop: delete the ledger when nothing is left in memory, else leave it to be claimed."""
        if self._fd is None:
            return
        if self.in_memory == 0 and self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
        assert self._counts is not None and self._map is not None
        self._counts.release()
        self._map.close()
        os.close(self._fd)  # releases the lock
        self._fd = self._map = self._counts = None
        self.path = None


def _claim(path: Path) -> int:
    """``held - settled`` of a dead process's ledger, which is then deleted (0 if alive)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0  # claimed by another process meanwhile
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its process is alive
        if os.fstat(fd).st_nlink == 0:
            return 0  # claimed and deleted by another process before we locked it
        data = os.pread(fd, _LAYOUT.size, 0)
        held, settled = _LAYOUT.unpack(data) if len(data) == _LAYOUT.size else (0, 0)
        path.unlink()
        return max(int(held) - int(settled), 0)
    finally:
        os.close(fd)
