"""What the notifications service reads from its environment beyond the shared settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from services.notifications.channels.email import SmtpSettings
from services.notifications.channels.targets import normalise_hosts
from services.notifications.domain import BackoffPolicy, ReminderPolicy

SERVICE = "notifications"


def _get(env: Mapping[str, str], name: str) -> str | None:
    """NOTIFICATIONS_<name> wins over <name>, as for the shared settings."""
    value = env.get(f"NOTIFICATIONS_{name}")
    return value if value is not None else env.get(name)


def _days(value: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    if value is None:
        return default
    return tuple(int(part) for part in value.replace(" ", "").split(",") if part)


@dataclass(frozen=True)
class NotificationConfig:
    """Channels, retry policy, reminders and the worker's pace.

    Contract-end reminders are off by default: the contracts service already publishes
    contract.expiring at 90/30/7 days, and running both would tell a manager twice
    (docs/rules-notifications.md, section 6). Set
    REMINDER_CONTRACT_END_DAYS="90,30,7" to have them here instead.
    """

    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    reminders: ReminderPolicy = field(
        default_factory=lambda: ReminderPolicy(contract_end_days=()))
    webhook_timeout: float = 10.0
    # Hosts that may take plain http and may sit on internal addresses (channels/targets.py).
    webhook_allowed_hosts: frozenset[str] = frozenset()
    # 50 a lane over SMTP_CONNECTIONS' 4 sessions: a batch's fixed costs (claim, reads,
    # record, sessions opened) then weigh on 200 messages (docs/scale-delivery.md).
    delivery_batch: int = 200
    delivery_lease: timedelta = timedelta(minutes=5)
    delivery_poll_seconds: float = 1.0
    topic_prefix: str = ""
    #: The portal's address as recipients reach it: notices that ask for an action link to
    #: their page there (PORTAL_URL; empty: no links).
    portal_url: str = "http://127.0.0.1:8004"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotificationConfig:
        """SMTP_* (see channels/email.py); RETRY_MAX_ATTEMPTS, RETRY_FIRST_DELAY_SECONDS,
        RETRY_CAP_SECONDS; REMINDER_{CONTRACT_END,ACTUALS_DUE,REVIEW_DUE}_DAYS ("14,3", "" for
        none); WEBHOOK_TIMEOUT_SECONDS; WEBHOOK_ALLOWED_HOSTS (comma-separated
        host names or addresses that may take plain http); DELIVERY_BATCH, DELIVERY_LEASE_SECONDS,
        DELIVERY_POLL_SECONDS; TENURE_TOPIC_PREFIX; PORTAL_URL (notices link to the portal).
        Each may carry a NOTIFICATIONS_ prefix."""
        env = os.environ if environ is None else environ
        base = BackoffPolicy()
        backoff = BackoffPolicy(
            max_attempts=int(_get(env, "RETRY_MAX_ATTEMPTS") or base.max_attempts),
            first_delay=timedelta(seconds=float(
                _get(env, "RETRY_FIRST_DELAY_SECONDS") or base.first_delay.total_seconds())),
            cap=timedelta(seconds=float(
                _get(env, "RETRY_CAP_SECONDS") or base.cap.total_seconds())),
        )
        defaults = ReminderPolicy()
        reminders = ReminderPolicy(
            contract_end_days=_days(_get(env, "REMINDER_CONTRACT_END_DAYS"), ()),
            actuals_due_days=_days(_get(env, "REMINDER_ACTUALS_DUE_DAYS"),
                                   defaults.actuals_due_days),
            review_due_days=_days(_get(env, "REMINDER_REVIEW_DUE_DAYS"),
                                  defaults.review_due_days),
        )
        return cls(
            smtp=SmtpSettings.from_env(env),
            backoff=backoff,
            reminders=reminders,
            webhook_timeout=float(_get(env, "WEBHOOK_TIMEOUT_SECONDS") or 10),
            webhook_allowed_hosts=normalise_hosts(
                (_get(env, "WEBHOOK_ALLOWED_HOSTS") or "").split(",")),
            delivery_batch=int(_get(env, "DELIVERY_BATCH") or 200),
            delivery_lease=timedelta(seconds=float(_get(env, "DELIVERY_LEASE_SECONDS") or 300)),
            delivery_poll_seconds=float(_get(env, "DELIVERY_POLL_SECONDS") or 1.0),
            topic_prefix=_get(env, "TENURE_TOPIC_PREFIX") or "",
            portal_url=(_get(env, "PORTAL_URL") if _get(env, "PORTAL_URL") is not None
                        else "http://127.0.0.1:8004"),
        )
