"""Layers (mutual-exclusion bucket spaces) and holdouts (units kept out of experiments)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from abwb.config.validation import FRACTION, ProblemList, check_fraction, check_key, raise_if

__all__ = ["Holdout", "Layer"]


class Layer(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A bucket space that experiments divide among themselves.

    A unit's layer bucket is ``bucket(layer salt, unit_id)``; each experiment in the
    layer owns disjoint ranges of it, so a unit is in at most one of them.

    Args:
        key: Unique slug; also the default salt.
        name: Human-readable name.
        unit_type: The unit type bucketed in the layer.
        salt: Hash salt; defaults to ``key``.
        description: What the layer keeps apart.
        version: Optimistic-concurrency version, set by the store (ignored on create).
    """

    key: str
    name: str = ""
    unit_type: str = "user"
    salt: str = ""
    description: str = ""
    version: int = 0

    def __post_init__(self) -> None:
        raise_if(self.problems())

    @property
    def effective_salt(self) -> str:
        """The salt actually hashed: ``salt`` or ``layer:{key}``."""
        return self.salt or f"layer:{self.key}"

    def problems(self) -> ProblemList:
        """Self-contained problems."""
        problems = ProblemList()
        check_key(problems, "key", self.key)
        return problems


class Holdout(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A stable share of units kept out of every experiment that names the holdout.

    Units whose holdout bucket falls below ``traffic_fraction`` see the default
    experience; comparing them with everyone else measures the cumulative effect
    of a programme of experiments.

    Args:
        key: Unique slug; also the default salt.
        traffic_fraction: Share (0 to 1) of units held out of the experiments naming it.
        name: Human-readable name.
        unit_type: The unit type it holds out.
        salt: Hash salt; defaults to ``key``.
        version: Optimistic-concurrency version, set by the store (ignored on create).
    """

    key: str
    traffic_fraction: Annotated[float, FRACTION]
    name: str = ""
    unit_type: str = "user"
    salt: str = ""
    version: int = 0

    def __post_init__(self) -> None:
        raise_if(self.problems())

    @property
    def effective_salt(self) -> str:
        """The salt actually hashed: ``salt`` or ``holdout:{key}``."""
        return self.salt or f"holdout:{self.key}"

    def problems(self) -> ProblemList:
        """Self-contained problems."""
        problems = ProblemList()
        check_key(problems, "key", self.key)
        check_fraction(problems, "traffic_fraction", self.traffic_fraction)
        return problems
