"""In-process config snapshots for the hot path: fan-out, quarantine, last-known-good file."""

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
from abwb.snapshot.quarantine import QuarantinedObject, compile_valid
from abwb.snapshot.snapshot_file import read_snapshot_file, write_snapshot_file

__all__ = [
    "CONFIG_CHANNEL",
    "ConfigSnapshot",
    "ConfigSnapshotHolder",
    "ConfigWatcher",
    "PublishingConfigStore",
    "QuarantinedObject",
    "RedisConfigPublisher",
    "VersionedConfigSource",
    "compile_bundle",
    "compile_valid",
    "read_snapshot_file",
    "write_snapshot_file",
]
