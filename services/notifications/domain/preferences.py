"""Which channels a notice goes out on, from the recipient's preferences and what is set up.

The inbox always receives: it is written in the same transaction as the notice, cannot fail
to deliver, and is where a person (or HR, for give-up alerts) finds everything even when
e-mail bounces or a webhook is down. E-mail is on by default when the person has an address;
a webhook is used only when an endpoint is configured for the recipient or their org, and
then by default.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notifications.domain.delivery import Channel
from services.notifications.domain.notices import Recipient


@dataclass(frozen=True)
class ChannelPreferences:
    """A recipient's choice; the inbox is not a choice."""

    email: bool = True
    webhook: bool = True


DEFAULT_PREFERENCES = ChannelPreferences()


def channels_for(recipient: Recipient, preferences: ChannelPreferences | None = None, *,
                 webhook_configured: bool = False) -> tuple[Channel, ...]:
    """Channels in the order they are tried: inbox, then e-mail, then webhook."""
    prefs = preferences or DEFAULT_PREFERENCES
    channels = [Channel.INBOX]
    if prefs.email and recipient.email:
        channels.append(Channel.EMAIL)
    if prefs.webhook and webhook_configured:
        channels.append(Channel.WEBHOOK)
    return tuple(channels)
