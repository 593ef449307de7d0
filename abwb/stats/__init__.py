"""abwb.stats: the statistics engine working on per-variant sufficient statistics.

Re-exports the public names of the submodules; nothing else belongs here. The PyMC
models are deliberately *not* re-exported, so ``import abwb.stats`` stays light:
use ``from abwb.stats.models import fit_hierarchical`` (needs the ``bayes`` extra).
"""

from abwb.stats.analysis import AnalysisTable, MetricKind, analyze
from abwb.stats.bayesian import BayesResult, NormalPrior, beta_binomial, normal_means
from abwb.stats.config import Alternative, AnalysisConfig, Correction
from abwb.stats.corrections import adjust_p_values, benjamini_hochberg, holm
from abwb.stats.frequentist import (
    cuped_theta,
    cuped_ttest,
    p_value_and_ci,
    proportions_ztest,
    ratio_ztest,
    welch_ttest,
)
from abwb.stats.group_sequential import (
    GroupSequentialDesign,
    GroupSequentialResult,
    SpendingFunction,
    alpha_spent,
    group_sequential_design,
)
from abwb.stats.methods import (
    Comparison,
    Engine,
    Method,
    MethodOptions,
    compare,
    method_for,
)
from abwb.stats.power import Distribution, SampleSizeResult, compute_power, mde, sample_size
from abwb.stats.results import ComparisonResult, Status, nan_comparison
from abwb.stats.sequential import (
    always_valid,
    always_valid_p_value,
    confidence_sequence,
    cs_radius_multiplier,
    cuped_confidence_sequence,
    mixing_rho_sq,
    ratio_confidence_sequence,
)
from abwb.stats.ship_rule import (
    Direction,
    Guardrail,
    GuardrailStatus,
    Outcome,
    RuleName,
    ShipDecision,
    ShipRule,
    TreatmentVerdict,
    Verdict,
    decide,
    guardrail_status,
    outcome,
)
from abwb.stats.srm import SrmResult, sequential_srm_p_values, sequential_srm_test, srm_test
from abwb.stats.summary import MeanStats, RatioStats, require_binary

__all__ = [
    "Alternative",
    "AnalysisConfig",
    "AnalysisTable",
    "BayesResult",
    "Comparison",
    "ComparisonResult",
    "Correction",
    "Direction",
    "Distribution",
    "Engine",
    "GroupSequentialDesign",
    "GroupSequentialResult",
    "Guardrail",
    "GuardrailStatus",
    "MeanStats",
    "Method",
    "MethodOptions",
    "MetricKind",
    "NormalPrior",
    "Outcome",
    "RatioStats",
    "RuleName",
    "SampleSizeResult",
    "ShipDecision",
    "ShipRule",
    "SpendingFunction",
    "SrmResult",
    "Status",
    "TreatmentVerdict",
    "Verdict",
    "adjust_p_values",
    "alpha_spent",
    "always_valid",
    "always_valid_p_value",
    "analyze",
    "benjamini_hochberg",
    "beta_binomial",
    "compare",
    "compute_power",
    "confidence_sequence",
    "cs_radius_multiplier",
    "cuped_confidence_sequence",
    "cuped_theta",
    "cuped_ttest",
    "decide",
    "group_sequential_design",
    "guardrail_status",
    "holm",
    "mde",
    "method_for",
    "mixing_rho_sq",
    "nan_comparison",
    "normal_means",
    "outcome",
    "p_value_and_ci",
    "proportions_ztest",
    "ratio_confidence_sequence",
    "ratio_ztest",
    "require_binary",
    "sample_size",
    "sequential_srm_p_values",
    "sequential_srm_test",
    "srm_test",
    "welch_ttest",
]
