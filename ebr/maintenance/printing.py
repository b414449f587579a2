"""The equipment logbook as PDF (WeasyPrint), from the same template the print view uses."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from importlib import resources
from typing import Any

import jinja2
from weasyprint import CSS, HTML

from ebr.maintenance.services import LogbookLine

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ebr.maintenance", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)


def stylesheet() -> str:
    """The print stylesheet (also served to the browser's print view)."""
    return (resources.files("ebr.maintenance") / "static" / "logbook.css").read_text(encoding="utf-8")


def logbook_pdf(services: Any, *, tag: str, name: str, lines: Sequence[LogbookLine], printed_by: str = "ebr") -> bytes:
    """The logbook of ``tag`` as PDF: one table, oldest first, times in plant time."""
    zone = zoneinfo.ZoneInfo(services.settings.plant_timezone)

    def plant(moment: dt.datetime | None) -> str:
        return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    html = _ENV.get_template("maintenance/_logbook_doc.html").render(
        tag=tag, name=name, lines=lines, plant=plant, printed_at=plant(services.clock.now()), printed_by=printed_by
    )
    pdf: bytes = HTML(string=html).write_pdf(stylesheets=[CSS(string=stylesheet())])
    return pdf
