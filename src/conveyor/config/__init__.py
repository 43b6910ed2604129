"""Configuration: the typed models of ``conveyor.yaml`` and their loader."""

from conveyor.config.loader import (
    MASK,
    LoadedConfig,
    apply_overrides,
    config_fingerprint,
    load_config,
    mask_secrets,
    parse_config,
)
from conveyor.config.models import ConveyorConfig

__all__ = [
    "MASK",
    "ConveyorConfig",
    "LoadedConfig",
    "apply_overrides",
    "config_fingerprint",
    "load_config",
    "mask_secrets",
    "parse_config",
]
