"""Compile what is valid: broken config objects are quarantined, never the whole snapshot.

What belongs here: :func:`compile_valid`, the defence in depth behind serialised config
writes. A bundle that does not compile (a dangling reference stored by an older build,
a document edited by hand) used to block every newer version: the holder kept serving
the old snapshot, so later writes — a flag **kill** among them — were never served.
Now the objects named by the compile error or by
:func:`~abwb.config.bundle.validate_bundle` are taken out (:class:`QuarantinedObject`:
not served, logged, reported on the snapshot for health checks) and the rest is
compiled. A killed flag is never taken out: it keeps serving its off variation with its
rules set aside, so kill switches keep flowing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from abwb.assignment.engine import Assigner
from abwb.config.bundle import ConfigBundle, validate_bundle
from abwb.errors import AbwbError
from abwb.flags.evaluator import FlagEvaluator

__all__ = ["QuarantinedObject", "compile_valid"]

log = logging.getLogger(__name__)

_INDEXED = re.compile(r"^(?P<section>[a-z]+)\[(?P<index>\d+)\]")
#: Sections tried one object at a time when no problem names the culprit.
_SECTIONS = ("experiments", "rollouts", "flags", "holdouts", "layers", "segments", "metrics")


@dataclass(frozen=True, slots=True)
class QuarantinedObject:
    """A config object left out of a snapshot because it does not compile.

    Attributes:
        section: Its bundle section (``experiments``, ``flags``, ...).
        key: Its key.
        reason: The problem found.
        served: What is served instead: ``nothing``, or ``killed`` for a killed flag
            kept with its rules set aside (its off variation is served).
    """

    section: str
    key: str
    reason: str
    served: str = "nothing"


def compile_valid(
    bundle: ConfigBundle, compile: Callable[[ConfigBundle], Assigner]
) -> tuple[ConfigBundle, Assigner, FlagEvaluator, tuple[QuarantinedObject, ...]]:
    """Compile ``bundle``, quarantining the objects that stop it from compiling.

    Args:
        bundle: The config as stored.
        compile: Builds the assigner of a bundle.

    Returns:
        ``(bundle served, assigner, flag evaluator, quarantined objects)``; the bundle
        keeps its version.

    Raises:
        AbwbError: the bundle fails to compile and no object can be blamed.
    """
    quarantined: list[QuarantinedObject] = []
    for _ in range(1 + sum(len(getattr(bundle, s)) for s in _SECTIONS)):
        try:
            assigner = compile(bundle)
            flags = FlagEvaluator(bundle, assigner)
        except AbwbError as exc:
            broken = _culprits(bundle, compile, exc)
            if not broken:
                raise
            bundle = _set_aside(bundle, broken, quarantined)
            continue
        for q in quarantined:
            log.error(
                "config %d: %s %r quarantined (served: %s): %s",
                bundle.version, q.section, q.key, q.served, q.reason,
            )
        return bundle, assigner, flags, tuple(quarantined)
    raise AbwbError(f"config {bundle.version} does not compile even after quarantine")


def _culprits(
    bundle: ConfigBundle, compile: Callable[[ConfigBundle], Assigner], exc: AbwbError
) -> dict[tuple[str, str], str]:
    """``(section, key) → reason`` of the objects to blame for ``exc``."""
    found: dict[tuple[str, str], str] = {}
    for problem in validate_bundle(bundle):
        match = _INDEXED.match(problem.path)
        if match:
            objs = getattr(bundle, match.group("section"))
            index = int(match.group("index"))
            if index < len(objs):
                found.setdefault((match.group("section"), objs[index].key), str(problem))
    if found:
        return found
    # Nothing the validator sees: compile with one object left out at a time.
    for section in _SECTIONS:
        for obj in getattr(bundle, section):
            rest = [o for o in getattr(bundle, section) if o.key != obj.key]
            try:
                compile(msgspec.structs.replace(bundle, **{section: rest}))
            except AbwbError:
                continue
            return {(section, obj.key): str(exc)}
    return {}


def _set_aside(
    bundle: ConfigBundle, broken: dict[tuple[str, str], str], out: list[QuarantinedObject]
) -> ConfigBundle:
    changes: dict[str, list[object]] = {}
    for section in {s for s, _ in broken}:
        kept: list[object] = []
        for obj in getattr(bundle, section):
            reason = broken.get((section, obj.key))
            if reason is None:
                kept.append(obj)
            elif section == "flags" and obj.killed and (obj.rules or obj.prerequisites):
                kept.append(msgspec.structs.replace(obj, rules=[], prerequisites=[]))
                out.append(QuarantinedObject(section, obj.key, reason, served="killed"))
            else:
                out.append(QuarantinedObject(section, obj.key, reason))
        changes[section] = kept
    return msgspec.structs.replace(bundle, **changes)
