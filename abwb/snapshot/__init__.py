"""In-process config snapshots for the hot path, their fan-out and the last-known-good file."""

from abwb.snapshot.fanout import (
    CONFIG_CHANNEL,
    ConfigWatcher,
    PublishingConfigStore,
    RedisConfigPublisher,
)
from abwb.snapshot.holder import (
    ConfigSnapshot,
    ConfigSnapshotHolder,
    VersionedConfigSource,
    compile_bundle,
)
from abwb.snapshot.snapshot_file import read_snapshot_file, write_snapshot_file

__all__ = [
    "CONFIG_CHANNEL",
    "ConfigSnapshot",
    "ConfigSnapshotHolder",
    "ConfigWatcher",
    "PublishingConfigStore",
    "RedisConfigPublisher",
    "VersionedConfigSource",
    "compile_bundle",
    "read_snapshot_file",
    "write_snapshot_file",
]
