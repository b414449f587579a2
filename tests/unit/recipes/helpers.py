"""Shared test data: the example recipes and a small, valid authoring document to break."""

from __future__ import annotations

import copy
from decimal import Decimal
from importlib import resources
from typing import Any

from recipes.authoring import load_yaml, parse_yaml
from recipes.model import Recipe

LIQUID = "paracetamol-oral-solution.yaml"
SOLID = "metformin-dispensing-campaign.yaml"


def example_text(name: str) -> str:
    return resources.files("recipes").joinpath("examples", name).read_text(encoding="utf-8")


def example(name: str) -> Recipe:
    return parse_yaml(example_text(name), source=name)


def example_document(name: str) -> dict[str, Any]:
    document: dict[str, Any] = load_yaml(example_text(name))
    return copy.deepcopy(document)


def small_document() -> dict[str, Any]:
    """Two unit procedures, one material, one scaled parameter: easy to break on purpose."""
    return {
        "name": "TEST-1",
        "title": "Test recipe",
        "product": {"code": "FG-1", "name": "Product 1"},
        "batch_size": {"nominal": Decimal(100), "min": Decimal(50), "max": Decimal(200), "unit": "L"},
        "formula": {"parameters": [{"name": "charge", "value": Decimal("80.0"), "unit": "L", "scaled": True}]},
        "bill_of_materials": {
            "materials": [{"code": "RM-A", "name": "A", "quantity": Decimal("2.500"), "unit": "kg", "tolerance": 1}]
        },
        "unit_procedures": [
            {
                "name": "Make",
                "equipment": {"unit_class": "reactor", "unit": "R-101"},
                "operations": [
                    {
                        "name": "Charge",
                        "phases": [
                            {"name": "Dose", "type": "dosing", "source": "T-100", "destination": "R-101",
                             "target": {"param": "charge"}, "unit": "L", "tolerance": 1, "tolerance_unit": "L"},
                            {"name": "Weigh A", "type": "weigh_dispense", "material": "RM-A",
                             "target": {"param": "RM-A"}, "unit": "kg", "tolerance": 1, "tolerance_unit": "%"},
                            {"name": "Temperature", "type": "data_entry", "kind": "numeric", "prompt": "T",
                             "unit": "°C", "low": 15, "high": 30},
                        ],
                    }
                ],
            },
            {
                "name": "Fill",
                "equipment": {"unit_class": "filler", "unit": "FS-01"},
                "operations": [
                    {"name": "Fill", "phases": [{"name": "Go", "type": "instruction", "text": "Fill the bottles."}]}
                ],
            },
        ],
    }  # fmt: skip
