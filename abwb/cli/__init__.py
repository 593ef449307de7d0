"""The ``abwb`` command line."""

from abwb.cli.main import main

__all__ = ["main"]
