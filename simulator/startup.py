"""What a server process does once before it answers its first request."""

from __future__ import annotations

from typing import Any

from . import snapshots
from .api import health, openai  # noqa: F401  (importing registers their routes)
from .api.routes import ProviderRouter
from .engine import tokens


def start_serving(django_app: Any) -> ProviderRouter:
    """Apply the startup configuration, load vocabularies and the scenario snapshot."""
    from .config import apply_startup_config

    apply_startup_config()
    tokens.warm_up()  # the first request must not pay for loading vocabularies
    snapshots.start()
    return ProviderRouter(django_app, openai.send_error)
