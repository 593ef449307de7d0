"""The demo workspace (shipped as ``demo.yaml``) and its synthetic users."""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np

from abwb.config.bundle import ConfigBundle
from abwb.config.io import parse_text

__all__ = ["demo_bundle", "sample_users"]

COUNTRIES = ["US", "CA", "DE", "FR", "GB", "BR", "JP", "IN"]
PLANS = ["free", "pro", "enterprise"]
APP_VERSIONS = ["4.0.3", "4.1.0", "4.2.0", "4.2.1", "4.3.0", "5.0.0"]


def demo_bundle() -> ConfigBundle:
    """The demo config, validated."""
    text = resources.files("abwb.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    return ConfigBundle.from_data(parse_text(text, source="demo.yaml"))


def sample_users(n: int, *, seed: int = 7) -> list[tuple[str, dict[str, Any]]]:
    """``n`` synthetic users: (unit id, attributes) with country, plan and app version."""
    rng = np.random.default_rng(seed)
    countries = rng.choice(COUNTRIES, size=n, p=[0.35, 0.1, 0.15, 0.1, 0.1, 0.1, 0.05, 0.05])
    plans = rng.choice(PLANS, size=n, p=[0.7, 0.25, 0.05])
    versions = rng.choice(APP_VERSIONS, size=n)
    return [
        (
            f"user-{i:06d}",
            {"country": str(c), "plan": str(p), "app": {"version": str(v)}},
        )
        for i, (c, p, v) in enumerate(zip(countries, plans, versions, strict=True))
    ]
