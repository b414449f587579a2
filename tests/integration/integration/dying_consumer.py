"""A worker's ERP consumer in its own process, for a test to kill in the middle of a message.

``python -m tests.integration.integration.dying_consumer CONFIG.json``: builds the
installation's services on the test's database (as the ``ebr`` command does), points the
ERP channel at the test's RabbitMQ names and consumes until killed. Applying order
``hang_on`` writes a line to ``marker`` and then waits forever: the moment the test kills
the process (SIGKILL: nothing of the consumer runs after it).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ebr.bootstrap import build_services
from ebr.core.clock import SystemClock
from ebr.core.config import load_settings
from ebr.integration.setup import build
from tests.integration.integration.test_amqp import Names, use_amqp


def main(config: dict[str, Any]) -> None:
    settings = load_settings(
        {"EBR_DATA_DIR": config["data_dir"]}, database_url=config["database_url"], secret_key="test-secret-key",
        testing=True, secure_cookies=False,
    )  # fmt: skip
    wiring = build(build_services(settings, clock=SystemClock()))
    use_amqp(wiring, Names(**config["names"]))
    marker = Path(config["marker"])
    real_apply = wiring.inbound._apply

    def hanging(session: Any, doc: Any, order: Any, mid: str, work: Any) -> tuple[str, bool]:
        if order.order_id == config["hang_on"]:
            with marker.open("a") as out:
                out.write(f"applying {order.order_id}\n")
            while True:
                time.sleep(1)
        return real_apply(session, doc, order, mid, work)

    setattr(wiring.inbound, "_apply", hanging)  # noqa: B010 - the test's way into the process
    wiring.consumer().run_until(threading.Event(), retry_seconds=0.1)


if __name__ == "__main__":
    main(json.loads(Path(sys.argv[1]).read_text()))
