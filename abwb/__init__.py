"""abwb — an A/B-testing and feature-flag workbench.

Import what you need from the subpackages (``abwb.config``, ``abwb.assignment``,
``abwb.stats``, ...); the names below are the most used ones.
"""

from abwb.assignment import Assigner, AssignmentResult, Decision, Reason, bucket
from abwb.config import ConfigBundle, Experiment, Variant, load_bundle
from abwb.errors import AbwbError, Conflict, InvalidInput, NotFound, StorageError
from abwb.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "AbwbError",
    "Assigner",
    "AssignmentResult",
    "ConfigBundle",
    "Conflict",
    "Decision",
    "Experiment",
    "InvalidInput",
    "NotFound",
    "Reason",
    "Settings",
    "StorageError",
    "Variant",
    "__version__",
    "bucket",
    "load_bundle",
]
