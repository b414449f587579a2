"""The OpenAPI document keeps what clients rely on: every operation, schema name and field.

``openapi-contract.json`` beside this file lists them as they were published. Adding an
operation, a schema or a field is free; removing or renaming one breaks a client that
generated its code from the document (schema component names are class names, so a moved
or renamed marshmallow class shows up here). If a break is intended, take the names out of
the file in the same commit and say so in docs/api.md.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from flask import Flask

from ebr.app import create_app
from ebr.web.registry import services_of

CONTRACT = json.loads((Path(__file__).parent / "openapi-contract.json").read_text(encoding="utf-8"))
METHODS = ("get", "post", "put", "patch", "delete")


def _document(app: Flask) -> dict[str, Any]:
    spec: dict[str, Any] = app.test_client().get("/api/openapi.json").json
    return spec


def test_every_published_operation_schema_and_field_is_still_there(app: Flask) -> None:
    spec = _document(app)
    operations = {f"{verb.upper()} {path}" for path, ops in spec["paths"].items() for verb in ops if verb in METHODS}
    schemas = spec["components"]["schemas"]
    assert sorted(set(CONTRACT["operations"]) - operations) == [], "operations gone from /api/openapi.json"
    assert sorted(set(CONTRACT["schemas"]) - set(schemas)) == [], "schema names gone from /api/openapi.json"
    lost = {
        name: sorted(set(fields) - set(schemas[name].get("properties", {})))
        for name, fields in CONTRACT["schemas"].items()
        if set(fields) - set(schemas[name].get("properties", {}))
    }
    assert lost == {}, "fields gone from schemas of /api/openapi.json"


def test_two_schema_classes_of_one_name_are_refused_when_the_app_is_built() -> None:
    # apispec names a component after its class; a second class of the same name would be
    # published as "<Name>1" with a warning, silently renaming it for clients. The test
    # configuration turns that warning into an error, so the app cannot be built.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = create_app({"database_url": "sqlite://"})
        services_of(app).close()
    assert [str(w.message) for w in caught if "Multiple schemas resolved" in str(w.message)] == []
