"""Types of the compiled bucket kernel (``_sha256.c``; see that file)."""

from collections.abc import Buffer

def buckets_of_offsets(
    prefix: Buffer, offsets: Buffer, data: Buffer, out: Buffer, start: int, stop: int,
    impl: int, /,
) -> None: ...
def buckets_of_views(
    prefix: Buffer, views: Buffer, data: tuple[Buffer, ...], out: Buffer, start: int,
    stop: int, impl: int, /,
) -> None: ...
def buckets_of_unit(prefixes: bytes, ends: bytes, unit_id: bytes, impl: int, /) -> list[int]: ...
def sha_ni() -> bool: ...
