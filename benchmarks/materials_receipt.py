"""Goods receipt of a 200-container lot with its labels (PDF), beside the receipt of a
1-container lot measured in the same run. Goal: < 3 s.

The receipt (lot, 200 containers, audit event, one transaction) and the label PDF
(Code128 + QR per container, drawn by reportlab: ebr/materials/labels.py) are timed together
and apart, on SQLite.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.table import Row, median, print_table
from ebr import schema
from ebr.bootstrap import Services, build_services
from ebr.core.config import load_settings
from ebr.execution.service import build
from ebr.materials import labels, warehouse

CONTAINERS = int(os.environ.get("EBR_BENCH_RECEIPT_CONTAINERS", "200"))
RUNS = int(os.environ.get("EBR_BENCH_RECEIPT_RUNS", "3"))


def _receive(services: Services, lot: str, count: int) -> float:
    mats = build(services).materials
    start = time.perf_counter()
    with services.session_factory.begin() as session:
        warehouse.receive_goods(
            mats, session, actor="bench", material="RM-B", lot_number=lot, supplier="Acme", supplier_lot="S-1",
            containers=["25.000"] * count, expires_on=services.clock.now().date() + dt.timedelta(days=700),
        )  # fmt: skip
    return time.perf_counter() - start


def _labels(services: Services, lot: str) -> float:
    mats = build(services).materials
    start = time.perf_counter()
    with services.session_factory() as session:
        found = warehouse.labels_of(mats, session, lot)
    pdf = labels.labels_pdf(found)
    assert pdf.startswith(b"%PDF")
    return time.perf_counter() - start


def _series(fn: Callable[[int], float]) -> list[float]:
    return [fn(i) for i in range(RUNS)]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite"
        services = build_services(load_settings({"EBR_DATA_DIR": str(Path(tmp) / "data")}, database_url=url))
        try:
            schema.upgrade(services.engine)
            with services.session_factory.begin() as session:
                build(services).materials.create_material(session, actor="bench", code="RM-B", name="B", unit="kg")
            _receive(services, "WARM", 1)
            _labels(services, "WARM")  # warm-up: reportlab's import and the fonts
            big_receipt = _series(lambda i: _receive(services, f"BIG-{i}", CONTAINERS))
            big_labels = _series(lambda i: _labels(services, f"BIG-{i}"))
            one_receipt = _series(lambda i: _receive(services, f"ONE-{i}", 1))
            one_labels = _series(lambda i: _labels(services, f"ONE-{i}"))
        finally:
            services.close()
    both = [a + b for a, b in zip(big_receipt, big_labels, strict=True)]
    base = [a + b for a, b in zip(one_receipt, one_labels, strict=True)]
    rows = [
        Row(f"receipt + labels PDF, {CONTAINERS} containers", median(both), median(base), "s", "< 3 s"),
        Row(f"receipt alone, {CONTAINERS} containers", median(big_receipt), median(one_receipt), "s"),
        Row(f"labels PDF alone, {CONTAINERS} labels", median(big_labels), median(one_labels), "s"),
    ]
    print_table(
        f"Goods receipt with labels (SQLite, median of {RUNS}; baseline: the same for 1 container)",
        rows,
        baseline_name="1 container",
    )

    # The figures are CPU time on a shared machine: say how busy it was.
    print(f"\nload average while measured: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
