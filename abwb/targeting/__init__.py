"""Targeting: the condition language, its compiler, overlap analysis and context providers."""

from abwb.targeting.compiler import (
    TargetingCompiler,
    compile_clause,
    compile_condition,
    make_compiler,
    resolve,
)
from abwb.targeting.context import ContextProvider, MemoryContextProvider, merge_attributes
from abwb.targeting.grammar import OPERATORS, condition_problems, describe
from abwb.targeting.overlap import (
    OverlapEstimate,
    OverlapVerdict,
    analyse_overlap,
    estimate_overlap,
)
from abwb.targeting.semver import parse_semver

__all__ = [
    "OPERATORS",
    "ContextProvider",
    "MemoryContextProvider",
    "OverlapEstimate",
    "OverlapVerdict",
    "TargetingCompiler",
    "analyse_overlap",
    "compile_clause",
    "compile_condition",
    "condition_problems",
    "describe",
    "estimate_overlap",
    "make_compiler",
    "merge_attributes",
    "parse_semver",
    "resolve",
]
