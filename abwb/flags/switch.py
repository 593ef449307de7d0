"""The kill switch as a config change: kill or revive a flag, producing a new flag version.

A kill is an ordinary, audited config write — not a side channel — so every replica
picks it up through the same snapshot fan-out as any other change, and a kill made
while the fan-out (Redis) is down is not undone when it returns: the store holds the
truth and snapshots never go backwards in version.

Two targets:

- a :class:`~abwb.config.ConfigBundle` (config-as-code, notebooks, tests): returns a new
  bundle whose version and flag version are one higher;
- a config store (anything with ``get`` and ``update`` like
  :class:`abwb.store.protocol.ConfigStore`): writes with optimistic concurrency
  (``expected_version``), re-reading and retrying when another writer got there
  first — a kill must win over a concurrent edit — and returns the stored flag.

Killing a killed flag (or reviving a live one) writes nothing.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, overload

import msgspec

from abwb.config.bundle import ConfigBundle
from abwb.config.flag import Flag
from abwb.errors import InvalidInput, NotFound, VersionConflict

__all__ = ["FlagWriter", "kill", "revive", "set_killed"]

#: Attempts before a kill or revive gives up on a flag that keeps changing under it.
MAX_ATTEMPTS = 5


class FlagWriter(Protocol):
    """The part of ``ConfigStore`` the kill switch needs."""

    def get(self, kind: Literal["flag"], key: str) -> Any:
        """The stored object; raises ``NotFound``."""
        ...

    def update(
        self,
        kind: Literal["flag"],
        obj: Any,
        *,
        expected_version: int,
        actor: str,
        reason: str = "",
    ) -> Any:
        """Store ``obj`` if still at ``expected_version``; raises ``VersionConflict``."""
        ...


def set_killed(flag: Flag, killed: bool) -> Flag:
    """The flag with its kill switch set (same version; the store bumps it).

    Examples:
        >>> f = Flag(key="f", type="bool", variations={"on": True, "off": False},
        ...          default_variation="on", off_variation="off")
        >>> set_killed(f, True).killed
        True
    """
    return flag if flag.killed == killed else msgspec.structs.replace(flag, killed=killed)


@overload
def kill(source: ConfigBundle, key: str, *, actor: str, reason: str = "") -> ConfigBundle: ...
@overload
def kill(source: FlagWriter, key: str, *, actor: str, reason: str = "") -> Flag: ...
def kill(source: Any, key: str, *, actor: str, reason: str = "") -> Any:
    """Turn flag ``key`` off for everyone: its off variation is served (reason ``DISABLED``).

    Args:
        source: A bundle (returns a new bundle) or a config store (returns the stored flag).
        key: The flag key.
        actor: Who pulled the switch (recorded in the audit log).
        reason: Why (recorded in the audit log).

    Returns:
        The new bundle, or the flag as stored.

    Raises:
        NotFound: no such flag.
        InvalidInput: empty ``actor``.
        VersionConflict: the flag kept changing for ``MAX_ATTEMPTS`` attempts.
        StorageError: the store failed.
    """
    return _switch(source, key, True, actor=actor, reason=reason)


@overload
def revive(source: ConfigBundle, key: str, *, actor: str, reason: str = "") -> ConfigBundle: ...
@overload
def revive(source: FlagWriter, key: str, *, actor: str, reason: str = "") -> Flag: ...
def revive(source: Any, key: str, *, actor: str, reason: str = "") -> Any:
    """Turn a killed flag back on: its rules, rollouts and default apply again.

    Args and errors as for :func:`kill`.
    """
    return _switch(source, key, False, actor=actor, reason=reason)


def _switch(source: Any, key: str, killed: bool, *, actor: str, reason: str) -> Any:
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidInput("must name who changes the kill switch", path="actor")
    if isinstance(source, ConfigBundle):
        return _switch_bundle(source, key, killed)
    reason = reason or ("kill switch" if killed else "revive")
    for _ in range(MAX_ATTEMPTS):
        current: Flag = source.get("flag", key)
        if current.killed == killed:
            return current
        try:
            stored: Flag = source.update(
                "flag",
                set_killed(current, killed),
                expected_version=current.version,
                actor=actor,
                reason=reason,
            )
        except VersionConflict:
            continue  # someone edited the flag meanwhile: re-read and apply on top
        return stored
    raise VersionConflict(
        f"flag {key!r} changed {MAX_ATTEMPTS} times while setting killed={killed}; try again"
    )


def _switch_bundle(bundle: ConfigBundle, key: str, killed: bool) -> ConfigBundle:
    flags = list(bundle.flags)
    for i, flag in enumerate(flags):
        if flag.key == key:
            if flag.killed == killed:
                return bundle
            flags[i] = msgspec.structs.replace(flag, killed=killed, version=flag.version + 1)
            return msgspec.structs.replace(bundle, flags=flags, version=bundle.version + 1)
    raise NotFound(f"no flag {key!r} in config version {bundle.version}")
