"""abwb.stats: the statistics engine working on per-variant sufficient statistics.

Re-exports the public names of the submodules; nothing else belongs here. The PyMC
models are deliberately *not* re-exported, so ``import abwb.stats`` stays light:
use ``from abwb.stats.models import fit_hierarchical`` (needs the ``bayes`` extra).
"""

from abwb.stats.analysis import AnalysisTable, MetricKind, analyze
from abwb.stats.bayesian import BayesResult, NormalPrior, beta_binomial, normal_means
from abwb.stats.config import Alternative, AnalysisConfig, Correction
from abwb.stats.corrections import adjust_p_values, benjamini_hochberg, holm
from abwb.stats.decision import Decision, DecisionRule, Direction, Guardrail, Verdict, decide
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
from abwb.stats.power import Distribution, SampleSizeResult, compute_power, mde, sample_size
from abwb.stats.results import ComparisonResult, Status, nan_comparison
from abwb.stats.sequential import (
    always_valid_p_value,
    confidence_sequence,
    cs_radius_multiplier,
    mixing_rho_sq,
)
from abwb.stats.srm import SrmResult, sequential_srm_p_values, sequential_srm_test, srm_test
from abwb.stats.summary import MeanStats, RatioStats, require_binary

__all__ = [
    "Alternative",
    "AnalysisConfig",
    "AnalysisTable",
    "BayesResult",
    "ComparisonResult",
    "Correction",
    "Decision",
    "DecisionRule",
    "Direction",
    "Distribution",
    "GroupSequentialDesign",
    "GroupSequentialResult",
    "Guardrail",
    "MeanStats",
    "MetricKind",
    "NormalPrior",
    "RatioStats",
    "SampleSizeResult",
    "SpendingFunction",
    "SrmResult",
    "Status",
    "Verdict",
    "adjust_p_values",
    "alpha_spent",
    "always_valid_p_value",
    "analyze",
    "benjamini_hochberg",
    "beta_binomial",
    "compute_power",
    "confidence_sequence",
    "cs_radius_multiplier",
    "cuped_theta",
    "cuped_ttest",
    "decide",
    "group_sequential_design",
    "holm",
    "mde",
    "mixing_rho_sq",
    "nan_comparison",
    "normal_means",
    "p_value_and_ci",
    "proportions_ztest",
    "ratio_ztest",
    "require_binary",
    "sample_size",
    "sequential_srm_p_values",
    "sequential_srm_test",
    "srm_test",
    "welch_ttest",
]
