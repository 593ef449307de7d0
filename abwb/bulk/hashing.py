"""Hash version 1 over a polars column: the bucket of every unit in one expression.

What belongs here: the column form of :func:`abwb.assignment.bucket`, nothing else.

With the compiled kernel (:func:`abwb.assignment.hashing.native_kernel`, the default
when the install built it), :func:`bucket_series` hands the column's Arrow buffers
(``string_view``: no copy) to C, which writes Int32 buckets straight into the result;
the column is split across polars' thread count, the kernel releasing the GIL.

The fallback (``native=False``, or no kernel) and :func:`bucket_expr` compute exactly
the documented formula
(``uint64_be(sha256(utf8(salt + ":" + unit_id))[0:8]) mod 10000``) with the
``polars-hash`` plugin's SHA-256 (a stable, standard hash — never polars'
``Expr.hash``, which changes between versions): the first 16 hex digits of the
digest are the big-endian first 8 bytes, parsed as an unsigned 64-bit integer.
The golden vectors pin it to the scalar hash, DuckDB and PostgreSQL.

:func:`bucket_series` runs the expression over pieces of a long column at once on
polars' thread pool (``pl.collect_all``): the plugin hashes one piece per thread, and
a piece's 64-character hex digests stay cache-sized instead of filling memory with
hundreds of megabytes of text. The answer does not depend on the piece size.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import polars_hash as plh

from abwb.assignment.hashing import BUCKETS, BucketKernel, native_kernel

__all__ = ["bucket_expr", "bucket_frame", "bucket_series"]

#: Rows per piece hashed in parallel by :func:`bucket_series`.
_PIECE_ROWS = 250_000
_UNIT = "unit_id"


def bucket_expr(salt: str, unit: pl.Expr | str = "unit_id") -> pl.Expr:
    """Expression giving the bucket (Int32, 0 to 9,999) of ``unit`` under ``salt``.

    Args:
        salt: The salt (traffic, variant, layer, holdout or rollout salt).
        unit: A String expression or column name of unit ids.

    Returns:
        An Int32 expression; null where the unit id is null.

    Examples:
        >>> from abwb.assignment import bucket
        >>> frame = pl.DataFrame({"unit_id": ["b", "user-1"]})
        >>> frame.select(bucket_expr("a"))["bucket"].to_list() == [
        ...     bucket("a", "b"), bucket("a", "user-1")]
        True
    """
    ids = pl.col(unit) if isinstance(unit, str) else unit
    keyed = pl.lit(f"{salt}:", dtype=pl.String) + ids
    digest = plh.CryptographicHashingNameSpace(keyed).sha2_256()
    prefix = digest.str.slice(0, 16).str.to_integer(base=16, dtype=pl.UInt64)
    return (prefix % BUCKETS).cast(pl.Int32).alias("bucket")


def bucket_series(unit_ids: pl.Series, salt: str, *, native: bool = True) -> pl.Series:
    """Buckets of a String Series of unit ids under ``salt``, hashed in parallel pieces.

    Args:
        unit_ids: Unit ids (String; a null id has a null bucket).
        salt: The salt.
        native: Hash with the compiled kernel when it is built (``False``: polars-hash;
            the buckets are the same).

    Returns:
        An Int32 Series named ``bucket``, one value per id, in order.

    Examples:
        >>> from abwb.assignment import bucket
        >>> bucket_series(pl.Series(["b", "user-1"]), "a").to_list() == [
        ...     bucket("a", "b"), bucket("a", "user-1")]
        True
    """
    kernel = native_kernel() if native else None
    if kernel is not None:
        return _kernel_buckets(kernel, unit_ids, salt)
    units = unit_ids.rename(_UNIT).to_frame()
    if units.height <= _PIECE_ROWS:
        return units.select(bucket_expr(salt))["bucket"]
    pieces = [units.slice(start, _PIECE_ROWS).lazy().select(bucket_expr(salt))
              for start in range(0, units.height, _PIECE_ROWS)]
    return pl.concat([piece["bucket"] for piece in pl.collect_all(pieces)], rechunk=True)


def bucket_frame(
    unit_ids: pl.Series, salts: Sequence[str], *, native: bool = True
) -> pl.DataFrame:
    """Buckets of every unit id under every salt.

    Args:
        unit_ids: A Series of unit ids (cast to String).
        salts: Salts to hash under; the result has one Int32 column per salt,
            named ``b0``, ``b1``, ... in order.
        native: As for :func:`bucket_series`.

    Returns:
        A frame with ``unit_id`` and one bucket column per salt, in input order.
    """
    units = unit_ids.cast(pl.String).rename(_UNIT)
    return units.to_frame().with_columns(
        bucket_series(units, salt, native=native).alias(f"b{i}") for i, salt in enumerate(salts)
    )


def _kernel_buckets(kernel: BucketKernel, unit_ids: pl.Series, salt: str) -> pl.Series:
    """:func:`bucket_series` by the compiled kernel, over the column's Arrow buffers."""
    ids = unit_ids.fill_null("") if unit_ids.null_count() else unit_ids
    arrow = ids.rechunk().to_arrow(compat_level=pl.CompatLevel.newest())
    n = len(arrow)
    out = np.empty(n, dtype=np.int32)
    if str(arrow.type) == "string_view":
        _, views, *data = arrow.buffers()
        views = views.slice(16 * arrow.offset)
        def hash_rows(start: int, stop: int) -> None:
            kernel.buckets_of_views(salt, views, tuple(data), out, start, stop)
    else:  # polars before string views: 64-bit offsets
        arrow = arrow.cast("large_string")
        _, offsets, data = arrow.buffers()
        offsets = offsets.slice(8 * arrow.offset)
        def hash_rows(start: int, stop: int) -> None:
            kernel.buckets_of_offsets(salt, offsets, data, out, start, stop)
    threads = max(1, min(pl.thread_pool_size(), n // _PIECE_ROWS))
    if threads == 1:
        hash_rows(0, n)
    else:
        cuts = [n * i // threads for i in range(threads + 1)]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(hash_rows, cuts[:-1], cuts[1:]))
    buckets = pl.Series("bucket", out)
    if unit_ids.null_count():
        return pl.select(pl.when(unit_ids.is_not_null()).then(buckets).alias("bucket")).to_series()
    return buckets
