"""Executes one batch of the liquid example through the engine against the simulated plant.

Nothing is inserted by hand: every step is started, recorded and completed through
:class:`ebr.execution.service.Execution` with real signatures; dosing runs in the
equipment runtime against the simulator; weights come from the simulated Modbus
scale through the runtime. Timed holds are waited for on the demo's clock, which
skips ahead (the records show the hold's real length; nobody waits 30 minutes).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.execution import deviations, rules
from ebr.execution.models import BatchStep
from ebr.execution.service import Execution
from ebr.materials.services import Credentials
from equipment import commands as runtime_state
from recipes.phases import DataEntry, Dosing, SignOff, TimedHold, WeighDispense
from recipes.states import State

# What the operator enters at each data-entry and sample phase of the liquid example.
ANSWERS: dict[str, dict[str, str]] = {
    "UP1.OP2.PH2": {"value": "24.5"},
    "UP1.OP3.PH6": {"value": "clear"},
    "UP1.OP4.PH1": {"sample_id": "IPC-0001"},
    "UP1.OP4.PH2": {"value": "5.1"},
    "UP1.OP5.PH3": {"value": "1000"},
    "UP2.OP1.PH3": {"value": "0.4"},
    "UP2.OP2.PH1": {"value": "100.3"},
    "UP2.OP2.PH2": {"value": "9930"},
}
# What QC enters for the in-process sample (the step waits for it: wait_for_result).
QC_RESULTS: dict[str, dict[str, str]] = {"UP1.OP4.PH1": {"pH": "5.1", "assay": "99.8"}}
TARE_KG = Decimal("0.850")


class SkippingClock:
    """Wall-clock time plus an offset that only grows (so timed holds can be skipped)."""

    def __init__(self, offset: dt.timedelta) -> None:
        self.offset = offset

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def skip(self, seconds: Decimal) -> None:
        self.offset += dt.timedelta(seconds=int(seconds) + 1)


class LiquidBatch:
    """Drives one batch from release to completion; ``people`` maps a meaning to a user id."""

    def __init__(
        self,
        services: Services,
        execution: Execution,
        *,
        password: str,
        people: dict[str, str],
        place_weight: Callable[[float], None],
        clock: SkippingClock,
    ) -> None:
        self.services, self.ex, self.password, self.people = services, execution, password, people
        self.place_weight, self.clock = place_weight, clock
        self.operator = people["performed"]
        self.reviewers = {
            "verified": people["verified"],
            "reviewed": people["reviewed"],
            "approved": people["approved"],
        }

    def work(self, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        with unit_of_work(self.services.session_factory) as session:
            return fn(session, **kwargs)

    def sig(self, meaning: str) -> Credentials:
        return Credentials(user_id=self.people[meaning], password=self.password, meaning=meaning)

    def run(self, number: str) -> None:
        """Start the released batch ``number`` and complete every step the graph makes ready."""
        self.work(self.ex.start_batch, actor=self.operator, ref=number)
        self.finish(number)

    def finish(self, number: str) -> None:
        """Complete every step the graph makes ready until the batch is done."""
        for _ in range(200):  # a bound: the example has fewer than 40 phase executions
            ready = self.ready(number)
            if not ready:
                return
            self.step(number, ready[0])
        raise RuntimeError(f"batch {number} did not finish within 200 steps")

    def ready(self, number: str) -> list[str]:
        with self.services.session_factory() as session:
            batch = self.ex.batch(session, number)
            rows = session.scalars(
                select(BatchStep.path).where(
                    BatchStep.batch_id == batch.id,
                    BatchStep.level == "phase",
                    BatchStep.ready.is_(True),
                    BatchStep.state == State.IDLE.value,
                )
            )
            return sorted(rows)

    def step(self, number: str, path: str) -> None:
        with self.services.session_factory() as session:
            batch = self.ex.batch(session, number)
            phase = self.ex.ctx.plan(session, batch).phase(path)
            batch_id = batch.id
        self.work(self.ex.start_step, actor=self.operator, ref=number, path=path)
        params = phase.params
        if isinstance(params, Dosing):
            self.dose(number, path, f"{batch_id}:{path}")
        elif isinstance(params, WeighDispense):
            self.weigh(number, path, params)
        elif isinstance(params, TimedHold):
            self.clock.skip(rules.hold_seconds(Decimal(str(params.min_duration)), params.unit))
        elif path in ANSWERS and (isinstance(params, DataEntry) or "sample_id" in ANSWERS[path]):
            self.work(self.ex.record, actor=self.operator, ref=number, path=path, values=ANSWERS[path])
            for test, value in QC_RESULTS.get(path, {}).items():
                self.work(
                    self.ex.enter_sample_result, actor=self.people["reviewed"], ref=ANSWERS[path]["sample_id"],
                    test=test, value=value,
                )  # fmt: skip
        if isinstance(params, Dosing):
            self.close_deviations(number, self.reviewers)
        meanings = params.meanings if isinstance(params, SignOff) else phase.signatures
        signatures = [self.sig(m) for m in meanings]
        self.work(self.ex.complete_step, actor=self.operator, ref=number, path=path, signatures=signatures)

    def dose(self, number: str, path: str, phase_ref: str, timeout: float = 240.0) -> None:
        """Wait for the runtime to finish dosing; a phase it held (lost communication) is restarted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.services.session_factory() as session:
                snapshot = runtime_state.latest_state(session, phase_ref)
            state = None if snapshot is None else snapshot.state
            if state is runtime_state.PhaseStatus.COMPLETE:
                return
            if state is not None and state.final:
                raise RuntimeError(f"dosing {phase_ref} ended {state.value}: {snapshot.reason if snapshot else ''}")
            if state is runtime_state.PhaseStatus.HELD:
                self.restart(number, path)
            time.sleep(0.2)
        raise TimeoutError(f"dosing {phase_ref} did not finish in {timeout:.0f} s")

    def restart(self, number: str, path: str) -> None:
        """The supervisor's answer to a held dosing: record it (deviation), wait for the plant, restart."""
        self.work(self.ex.sync, ref=number)
        time.sleep(3.0)  # let the runtime reconnect before the phase is restarted
        supervisor = self.people["verified"]
        self.work(
            self.ex.command_phase, actor=supervisor, ref=number, path=path, command="restart",
            reason="communication with the plant restored",
            signature=Credentials(user_id=supervisor, password=self.password, meaning="restarted"),
        )  # fmt: skip

    def close_deviations(self, number: str, reviewers: dict[str, str]) -> list[str]:
        """Comment and sign every open deviation of ``number`` until it closes (verified, reviewed, approved)."""
        closed = []
        with self.services.session_factory() as session:
            batch = self.ex.batch(session, number)
            open_ones = [(d.number, d.severity) for d in deviations.for_batch(session, batch, open_only=True)]
        for dev, severity in open_ones:
            for meaning in rules.deviation_signatures(severity):
                with self.services.session_factory() as session:
                    found = deviations.get(session, self.ex.ctx, dev)
                    signed = deviations.signed_meanings(session, self.ex.ctx, found)
                if meaning in signed:
                    continue
                signer = Credentials(user_id=reviewers[meaning], password=self.password, meaning=meaning)
                self.work(
                    self.ex.handle_deviation, actor=reviewers[meaning], ref=dev, signature=signer,
                    comment=f"{meaning}: communication loss during dosing; dosing restarted and completed in limits",
                )  # fmt: skip
            closed.append(dev)
        return closed

    def weigh(self, number: str, path: str, params: WeighDispense) -> None:
        barcode = self.container_for(params.material)
        self.work(self.ex.record, actor=self.operator, ref=number, path=path, values={"container": barcode})
        self.place_weight(float(TARE_KG))
        self.settle()
        self.work(self.ex.record, actor=self.operator, ref=number, path=path, values={"tare": True})
        with self.services.session_factory() as session:
            step = self.ex.ctx.step(session, self.ex.batch(session, number), path)
            target = Decimal(next(e.value for e in session.scalars(self.entries(step.id)) if e.name == "target"))
        self.place_weight(float(TARE_KG + target))
        self.settle()
        self.work(self.ex.record, actor=self.operator, ref=number, path=path, values={"weigh": True})
        self.place_weight(0.0)

    @staticmethod
    def entries(step_id: str) -> Any:
        from ebr.execution.models import StepEntry

        return select(StepEntry).where(StepEntry.step_id == step_id, StepEntry.superseded_at.is_(None))

    def settle(self) -> None:
        # The scale reports "stable" after the weight stops changing; the runtime polls every 100 ms.
        time.sleep(1.5)

    def container_for(self, material: str) -> str:
        return f"C-{material}-1"
