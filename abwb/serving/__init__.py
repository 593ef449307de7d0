"""Online serving: assign units, evaluate flags, hand exposures to the exposure log."""

from abwb.serving.assignment import FlagsResult, Serving, UnitRequest, UnitResult

__all__ = ["FlagsResult", "Serving", "UnitRequest", "UnitResult"]
