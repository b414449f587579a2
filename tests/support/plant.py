"""The real plant simulator and the real equipment runtime, for tests.

``start_simulator(tmp_path)`` runs ``python -m equipment.simulator`` on free ports
and writes a plant configuration for it (see :mod:`equipment.simulator.launch`);
``start_runtime(services, config_path)`` runs the equipment runtime in a background
thread against the test's database. Both stop cleanly as context managers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ebr.bootstrap import Services
from equipment.config import load_plant_config
from equipment.runtime_thread import RuntimeThread
from equipment.simulator.launch import SimulatorHandle, free_port, start_simulator, write_config

RuntimeHandle = RuntimeThread

__all__ = ["RuntimeHandle", "SimulatorHandle", "free_port", "start_runtime", "start_simulator", "write_config"]


def start_runtime(services: Services, config_path: Path, **options: Any) -> RuntimeThread:
    """Start an equipment runtime for ``config_path`` against ``services``' database."""
    handle = RuntimeThread(
        load_plant_config(config_path),
        factory=services.session_factory,
        audit=services.audit,
        clock=services.clock,
        database_url=services.settings.database_url,
        **options,
    )
    return handle.start()
