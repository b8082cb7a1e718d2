"""Channel choice: the inbox always, e-mail by default, a webhook only where configured."""

from __future__ import annotations

from services.notifications.domain import Channel, ChannelPreferences, Recipient, channels_for

WITH_EMAIL = Recipient("p-1", "张伟", "zhang.wei@example.com", "zh")
NO_EMAIL = Recipient("p-2", "Li Na", None, "en")


def test_by_default_a_person_gets_inbox_and_email() -> None:
    assert channels_for(WITH_EMAIL) == (Channel.INBOX, Channel.EMAIL)


def test_without_an_address_only_the_inbox_receives() -> None:
    assert channels_for(NO_EMAIL) == (Channel.INBOX,)


def test_a_configured_webhook_is_used_by_default() -> None:
    assert channels_for(WITH_EMAIL, webhook_configured=True) == (
        Channel.INBOX, Channel.EMAIL, Channel.WEBHOOK)


def test_a_webhook_preference_without_an_endpoint_sends_nothing_there() -> None:
    assert Channel.WEBHOOK not in channels_for(WITH_EMAIL, ChannelPreferences(webhook=True))


def test_opting_out_of_everything_still_leaves_the_inbox() -> None:
    prefs = ChannelPreferences(email=False, webhook=False)
    assert channels_for(WITH_EMAIL, prefs, webhook_configured=True) == (Channel.INBOX,)


def test_opting_out_of_email_keeps_the_webhook() -> None:
    prefs = ChannelPreferences(email=False)
    assert channels_for(WITH_EMAIL, prefs, webhook_configured=True) == (
        Channel.INBOX, Channel.WEBHOOK)
