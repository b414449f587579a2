"""Server-side web sessions: rotated at login, ended at logout or after idle time.

The browser holds a random token; the database holds only its SHA-256, so a
database reader cannot take over a session. A session idle for longer than the
configured minutes is ended and the user must log in again (21 CFR 11.10(d)).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.chain import Entity
from audit.trail import AuditTrail
from ebr.core.clock import Clock
from signatures.errors import SessionExpired
from signatures.models import UserAccount, UserSession

# Not every request needs a write: the idle timer is kept to within this much.
TOUCH_EVERY = dt.timedelta(seconds=20)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionService:
    """Starts, resumes and ends web sessions."""

    def __init__(self, *, audit: AuditTrail, clock: Clock, idle_minutes: int) -> None:
        self.audit = audit
        self.clock = clock
        self.idle = dt.timedelta(minutes=idle_minutes)

    def start(self, session: Session, *, user_id: str) -> str:
        """A new session for ``user_id``; returns the token for the cookie."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        session.add(UserSession(token_hash=_digest(token), user_id=user_id, started_at=now, last_seen_at=now))
        session.flush()
        return token

    def resume(self, session: Session, token: str | None) -> str:
        """The user id of a live session, touched now; raises SessionExpired."""
        row = session.get(UserSession, _digest(token)) if token else None
        if row is None or row.ended_at is not None:
            raise SessionExpired("you are not logged in (or you logged out); log in to continue")
        now = self.clock.now()
        if now - row.last_seen_at > self.idle:
            self._end(session, row, "idle timeout")
            minutes = int(self.idle.total_seconds() // 60)
            raise SessionExpired(f"your session ended after {minutes} minutes without activity; log in again")
        user = session.get(UserAccount, row.user_id)
        if user is None or not user.active or user.locked:
            self._end(session, row, "account disabled or locked")
            raise SessionExpired("your account is disabled or locked; ask an administrator")
        if now - row.last_seen_at >= TOUCH_EVERY:
            row.last_seen_at = now
        return row.user_id

    def end(self, session: Session, token: str | None, *, reason: str = "logout") -> None:
        """End the session of ``token`` (a no-op for an unknown or ended one)."""
        row = session.get(UserSession, _digest(token)) if token else None
        if row is not None and row.ended_at is None:
            self._end(session, row, reason)

    def end_all(self, session: Session, *, user_id: str, reason: str) -> None:
        """End every live session of ``user_id`` (deactivation)."""
        live = session.scalars(
            select(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        )
        for row in live:
            row.ended_at, row.end_reason = self.clock.now(), reason

    def end_idle(self, session: Session) -> list[str]:
        """End every live session idle longer than the timeout (the scheduler's sweep).

        ``resume`` already refuses an idle session when it is next used; the sweep ends
        the ones nobody comes back to, so the record shows when they really ended.
        Returns the users whose sessions were ended.
        """
        cutoff = self.clock.now() - self.idle
        idle = session.scalars(
            select(UserSession)
            .where(UserSession.ended_at.is_(None), UserSession.last_seen_at < cutoff)
            .order_by(UserSession.started_at)
        )
        ended = []
        for row in idle:
            self._end(session, row, "idle timeout")
            ended.append(row.user_id)
        return ended

    def _end(self, session: Session, row: UserSession, reason: str) -> None:
        row.ended_at, row.end_reason = self.clock.now(), reason
        action = "auth.logout" if reason == "logout" else "auth.session_ended"
        self.audit.record(session, actor=row.user_id, action=action, entity=Entity("user", row.user_id), reason=reason)
