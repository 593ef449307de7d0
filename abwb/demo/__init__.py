"""The demo workspace and scenario behind ``abwb demo``."""

from abwb.demo.scenario import demo_bundle, sample_users

__all__ = ["demo_bundle", "sample_users"]
