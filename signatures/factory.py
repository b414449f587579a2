"""Builds the signatures services from settings (called by ``ebr.bootstrap`` only)."""

from __future__ import annotations

from audit.trail import AuditTrail
from ebr.core.clock import Clock
from ebr.core.config import Settings
from signatures.alerts import EmailNotifier, LogNotifier, Notifier, Notifiers, WebhookNotifier
from signatures.directory import Directory
from signatures.passwords import PasswordPolicy
from signatures.signing import SigningService
from signatures.throttle import Limit, Throttle
from signatures.users import UserService


def build_directory(settings: Settings) -> Directory | None:
    """The LDAP directory when ``EBR_LDAP_URL`` is set, else None (local users only)."""
    if not settings.ldap_url:
        return None
    from signatures.ldap import LdapDirectory

    return LdapDirectory.from_settings(settings)


def build_notifier(settings: Settings) -> Notifier:
    """The log, plus the webhook and the mail relay when configured."""
    channels: list[LogNotifier] = []
    if settings.alert_webhook_url:
        channels.append(WebhookNotifier(settings.alert_webhook_url))
    if settings.alert_smtp_url:
        channels.append(
            EmailNotifier(settings.alert_smtp_url, to=settings.alert_email_to, sender=settings.alert_email_from)
        )
    if not channels:
        return LogNotifier()
    return channels[0] if len(channels) == 1 else Notifiers(*channels)


def build_users(settings: Settings, *, audit: AuditTrail, clock: Clock) -> UserService:
    notifier = build_notifier(settings)
    return UserService(
        audit=audit,
        clock=clock,
        policy=PasswordPolicy(
            min_length=settings.password_min_length,
            history=settings.password_history,
            max_age_days=settings.password_max_age_days,
        ),
        lockout_attempts=settings.lockout_attempts,
        idle_minutes=settings.session_idle_minutes,
        notifier=notifier,
        directory=build_directory(settings),
        throttle=Throttle(
            per_client=Limit.parse("EBR_LOGIN_LIMIT_PER_CLIENT", settings.login_limit_per_client),
            per_account=Limit.parse("EBR_LOGIN_LIMIT_PER_ACCOUNT", settings.login_limit_per_account),
            clock=clock,
        ),
        grant_confirmation=settings.role_grant_confirmation,
    )


def build_signing(users: UserService) -> SigningService:
    return SigningService(users=users, audit=users.audit, clock=users.clock)
