"""The closed set of config kinds, defined once.

What belongs here: :data:`KINDS`, one :class:`ConfigKind` row per kind of config
object (experiment, segment, layer, holdout, flag, rollout, metric): its name, the
URL segment of its routes, its :class:`~abwb.config.ConfigBundle` section, its model
class and the name of its schema in the OpenAPI document. The bundle, the stores,
the routes and the schemas read this table instead of spelling the kinds out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from abwb.config.experiment import Experiment
from abwb.config.flag import Flag
from abwb.config.layer import Holdout, Layer
from abwb.config.metric import MetricDefinition
from abwb.config.rollout import Rollout
from abwb.config.segment import Segment

__all__ = ["KINDS", "ConfigKind", "Kind", "kind_named"]

#: A kind's name, as stored and as named in API paths of the audit log.
Kind = Literal["experiment", "segment", "layer", "holdout", "flag", "rollout", "metric"]


@dataclass(frozen=True, slots=True)
class ConfigKind:
    """One kind of config object.

    Attributes:
        name: The kind (``experiment``).
        plural: URL segment of its routes (``/v1/experiments``).
        section: Its section of a :class:`~abwb.config.ConfigBundle` (``experiments``).
        model: The msgspec model class.
        schema_name: Its component name in the OpenAPI document.
    """

    name: Kind
    plural: str
    section: str
    model: type[msgspec.Struct]
    schema_name: str


#: Every config kind, in bundle order (referenced kinds after those they reference
#: would be nicer, but the order is the historical bundle order and files rely on it).
KINDS: tuple[ConfigKind, ...] = (
    ConfigKind("experiment", "experiments", "experiments", Experiment, "Experiment"),
    ConfigKind("segment", "segments", "segments", Segment, "Segment"),
    ConfigKind("layer", "layers", "layers", Layer, "Layer"),
    ConfigKind("holdout", "holdouts", "holdouts", Holdout, "Holdout"),
    ConfigKind("flag", "flags", "flags", Flag, "Flag"),
    ConfigKind("rollout", "rollouts", "rollouts", Rollout, "Rollout"),
    ConfigKind("metric", "metrics", "metrics", MetricDefinition, "MetricDefinition"),
)

_BY_NAME: dict[str, ConfigKind] = {k.name: k for k in KINDS}


def kind_named(name: str) -> ConfigKind:
    """The kind called ``name``.

    Raises:
        KeyError: no such kind.

    Examples:
        >>> kind_named("flag").plural
        'flags'
    """
    return _BY_NAME[name]
