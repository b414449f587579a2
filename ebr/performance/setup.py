"""The performance file of the installation, read once per process from the composition root's
settings (``EBR_PERFORMANCE_FILE`` or ``$EBR_DATA_DIR/performance.yaml``)."""

from __future__ import annotations

import os

from ebr.bootstrap import Services, input_limits
from ebr.performance.config import PerformanceConfig, config_path, load

KEY = "performance_config"


def configuration(services: Services) -> PerformanceConfig:
    """The parsed performance file (kept in ``services.extras``); ValidationError if it is wrong."""
    found = services.extras.get(KEY)
    if not isinstance(found, PerformanceConfig):
        path = config_path(services.settings.data_dir, os.environ)
        found = load(path, limits=input_limits(services.settings))
        services.extras[KEY] = found
    return found


def plant_zone_name(services: Services) -> str:
    return configuration(services).timezone or services.settings.plant_timezone
