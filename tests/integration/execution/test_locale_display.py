"""The weighing panel's figures (target, containers on hand) in the plant's locale; the API stays canonical."""

from __future__ import annotations

import html
from dataclasses import replace

import pytest
from flask import Flask

from tests.integration.execution.conftest import Floor, make_lot
from tests.integration.execution.test_materials import _weigh_step
from tests.integration.web.test_verification_queue import client_for


@pytest.mark.parametrize(("locale", "shown"), [("de_DE", "40,125 kg"), ("en", "40.125 kg")])
def test_the_weighing_panel_shows_quantities_with_the_locales_decimal_symbol(
    app: Flask, floor: Floor, locale: str, shown: str
) -> None:
    floor.services.settings = replace(floor.services.settings, plant_locale=locale)
    make_lot(floor, "RM-X", "L-X", "40.125")
    number = _weigh_step(floor)
    olga = client_for(app, "olga")
    page = html.unescape(olga.get(f"/batches/{number}").get_data(as_text=True))
    assert f"lot L-X, {shown}" in page
    api = olga.get("/api/lots").json
    assert {lot["lot_number"]: lot["quantity"] for lot in api}["L-X"] == "40.125"
