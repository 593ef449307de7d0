"""Simulated experiments: real assignment, synthetic behaviour, injectable faults."""

from abwb.simulate.config import (
    ConversionStream,
    GaussianStream,
    Novelty,
    SimulationConfig,
    Stream,
)
from abwb.simulate.traffic import SimulationResult, append_to_store, simulate

__all__ = [
    "ConversionStream",
    "GaussianStream",
    "Novelty",
    "SimulationConfig",
    "SimulationResult",
    "Stream",
    "append_to_store",
    "simulate",
]
