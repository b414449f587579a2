"""The admin's integration page: each channel's health, the dead letters with their retry and replay buttons."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from ebr.integration import deadletters, health, masterdata
from ebr.integration.setup import build
from ebr.integration.worker import retry as retry_message
from ebr.web import access
from ebr.web.helpers import field, read, services, work

LOTS_SHOWN = 100
"""Lots whose ERP quantity differs from the EBR's, shown on the page (all: ``ebr erp inventory``)."""

bp = Blueprint("integration", __name__, url_prefix="/admin/integration", template_folder="templates")


@bp.get("")
@access.requires("integration.manage")
def health_page() -> ResponseReturnValue:
    """Last message in and out per channel, backlog, dead letters out and in, recent messages, ERP lot differences."""
    settings = build(services()).settings
    with read() as session:
        channels = health.channels(session, settings)
        dead = health.dead_letters(session)
        dead_in = deadletters.recent(session)
        recent = health.messages(session, limit=20)
        orders = health.orders(session)
        lots = masterdata.inventory(session)
    differ = [line for line in lots if line.difference]
    return render_template(
        "integration/health.html", channels=channels, dead=dead, dead_in=dead_in, recent=recent, orders=orders,
        lots=len(lots), differ=differ[:LOTS_SHOWN], differ_count=len(differ),
    )  # fmt: skip


@bp.post("/outbox/<message_id>/retry")
@access.requires("integration.manage")
def retry(message_id: str) -> ResponseReturnValue:
    """Put a dead letter back in line (audited with the reason)."""
    svc = services()
    with work() as session:
        retry_message(
            session, audit=svc.audit, clock=svc.clock, actor=access.user_id(), message_id=message_id,
            reason=field("reason", "Reason"),
        )  # fmt: skip
    flash(f"Message {message_id} is pending again.")
    return redirect(url_for("integration.health_page"))


@bp.post("/inbound/<letter_id>/replay")
@access.requires("integration.manage")
def replay(letter_id: str) -> ResponseReturnValue:
    """Apply an ERP dead letter again once its cause is fixed (audited with the reason); it leaves the list."""
    receipt = build(services()).replay(letter_id, actor=access.user_id(), reason=field("reason", "What was fixed"))
    flash(f"Message {receipt.message_id or letter_id} was applied: " + "; ".join(receipt.lines or ["nothing to do"]))
    return redirect(url_for("integration.health_page"))
