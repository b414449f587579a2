"""Running an :class:`EquipmentRuntime` in a background thread with its own event loop.

For tests and the embedded demo, where the runtime shares a process with other
work. Production runs ``ebr runtime`` as its own process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from audit.trail import AuditTrail
from ebr.core.clock import Clock
from equipment.config import PlantConfig
from equipment.runtime import EquipmentRuntime


class RuntimeThread:
    """An EquipmentRuntime in a daemon thread; ``start()``, ``wait_connected()``, ``stop()``."""

    def __init__(
        self,
        config: PlantConfig,
        *,
        factory: sessionmaker[Session],
        audit: AuditTrail,
        clock: Clock,
        database_url: str | None = None,
        **options: Any,
    ) -> None:
        self.config = config
        self.runtime = EquipmentRuntime(
            config=config, factory=factory, audit=audit, clock=clock, database_url=database_url, **options
        )
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="equipment-runtime", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._run())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self._error = exc
            self._started.set()
        finally:
            self._loop.close()

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        await self.runtime.start()
        self._started.set()
        # Ends on stop() or when a loop gave up (RuntimeFatal, kept in _error for the caller).
        await self.runtime.serve(self._stop)

    def start(self) -> RuntimeThread:
        self._thread.start()
        if not self._started.wait(timeout=30):
            raise TimeoutError("the equipment runtime did not start within 30 s")
        if self._error is not None:
            raise self._error
        return self

    def call(self, fn: Any) -> None:
        self._loop.call_soon_threadsafe(fn)

    def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(self.runtime.io.connected.values()) or len(self.runtime.io.latest) < len(self.config.tags):
            if time.monotonic() > deadline:
                raise TimeoutError(f"runtime not connected: {self.runtime.io.connected}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def __enter__(self) -> RuntimeThread:
        return self if self._thread.is_alive() else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
