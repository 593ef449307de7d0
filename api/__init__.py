"""The abwb HTTP service (Litestar): assignment, configuration, events, health."""

from api.app import Services, create_app

__all__ = ["Services", "create_app"]
