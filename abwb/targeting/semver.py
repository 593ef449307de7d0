"""Semantic versions for targeting: parsing app versions and ordering them (SemVer 2.0.0).

Only what the ``semver_*`` operators and the overlap analysis need lives here: a
lenient parser (``4.2``, ``v4.2.0``, ``4.2.0-beta.1+build.7``) and a comparison key
that follows SemVer precedence (build metadata ignored, a pre-release sorts before
its release, numeric identifiers before alphanumeric ones).
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["SemverKey", "parse_semver"]

#: A comparable key: (major, minor, patch, pre-release key). Releases carry ``(1,)``,
#: pre-releases ``(0, identifiers...)`` so that ``1.0.0-rc.1 < 1.0.0``.
SemverKey = tuple[int, int, int, tuple[object, ...]]

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d{0,17})(?:\.(0|[1-9]\d{0,17}))?(?:\.(0|[1-9]\d{0,17}))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


@lru_cache(maxsize=8192)
def parse_semver(text: str) -> SemverKey | None:
    """Parse a version string into a comparable key, or ``None`` when it is not one.

    Missing minor/patch parts count as 0 (``4.2`` equals ``4.2.0``); a leading ``v``
    is accepted; build metadata (``+...``) is ignored, as SemVer prescribes.

    Args:
        text: The version, e.g. ``"4.2.0-rc.1"``.

    Returns:
        The comparison key, or ``None`` for anything that is not a version.

    Examples:
        >>> parse_semver("4.2") == parse_semver("v4.2.0+build.9")
        True
        >>> parse_semver("1.0.0-rc.1") < parse_semver("1.0.0")
        True
        >>> parse_semver("1.0.0-alpha.2") < parse_semver("1.0.0-alpha.10")
        True
        >>> parse_semver("4.x") is None
        True
    """
    if len(text) > 256:
        return None
    m = _SEMVER.match(text)
    if m is None:
        return None
    major, minor, patch, pre = m.groups()
    if pre is None:
        pre_key: tuple[object, ...] = (1,)
    else:
        idents: list[object] = []
        for ident in pre.split("."):
            if ident.isdigit():
                if len(ident) > 1 and ident[0] == "0":
                    return None  # SemVer forbids leading zeros in numeric identifiers
                idents.append((0, int(ident), ""))
            else:
                idents.append((1, 0, ident))
        pre_key = (0, *idents)
    return (int(major), int(minor or 0), int(patch or 0), pre_key)
