"""Prometheus metrics per integration channel, read from the database at scrape time (``ebr.ops.metrics``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.orm import Session

from ebr.integration import health
from ebr.integration.settings import IntegrationSettings


def integration(session: Session, now: dt.datetime) -> Iterator[Metric]:
    """Outbox backlog by status, messages in, last in/out and the oldest waiting message's age, per channel."""
    outbox = GaugeMetricFamily(
        "ebr_integration_outbox_messages", "Outbox messages by channel and status", labels=["channel", "status"]
    )
    received = CounterMetricFamily("ebr_integration_inbound_messages", "Inbound messages applied", labels=["channel"])
    last_in = GaugeMetricFamily(
        "ebr_integration_last_in_timestamp_seconds", "When the last message was applied", labels=["channel"]
    )
    last_out = GaugeMetricFamily(
        "ebr_integration_last_out_timestamp_seconds", "When the last message was delivered", labels=["channel"]
    )
    dead_in = GaugeMetricFamily(
        "ebr_integration_inbound_dead_letters",
        "Inbound messages dead-lettered after their last attempt",
        labels=["channel"],
    )
    oldest = GaugeMetricFamily(
        "ebr_integration_oldest_pending_seconds", "Age of the oldest message waiting for delivery", labels=["channel"]
    )
    for row in health.channels(session, IntegrationSettings()):
        for status, count in (("pending", row.pending), ("sent", row.sent), ("dead", row.dead)):
            outbox.add_metric([row.name, status], count)
        received.add_metric([row.name], row.received)
        dead_in.add_metric([row.name], row.dead_in)
        last_in.add_metric([row.name], row.last_in.timestamp() if row.last_in else 0)
        last_out.add_metric([row.name], row.last_out.timestamp() if row.last_out else 0)
        oldest.add_metric([row.name], (now - row.oldest_pending).total_seconds() if row.oldest_pending else 0)
    yield from (outbox, received, dead_in, last_in, last_out, oldest)
