"""The last-known-good config snapshot file: written atomically, read at start-up.

What belongs here: saving a :class:`~abwb.config.ConfigBundle` as JSON so that a
process can start (and serve assignments) while the database is down, and loading it
back. Writes go to a temporary file in the same directory, are fsynced and then
renamed over the old file, so a reader never sees a half-written snapshot.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path

import msgspec

from abwb.config.bundle import ConfigBundle
from abwb.errors import StorageError

__all__ = ["read_snapshot_file", "write_snapshot_file"]


def write_snapshot_file(bundle: ConfigBundle, path: str | Path) -> None:
    """Atomically replace ``path`` with the JSON of ``bundle``.

    Raises:
        StorageError: the file cannot be written (the previous one is left intact).

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "snapshot.json"
        >>> write_snapshot_file(ConfigBundle(version=7), path)
        >>> read_snapshot_file(path).version
        7
    """
    target = Path(path)
    data = msgspec.json.encode(bundle)
    tmp_name = ""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
        tmp_name = ""
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise StorageError(f"cannot write the config snapshot file {target}: {exc}") from exc
    finally:
        if tmp_name:
            with suppress(OSError):
                os.unlink(tmp_name)


def read_snapshot_file(path: str | Path) -> ConfigBundle:
    """The bundle saved in ``path``.

    Raises:
        StorageError: the file is missing, unreadable or not a valid snapshot.
    """
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise StorageError(f"cannot read the config snapshot file {source}: {exc}") from exc
    try:
        return msgspec.json.decode(data, type=ConfigBundle)
    except (msgspec.DecodeError, ValueError) as exc:
        raise StorageError(f"the config snapshot file {source} is not valid: {exc}") from exc
