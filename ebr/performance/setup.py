"""The performance file of the installation, read once per process from the composition root's
settings (``EBR_PERFORMANCE_FILE`` or ``$EBR_DATA_DIR/performance.yaml``)."""

from __future__ import annotations

from ebr.bootstrap import Services, input_limits
from ebr.performance.config import DEFAULT_NAME, PerformanceConfig, load

KEY = "performance_config"


def configuration(services: Services) -> PerformanceConfig:
    """The parsed performance file (kept in ``services.extras``); ValidationError if it is wrong."""
    found = services.extras.get(KEY)
    if not isinstance(found, PerformanceConfig):
        path = services.settings.performance_file or services.settings.data_dir / DEFAULT_NAME
        found = load(path, limits=input_limits(services.settings))
        services.extras[KEY] = found
    return found


def plant_zone_name(services: Services) -> str:
    return configuration(services).timezone or services.settings.plant_timezone
