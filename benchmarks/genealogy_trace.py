"""The forward trace of a raw-material lot used in 500 batches, beside the trace of a lot
used in 1 batch measured in the same run. Goal: < 1 s.

The consumptions and output lots are written straight into the tables (the set-up is
not what is measured); the trace is ``ebr.materials.genealogy.forward``, then the whole
trace of the lot as the genealogy page builds it, and its drawing by Graphviz.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from audit.chain import Entity
from benchmarks.table import Row, median, print_table
from ebr import schema
from ebr.bootstrap import Services, build_services
from ebr.core.config import load_settings
from ebr.core.ids import new_id
from ebr.materials import genealogy, tracing
from ebr.materials.models import Container, Lot, Material, MaterialConsumption

BATCHES = int(os.environ.get("EBR_BENCH_TRACE_BATCHES", "500"))
RUNS = int(os.environ.get("EBR_BENCH_TRACE_RUNS", "5"))


def _lot(number: str, material: str, now: dt.datetime, produced_by: str | None = None) -> Lot:
    return Lot(
        id=new_id(), lot_number=number, material_code=material, status="released", expires_on=dt.date(2030, 1, 1),
        potency=None, quantity=Decimal("1000"), unit="kg", produced_by=produced_by, version=1, created_at=now,
        created_by="bench",
    )  # fmt: skip


def _prepare(services: Services, raw: str, batches: int) -> None:
    now = services.clock.now()
    with services.session_factory.begin() as session:
        for code in ("RM-B", "FG-B"):
            if session.get(Material, code) is None:
                session.add(Material(code=code, name=code, unit="kg", hazardous=False, allergen=False, hazard_note="",
                                     created_at=now, created_by="bench"))  # fmt: skip
        session.flush()
        lot = _lot(raw, "RM-B", now)
        session.add(lot)
        session.flush()
        session.add(Container(barcode=f"{raw}-001", lot_id=lot.id, quantity=Decimal(1000), unit="kg", created_at=now))
        session.flush()
        rows: list[Any] = []
        for i in range(batches):
            batch_id = new_id()
            rows.append(MaterialConsumption(id=new_id(), batch_id=batch_id, step_path="UP1.OP1.PH1", lot_id=lot.id,
                                            container=f"{raw}-001", quantity=Decimal("2"), unit="kg",
                                            consumed_at=now, consumed_by="bench"))  # fmt: skip
            rows.append(_lot(f"{raw}-FG-{i:04d}", "FG-B", now, produced_by=batch_id))
        session.add_all(rows[1::2])
        session.flush()
        session.add_all(rows[0::2])
        # The set-up writes GMP tables directly: one audit event keeps the same-transaction guard quiet.
        services.audit.record(session, actor="bench", action="bench.genealogy.setup", entity=Entity("lot", raw),
                              after={"batches": batches})  # fmt: skip


def _time(fn: Callable[[], object]) -> list[float]:
    fn()  # warm-up
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite"
        services = build_services(load_settings({"EBR_DATA_DIR": str(Path(tmp) / "data")}, database_url=url))
        try:
            schema.upgrade(services.engine)
            _prepare(services, "RAW-MANY", BATCHES)
            _prepare(services, "RAW-ONE", 1)

            def forward(lot: str) -> Callable[[], object]:
                def run() -> object:
                    with services.session_factory() as session:
                        node = genealogy.forward(session, lot)
                    assert len(node.children) in (1, BATCHES)
                    return node

                return run

            def whole(lot: str) -> Callable[[], object]:
                def run() -> object:
                    with services.session_factory() as session:
                        return tracing.of_lot(session, lot)

                return run

            many, one = _time(forward("RAW-MANY")), _time(forward("RAW-ONE"))
            many_whole, one_whole = _time(whole("RAW-MANY")), _time(whole("RAW-ONE"))
            with services.session_factory() as session:
                big, small = tracing.of_lot(session, "RAW-MANY"), tracing.of_lot(session, "RAW-ONE")
            drawn_big, drawn_small = _time(lambda: tracing.svg(big)), _time(lambda: tracing.svg(small))
        finally:
            services.close()
    rows = [
        Row(f"forward trace, lot in {BATCHES} batches", median(many), median(one), "s", "< 1 s"),
        Row(f"whole trace (page's data), {BATCHES} batches", median(many_whole), median(one_whole), "s"),
        Row(f"graph drawn by dot, {BATCHES} batches", median(drawn_big), median(drawn_small), "s"),
    ]
    print_table(
        f"Genealogy trace (SQLite, median of {RUNS}; baseline: a lot in 1 batch)", rows, baseline_name="1 batch"
    )

    # The figures are CPU time on a shared machine: say how busy it was.
    print(f"\nload average while measured: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
