"""Helpers of the materials tests: a material in the master and a lot received through the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ebr.bootstrap import Services
from tests.integration.execution.api_support import Api


def today(services: Services) -> dt.date:
    return services.clock.now().date()


def material(quinn: Api, code: str = "RM-X", **extra: Any) -> Any:
    body = {"code": code, "name": f"Material {code}", "unit": "kg", "storage": "15-25 °C, dry"} | extra
    return quinn.call("POST", "/api/materials", body, expect=201)


def receipt(services: Services, lot: str = "L-100", code: str = "RM-X", **extra: Any) -> dict[str, Any]:
    day = today(services)
    return {
        "material": code,
        "lot_number": lot,
        "supplier": "Acme Chemicals",
        "supplier_lot": "AC-7781",
        "containers": ["25.000", "25.000", "10.500"],
        "expires_on": (day + dt.timedelta(days=700)).isoformat(),
    } | extra


def receive(quinn: Api, services: Services, lot: str = "L-100", **extra: Any) -> Any:
    return quinn.call("POST", "/api/lots/receipts", receipt(services, lot, **extra), expect=201)


def decide(api: Api, lot: str, action: str, expect: int = 200, **extra: Any) -> Any:
    body = {"reason": "CoA and identity test OK", "signature": api.sig("released")} | extra
    return api.call("POST", f"/api/lots/{lot}/{action}", body, expect=expect)
