"""What the marshmallow schemas of every feature's API share: the strict base, the decimal
field, a signer's credentials, the optimistic version and the one error body ``ErrorOut``.

Each feature's own request and response schemas live in its package (``api.py`` or
``schemas.py``); the OpenAPI document is built from all of them, named after their classes.
Quantities travel as decimal strings (``"12.500"``); a JSON number is accepted on
input and read through its shortest text form, never used as a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
from marshmallow import fields


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


DECIMAL_PATTERN = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"


class DecimalText(fields.Field[Decimal]):
    """A decimal given as a string or a JSON number; dumped as a string."""

    def __init__(self, **kwargs: Any) -> None:
        # The OpenAPI document says what is accepted: a decimal string or a JSON number.
        shape = {"oneOf": [{"type": "string", "pattern": DECIMAL_PATTERN}, {"type": "number"}]}
        kwargs["metadata"] = {**shape, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        from ebr.execution.rules import parse_decimal

        if isinstance(value, float):
            value = repr(value)  # the shortest text that reads back as the same number the client wrote
        try:
            return parse_decimal(attr or "value", value)
        except Exception as exc:  # noqa: BLE001 - every failure is the same user error
            raise ma.ValidationError(str(exc)) from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format(Decimal(value), "f")


class SignatureIn(Strict):
    user_id = fields.String(required=True, metadata={"description": "the signer's user id"})
    password = fields.String(required=True, load_only=True, metadata={"description": "the signer's password"})
    meaning = fields.String(load_default="performed", metadata={"description": "performed, verified, witnessed …"})


class VersionIn(Strict):
    version = fields.Integer(load_default=None, metadata={"description": "the version you saw (optimistic check)"})


class ErrorOut(Strict):
    """The one error body of every error response (built by ``ebr.web.errors.error_body``)."""

    error = fields.String(required=True, metadata={"description": "what kind of error: NotFound, Unauthorized …"})
    message = fields.String(required=True, metadata={"description": "what was wrong and what to do"})
    problems = fields.List(fields.String(), metadata={"description": "every problem of invalid input, with its path"})
    accountability_url = fields.String(
        metadata={"description": "where to accept the accountability statement before signing"}
    )
    retry_after = fields.Integer(metadata={"description": "seconds to wait before trying again (429)"})
