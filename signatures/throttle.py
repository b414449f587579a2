"""Throttling of failed login and signing attempts, per client and per user id.

Lockout (``EBR_LOCKOUT_ATTEMPTS``) protects one known account; throttling slows down
whoever guesses many ids or passwords: after ``attempts`` failures within a window of
``seconds`` from one client address, or for one user id (known or not, so the answer
tells nothing), every further attempt is refused with :class:`TooManyAttempts`
(HTTP 429 with ``Retry-After``) *before* the password is checked, until the window
ends. Only failures count, so a plant's tablets behind one address never throttle
each other by logging in.

The counters live in the ``auth_throttle`` table, so every gunicorn worker (and the
CLI) shares them without Redis. A fixed window per key: simple, and at most twice the
limit can pass around a window's edge. The client address is handed in by the web
layer through :data:`client_address` (a context variable, so the domain never reads
the request).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ebr.core.clock import Clock
from ebr.core.errors import ConfigError
from signatures.errors import TooManyAttempts
from signatures.models import AuthThrottle

# The address of the client making the current request (None: CLI, tests, jobs).
client_address: ContextVar[str | None] = ContextVar("ebr_client_address", default=None)


@contextmanager
def from_client(address: str | None) -> Iterator[None]:
    """Attribute the attempts made inside the block to ``address``."""
    token = client_address.set(address)
    try:
        yield
    finally:
        client_address.reset(token)


@dataclass(frozen=True)
class Limit:
    """At most ``attempts`` failures per ``seconds``; ``attempts == 0`` switches it off."""

    attempts: int
    seconds: int

    @property
    def on(self) -> bool:
        return self.attempts > 0

    @classmethod
    def parse(cls, name: str, raw: str) -> Limit:
        """``"20/600"`` (20 failures per 600 s) or ``"off"``; ConfigError names ``name`` otherwise."""
        text = raw.strip().lower()
        if text in {"off", "0", "none"}:
            return cls(0, 1)
        attempts, sep, seconds = text.partition("/")
        try:
            limit = cls(int(attempts), int(seconds)) if sep else None
        except ValueError:
            limit = None
        if limit is None or limit.attempts < 1 or limit.seconds < 1:
            raise ConfigError(f"{name}={raw!r} must be FAILURES/SECONDS like {name}=20/600, or off")
        return limit

    def __str__(self) -> str:
        return f"{self.attempts}/{self.seconds}" if self.on else "off"


class Throttle:
    """Counts failures per client and per user id in the database and refuses when over the limit."""

    def __init__(self, *, per_client: Limit, per_account: Limit, clock: Clock) -> None:
        self.per_client = per_client
        self.per_account = per_account
        self.clock = clock

    def _keys(self, user_id: str, client: str | None) -> list[tuple[str, Limit]]:
        keys = []
        if client and self.per_client.on:
            keys.append((f"client:{client}"[:200], self.per_client))
        if user_id and self.per_account.on:
            keys.append((f"account:{user_id}"[:200], self.per_account))
        return keys

    def check(self, session: Session, user_id: str) -> None:
        """Raise TooManyAttempts when this client or this user id has used up its failures."""
        keys = self._keys(user_id, client_address.get())
        if not keys:
            return
        now = self.clock.now()
        query = select(AuthThrottle).where(AuthThrottle.key.in_([k for k, _ in keys]))
        rows = {r.key: r for r in session.scalars(query.execution_options(populate_existing=True))}
        for key, limit in keys:
            row = rows.get(key)
            if row is None:
                continue
            ends = row.window_start + dt.timedelta(seconds=limit.seconds)
            if row.failures >= limit.attempts and now < ends:
                wait = math.ceil((ends - now).total_seconds())
                raise TooManyAttempts(
                    f"too many failed attempts from this {'device' if key.startswith('client:') else 'user id'}; "
                    f"wait {wait} s, then try again (or ask an administrator)",
                    retry_after=wait,
                )

    def count_failure(self, session: Session, user_id: str, client: str | None) -> None:
        """Add one failure for ``client`` and ``user_id`` (in the caller's transaction)."""
        now = self.clock.now()
        for key, limit in self._keys(user_id, client):
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            session.execute(
                insert(AuthThrottle)
                .values(key=key, window_start=now, failures=0)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            query = select(AuthThrottle).where(AuthThrottle.key == key).with_for_update()
            row = session.execute(query.execution_options(populate_existing=True)).scalar_one()
            if now - row.window_start >= dt.timedelta(seconds=limit.seconds):
                row.window_start, row.failures = now, 1
            else:
                row.failures += 1
        session.flush()
