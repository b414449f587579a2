"""The andon board on a 1920×1080 TV follows a runtime state change within 2 s, readable from
5 m; an operator gives a stop its reason at tablet size, one large tap per level."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from audit.chain import Entity
from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.performance import services as perf
from tests.e2e.test_ui_batch import log_in
from tests.integration.execution.conftest import make_people
from tests.support.browser import TABLET, LiveServer, screenshot

TV = {"width": 1920, "height": 1080}
AREA, UNIT = "Formulation", "R-101"


@pytest.fixture
def floor(services: Services) -> Services:
    make_people(services)
    with unit_of_work(services.session_factory) as session:
        services.equipment.ensure_area(session, actor="admin", name=AREA)
        for tag in (UNIT, "R-102", "R-103", "R-104", "R-105", "R-106"):
            services.equipment.register(session, actor="admin", tag=tag, kind="unit", name=tag, area=AREA, reason="t")
    services.settings.data_dir.mkdir(parents=True, exist_ok=True)
    (services.settings.data_dir / "performance.yaml").write_text("stop_threshold_minutes: 0\n", encoding="utf-8")
    return services


def tab_at(chromium: Any, server: LiveServer, viewport: dict[str, int]) -> Iterator[Any]:
    context = chromium.new_context(viewport=viewport, base_url=server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.errors = []
    tab.on("console", lambda msg: msg.type == "error" and tab.errors.append(msg.text))
    tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    yield tab
    context.close()


@pytest.fixture
def tv(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from tab_at(chromium, live_server, TV)


@pytest.fixture
def tablet(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from tab_at(chromium, live_server, TABLET)


def alarm(services: Services) -> None:
    """What the runtime records when it raises an alarm on the unit (its audited event)."""
    with unit_of_work(services.session_factory) as session:
        services.audit.record(
            session, actor="system:runtime", action="equipment.alarm.raised", entity=Entity("alarm", "1"),
            after={"unit": UNIT, "condition": "high_level", "value": "98"}, reason="level 98 % over 95 %",
        )  # fmt: skip


@pytest.mark.requirement("URS-OEE-005")
def test_the_andon_board_turns_a_unit_red_within_two_seconds_and_reads_from_five_metres(
    tv: Any, floor: Services
) -> None:
    log_in(tv, "olga")
    tv.goto(f"/andon/{AREA}")
    tile = tv.locator(f'article[data-unit="{UNIT}"]')
    tile.wait_for()
    tv.wait_for_timeout(1500)  # the stream is connected (its first board has been swapped in)
    started = time.monotonic()
    alarm(floor)
    tv.locator(f'article[data-unit="{UNIT}"][data-state="down"]').wait_for(timeout=2000)
    assert time.monotonic() - started < 2.0
    assert "DOWN" in tile.inner_text()
    assert "alarm high_level" in tile.inner_text()
    # Readable from 5 m: the state in ≥ 48 px type, every tile on the screen without scrolling.
    size = tv.evaluate(
        f"parseFloat(getComputedStyle(document.querySelector('article[data-unit=\"{UNIT}\"] .tile-state')).fontSize)"
    )
    assert size >= 48
    assert tv.evaluate("document.scrollingElement.scrollWidth") <= TV["width"]
    boxes = [tv.locator("article.tile").nth(i).bounding_box() for i in range(tv.locator("article.tile").count())]
    assert len(boxes) == 6
    assert all(b["y"] + b["height"] <= TV["height"] for b in boxes)
    screenshot(tv, "andon-tv")
    assert tv.errors == [], tv.errors


@pytest.mark.requirement("URS-OEE-002")
def test_an_operator_gives_a_stop_its_reason_in_three_large_taps_on_the_tablet(tablet: Any, floor: Services) -> None:
    with unit_of_work(floor.session_factory) as session:
        perf.set_state(session, floor.audit, floor.clock, actor="sam", unit=UNIT, state="down", cause="seal leak")
    log_in(tablet, "olga")
    tablet.goto(f"/performance/stops?area={AREA}")
    tablet.get_by_role("link", name="Give reason").click()
    for label in ("Equipment failure", "Mechanical"):
        target = tablet.get_by_role("link", name=label, exact=True)
        box = target.bounding_box()
        assert box["height"] >= 64, f"{label}: {box}"
        target.click()
    record = tablet.get_by_role("button", name="Record “Equipment failure / Mechanical”")
    assert record.bounding_box()["height"] >= 64
    screenshot(tablet, "stop-reason-tablet")
    record.click()
    tablet.get_by_text("Reason recorded: Equipment failure / Mechanical").wait_for()
    assert tablet.evaluate("document.scrollingElement.scrollWidth") <= TABLET["width"]
    assert tablet.errors == [], tablet.errors
