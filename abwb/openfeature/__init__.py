"""OpenFeature provider for abwb flags (optional extra ``openfeature``)."""

from abwb.openfeature.provider import REASONS, AbwbProvider, EvaluatorSource, SnapshotSource

__all__ = ["REASONS", "AbwbProvider", "EvaluatorSource", "SnapshotSource"]
