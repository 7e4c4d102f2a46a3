"""Startup configuration (placeholder until the YAML loader lands)."""


def apply_startup_config() -> None:
    return None
