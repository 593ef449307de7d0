"""Config models (msgspec Structs) and their validation."""

from abwb.config.bundle import ConfigBundle, decode_object, validate_bundle
from abwb.config.experiment import (
    BUCKETS,
    Experiment,
    ExperimentMetrics,
    ExperimentStatus,
    LayerPlacement,
    Schedule,
    Variant,
)
from abwb.config.flag import Flag, FlagRule, FlagType, Prerequisite, SplitShare
from abwb.config.io import dump_bundle, load_bundle, parse_text
from abwb.config.layer import Holdout, Layer
from abwb.config.metric import Capping, MetricDefinition, MetricKind
from abwb.config.rollout import Rollout, RolloutStatus, RolloutStep
from abwb.config.segment import Segment

__all__ = [
    "BUCKETS",
    "Capping",
    "ConfigBundle",
    "Experiment",
    "ExperimentMetrics",
    "ExperimentStatus",
    "Flag",
    "FlagRule",
    "FlagType",
    "Holdout",
    "Layer",
    "LayerPlacement",
    "MetricDefinition",
    "MetricKind",
    "Prerequisite",
    "Rollout",
    "RolloutStatus",
    "RolloutStep",
    "Schedule",
    "Segment",
    "SplitShare",
    "Variant",
    "decode_object",
    "dump_bundle",
    "load_bundle",
    "parse_text",
    "validate_bundle",
]

# The targeting grammar check runs inside validate_bundle. It is installed here, after
# every config module is loaded, because abwb.targeting must not import abwb.config.
from abwb.config.bundle import register_condition_checker
from abwb.targeting.grammar import condition_problems

register_condition_checker(condition_problems)
