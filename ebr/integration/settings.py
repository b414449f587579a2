"""The integration's settings, read once from the environment (``docs/integration.md``).

Each channel (``erp``, ``lims``) has a transport: ``folder`` (default: files under
``$EBR_DATA_DIR/<channel>/out``, no broker needed), ``amqp`` (RabbitMQ) or ``http``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ebr.core.errors import ConfigError
from ebr.integration.b2mml import Schema

CHANNELS = ("erp", "lims")
TRANSPORTS = ("folder", "amqp", "http", "off")


@dataclass(frozen=True, kw_only=True)
class Channel:
    """Where one channel's messages go and come from."""

    name: str
    transport: str = "folder"
    folder: Path = Path("var/erp")
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    exchange: str = "ebr.out"
    inbound_queue: str = "ebr.erp.in"
    outbound_queue: str = "ebr.erp.out"
    http_url: str | None = None
    token: str | None = None
    """The machine token whose name the folder's inbound files are accepted under (``EBR_<CH>_TOKEN``)."""
    dead_letter_queue: str | None = None
    """Where the consumer puts an inbound message given up on (``EBR_<CH>_DEAD_LETTER_QUEUE``; default
    ``<inbound queue>.dead``)."""


@dataclass(frozen=True, kw_only=True)
class IntegrationSettings:
    """All integration settings; :func:`load` builds them."""

    schema: Schema = Schema.V0701
    max_attempts: int = 8
    backoff_seconds: float = 2.0
    backoff_cap_seconds: float = 600.0
    inbound_max_attempts: int = 3
    """Failed attempts of an inbound broker message before it is dead-lettered (``EBR_INBOUND_MAX_ATTEMPTS``)."""
    channels: Mapping[str, Channel] = field(default_factory=dict)

    def channel(self, name: str) -> Channel:
        return self.channels.get(name) or Channel(name=name, transport="off")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise ConfigError(f"{name}={raw!r} must be a whole number of at least {minimum}, e.g. {default}")
    return int(raw)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be a positive number of seconds, e.g. {default}")
    return value


def load(data_dir: Path, env: Mapping[str, str] | None = None) -> IntegrationSettings:
    """Read ``EBR_ERP_*``, ``EBR_LIMS_*``, ``EBR_OUTBOX_*``, ``EBR_INBOUND_*``; raise ConfigError naming a bad one."""
    env = os.environ if env is None else env
    raw_schema = env.get("EBR_ERP_SCHEMA") or Schema.V0701.value
    if raw_schema not in {s.value for s in Schema}:
        raise ConfigError(f"EBR_ERP_SCHEMA={raw_schema!r} is not a B2MML release we speak; use V0701 or V0401")
    channels = {}
    for name in CHANNELS:
        prefix = f"EBR_{name.upper()}_"
        transport = env.get(prefix + "TRANSPORT") or ("folder" if name == "erp" else "off")
        if transport not in TRANSPORTS:
            raise ConfigError(f"{prefix}TRANSPORT={transport!r} is unknown; use one of {', '.join(TRANSPORTS)}")
        if transport == "http" and not env.get(prefix + "HTTP_URL"):
            raise ConfigError(f"{prefix}TRANSPORT=http needs {prefix}HTTP_URL (e.g. https://erp.example/b2mml)")
        channels[name] = Channel(
            name=name,
            transport=transport,
            folder=Path(env.get(prefix + "FOLDER") or data_dir / name),
            amqp_url=env.get(prefix + "AMQP_URL") or Channel.amqp_url,
            exchange=env.get(prefix + "EXCHANGE") or f"ebr.{name}",
            inbound_queue=env.get(prefix + "INBOUND_QUEUE") or f"ebr.{name}.in",
            outbound_queue=env.get(prefix + "OUTBOUND_QUEUE") or f"ebr.{name}.out",
            http_url=env.get(prefix + "HTTP_URL") or None,
            token=env.get(prefix + "TOKEN") or None,
            dead_letter_queue=env.get(prefix + "DEAD_LETTER_QUEUE") or None,
        )
    return IntegrationSettings(
        schema=Schema(raw_schema),
        max_attempts=_int(env, "EBR_OUTBOX_MAX_ATTEMPTS", 8, 1),
        backoff_seconds=_seconds(env, "EBR_OUTBOX_BACKOFF_SECONDS", 2.0),
        backoff_cap_seconds=_seconds(env, "EBR_OUTBOX_BACKOFF_CAP_SECONDS", 600.0),
        inbound_max_attempts=_int(env, "EBR_INBOUND_MAX_ATTEMPTS", 3, 1),
        channels=channels,
    )
