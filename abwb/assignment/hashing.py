"""Portable, versioned hashing of units onto the bucket line.

Hash version 1 (the only one so far)::

    bucket(salt, unit_id) = uint64_be(sha256(utf8(salt + ":" + unit_id))[0:8]) mod 10000

SHA-256 exists in Python, DuckDB, PostgreSQL, Spark, Trino and BigQuery, so any unit's
bucket can be recomputed in SQL (see :mod:`abwb.assignment.sql`) and must match the
golden vectors in ``tests/vectors/hashing_v1.json``. Engine-internal hashes (DuckDB
``hash()``, polars ``Expr.hash``) change between versions and are never used.

Salts used by the engine (``S`` is the experiment salt, ``p`` the phase)::

    traffic inclusion   f"{S}/p{p}/traffic"
    variant choice      f"{S}/p{p}/variant"
    layer bucket        the layer's salt        (``layer:{key}`` by default)
    holdout bucket      the holdout's salt      (``holdout:{key}`` by default)
    rollout inclusion   the rollout's salt      (``rollout:{key}`` by default)

Traffic and variant use different salts so that raising traffic only adds units and
never moves anyone between variants. The phase is in both so a new phase re-randomises.

Two implementations give the same buckets: the compiled kernel (``_sha256.c``, built by
the install when a C compiler is there; SHA-NI on CPUs that have it) hashes many
messages per call, and hashlib is the fallback. :data:`BACKEND` names the one in use;
:func:`native_kernel` returns the kernel (or ``None``) for the engine and the bulk path,
which both take ``native=False`` to run the fallback.
"""

from __future__ import annotations

from collections.abc import Buffer, Sequence
from dataclasses import dataclass
from hashlib import sha256
from struct import Struct
from typing import TYPE_CHECKING, cast

from abwb.config.experiment import BUCKETS
from abwb.errors import InvalidInput

if TYPE_CHECKING:
    from hashlib import _Hash

try:
    from abwb.assignment import _sha256 as _native
except ImportError:  # installed without a C compiler: hashlib gives the same buckets
    _native = None  # type: ignore[assignment]

__all__ = [
    "BACKEND",
    "BUCKETS",
    "HASH_VERSION",
    "MAX_UNIT_ID_BYTES",
    "BucketKernel",
    "SaltTable",
    "bucket",
    "bucket_of_key",
    "bucket_of_state",
    "check_unit_id",
    "native_kernel",
    "salt_prefix",
    "salt_state",
    "traffic_salt",
    "unit_id_bytes",
    "variant_salt",
]

HASH_VERSION = 1
_from_bytes = int.from_bytes
#: The first 8 bytes of a digest as a big-endian unsigned 64-bit integer, without slicing.
_uint64_be = Struct(">Q").unpack_from
#: Longest unit id, in UTF-8 bytes: the one limit of the engine, the serving API, the bulk
#: assignment and event ingestion. Unit ids are identifiers, not documents; with an
#: experiment key (64), the longest phase (10 digits) and a 64-byte unit type, a unit's
#: exposure id (``{experiment}/p{phase}/{unit_type}/{unit_id}``, at most 398 bytes) stays
#: within the event store's 512-byte id limit, so every unit that is served can be logged.
MAX_UNIT_ID_BYTES = 256


def check_unit_id(unit_id: object) -> str:
    """Return ``unit_id`` if it is a usable unit id.

    Raises:
        InvalidInput: not a string, empty or whitespace-only, or longer than
            :data:`MAX_UNIT_ID_BYTES` (256) bytes.
    """
    unit_id_bytes(unit_id)
    return cast(str, unit_id)  # unit_id_bytes refuses anything but a str


def unit_id_bytes(unit_id: object) -> bytes:
    """The UTF-8 bytes of a usable unit id (hashed as they are: encode once per request).

    Raises:
        InvalidInput: not a string, empty or whitespace-only, or longer than
            :data:`MAX_UNIT_ID_BYTES` (256) bytes.

    Examples:
        >>> unit_id_bytes("user-1")
        b'user-1'
    """
    if not isinstance(unit_id, str):
        raise InvalidInput(
            f"must be a string, got {type(unit_id).__name__} {unit_id!r:.40}", path="unit_id"
        )
    if not unit_id.strip():
        raise InvalidInput("must be a non-empty string", path="unit_id")
    try:
        encoded = unit_id.encode()
    except UnicodeEncodeError:
        raise InvalidInput(
            "must be valid Unicode text (no lone surrogate code points)", path="unit_id"
        ) from None
    if len(encoded) > MAX_UNIT_ID_BYTES:
        raise InvalidInput(f"must be at most {MAX_UNIT_ID_BYTES} bytes of UTF-8", path="unit_id")
    return encoded


def bucket(salt: str, unit_id: str) -> int:
    """Bucket (0 to 9,999) of ``unit_id`` under ``salt``, hash version 1.

    Args:
        salt: The salt (experiment, layer, holdout or rollout salt).
        unit_id: The unit's id (not validated here; see :func:`check_unit_id`).

    Returns:
        The bucket, an integer in ``[0, 10000)``.

    Examples:
        >>> bucket("a", "b")
        1548
    """
    return bucket_of_key(salt_prefix(salt), unit_id.encode())


def salt_prefix(salt: str) -> bytes:
    """The UTF-8 bytes hashed before the unit id: ``salt + ":"`` (precompute once per salt)."""
    return f"{salt}:".encode()


def bucket_of_key(prefix: bytes, unit_id: bytes) -> int:
    """Bucket of UTF-8 ``unit_id`` under a precomputed :func:`salt_prefix` (the hot path).

    Examples:
        >>> bucket_of_key(salt_prefix("a"), b"b") == bucket("a", "b")
        True
    """
    # int.from_bytes is big-endian by default (Python >= 3.11); passing "big" costs ~15 %.
    return _from_bytes(sha256(prefix + unit_id).digest()[:8]) % BUCKETS


def salt_state(salt: str) -> _Hash:
    """SHA-256 that has already read ``salt + ":"``: copy it, add a unit id, digest.

    The engine keeps one per salt (compiled once per config version); copying a state
    costs less than hashing the prefix again, and it is thread-safe (``copy`` takes the
    object's lock). The answer is the same SHA-256 of ``salt:unit_id``.
    """
    return sha256(salt_prefix(salt))


def bucket_of_state(state: _Hash, unit_id: bytes) -> int:
    """Bucket of UTF-8 ``unit_id`` under a :func:`salt_state` (the engine's hot path).

    Examples:
        >>> bucket_of_state(salt_state("a"), b"b") == bucket("a", "b")
        True
    """
    h = state.copy()
    h.update(unit_id)
    return _uint64_be(h.digest())[0] % BUCKETS  # type: ignore[no-any-return]


def traffic_salt(salt: str, phase: int) -> str:
    """Salt of the traffic-inclusion hash for an experiment salt and phase."""
    return f"{salt}/p{phase}/traffic"


def variant_salt(salt: str, phase: int) -> str:
    """Salt of the variant-choice hash for an experiment salt and phase."""
    return f"{salt}/p{phase}/variant"


@dataclass(frozen=True, slots=True)
class SaltTable:
    """Salt prefixes hashed together for one unit (the engine's salts, one table per snapshot).

    Attributes:
        prefixes: Every :func:`salt_prefix`, concatenated.
        ends: Where each prefix ends in ``prefixes``, as little-endian uint32 values.
    """

    prefixes: bytes
    ends: bytes

    @classmethod
    def of(cls, salts: Sequence[str]) -> SaltTable:
        """The table of ``salts``, in order."""
        encoded = [salt_prefix(s) for s in salts]
        ends, at = [], 0
        for prefix in encoded:
            at += len(prefix)
            ends.append(at)
        return cls(b"".join(encoded), Struct(f"<{len(ends)}I").pack(*ends))


@dataclass(frozen=True, slots=True)
class BucketKernel:
    """The compiled bucket kernel (``_sha256.c``), with or without the SHA-NI instructions.

    Attributes:
        sha_ni: Whether it compresses with the CPU's SHA extensions (else portable C).
    """

    sha_ni: bool

    @property
    def name(self) -> str:
        """The backend's name, as benchmarks print it."""
        return "native (SHA-NI)" if self.sha_ni else "native (portable C)"

    def buckets_of_unit(self, table: SaltTable, unit_id: bytes) -> list[int]:
        """Buckets of UTF-8 ``unit_id`` under every salt of ``table``, in order.

        Examples:
            >>> kernel = native_kernel()
            >>> kernel is None or kernel.buckets_of_unit(SaltTable.of(["a", "c"]), b"b") == [
            ...     bucket("a", "b"), bucket("c", "b")]
            True
        """
        return _native.buckets_of_unit(
            table.prefixes, table.ends, unit_id, int(self.sha_ni))

    def buckets_of_views(
        self, salt: str, views: Buffer, data: tuple[Buffer, ...], out: Buffer, start: int,
        stop: int,
    ) -> None:
        """Buckets of rows ``[start, stop)`` of an Arrow ``string_view`` array, into ``out``.

        Args:
            salt: The salt.
            views: The array's 16-byte views, from its first row (offset applied).
            data: The array's variadic data buffers.
            out: Writable int32 buffer, at least ``stop`` values; row ``i`` goes to ``out[i]``.
            start: First row.
            stop: One past the last row.

        Releases the GIL while hashing, so threads may share a column.
        """
        _native.buckets_of_views(
            salt_prefix(salt), views, data, out, start, stop, int(self.sha_ni))

    def buckets_of_offsets(
        self, salt: str, offsets: Buffer, data: Buffer, out: Buffer, start: int, stop: int
    ) -> None:
        """:meth:`buckets_of_views` for an Arrow ``large_string`` array (int64 offsets)."""
        _native.buckets_of_offsets(
            salt_prefix(salt), offsets, data, out, start, stop, int(self.sha_ni))


def native_kernel(*, sha_ni: bool = True) -> BucketKernel | None:
    """The compiled bucket kernel, or ``None`` when the install could not build it.

    Args:
        sha_ni: Use the SHA extensions where the CPU has them (``False``: portable C).
    """
    if _native is None:
        return None
    return BucketKernel(sha_ni=sha_ni and _native.sha_ni())


#: The hashing backend in use: ``native (SHA-NI)``, ``native (portable C)`` or ``hashlib``.
BACKEND: str = "hashlib" if _native is None else BucketKernel(sha_ni=_native.sha_ni()).name
