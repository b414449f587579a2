"""Small helpers shared by the UI views: services, transactions and form fields."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, request
from sqlalchemy.orm import Session

from ebr.bootstrap import Services
from ebr.core.db import unit_of_work
from ebr.core.errors import ValidationError
from ebr.execution.service import Execution
from ebr.execution.service import build as build_execution
from ebr.web.registry import services_of


def services() -> Services:
    """The application's services (the one registry)."""
    return services_of(current_app)


@contextmanager
def work() -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any error."""
    with unit_of_work(services().session_factory) as session:
        yield session


@contextmanager
def read() -> Iterator[Session]:
    """A read-only session; whatever happened in it is rolled back.

    Loaded objects are detached first so templates can still read them afterwards.
    """
    with services().session_factory() as session:
        try:
            yield session
        finally:
            session.expunge_all()
            session.rollback()


def field(name: str, label: str, *, required: bool = True) -> str:
    """A trimmed form value; a required one that is empty is a ValidationError naming the label."""
    value = (request.form.get(name) or "").strip()
    if required and not value:
        raise ValidationError(f"{label} is required", [f"{label}: enter a value"])
    return value


def version_field() -> int | None:
    """The record version the form was rendered with (optimistic check against double submits)."""
    raw = (request.form.get("version") or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationError("the form is damaged", [f"version {raw!r} is not a number; reload the page"])
    return int(raw)


def execution() -> Execution:
    """The execution facade (built once per installation by ``ebr.execution.service.build``)."""
    return build_execution(services())
