"""The SSRF guard: where a webhook may point, checked at registration and again at delivery."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from services.notifications import worker
from services.notifications.channels.errors import DeliveryError
from services.notifications.channels.webhook import WebhookEndpoint, post_webhook
from services.notifications.config import NotificationConfig
from services.notifications.models import Delivery
from services.notifications.models import WebhookEndpoint as WebhookRow
from shared.db import Database
from tests.support.contracts_world import Client

from . import world
from .conftest import LOCAL_RECEIVERS
from .servers import WebhookReceiver, free_port
from .world import NOW, ZHANG

REFUSED_TARGETS = {
    "plain http to a host not allowlisted": "http://hooks.example.com/tenure",
    "IPv4 loopback": "https://127.0.0.1/hook",
    "another loopback address": "https://127.1.2.3:8443/hook",
    "IPv6 loopback": "https://[::1]/hook",
    "IPv4-mapped loopback": "https://[::ffff:127.0.0.1]/hook",
    "private 10/8": "https://10.0.0.5/hook",
    "private 172.16/12": "https://172.16.4.2/hook",
    "private 192.168/16": "https://192.168.1.1/hook",
    "shared CGNAT 100.64/10": "https://100.64.0.7/hook",
    "IPv4 link-local": "https://169.254.10.20/hook",
    "IPv6 link-local": "https://[fe80::1]/hook",
    "IPv6 unique-local": "https://[fd12:3456::1]/hook",
    "IPv4 unspecified": "https://0.0.0.0/hook",
    "IPv6 unspecified": "https://[::]/hook",
    "IPv4 multicast": "https://224.0.0.1/hook",
    "IPv6 multicast": "https://[ff02::1]/hook",
    "cloud metadata (IPv4)": "http://169.254.169.254/latest/meta-data/",
    "cloud metadata (IPv6)": "https://[fd00:ec2::254]/latest/meta-data/",
    "a name that resolves to loopback": "https://localhost/hook",
    "a user name in the URL": "https://user:pw@hooks.example.com/hook",
}


@pytest.fixture
def strict(app: Any) -> None:
    """No allowlist at all, as a deployment without internal receivers runs."""
    app.extensions["notifications_config"] = NotificationConfig()


@pytest.mark.parametrize("url", list(REFUSED_TARGETS.values()), ids=list(REFUSED_TARGETS))
def test_a_webhook_to_an_internal_or_plain_http_target_is_refused_at_registration(
        group: Client, strict: None, url: str) -> None:
    resp = group.post("/api/v1/webhooks", {"org_unit_id": world.EAST, "url": url}, expect=422)
    assert resp.content_type == "application/problem+json"
    assert "url" in resp.get_json()["errors"]
    assert group.get("/api/v1/webhooks").get_json() == []


def test_metadata_addresses_are_refused_even_when_allowlisted(app: Any, group: Client) -> None:
    config = app.extensions["notifications_config"]
    app.extensions["notifications_config"] = NotificationConfig(
        webhook_allowed_hosts=config.webhook_allowed_hosts | {"169.254.169.254"})
    resp = group.post("/api/v1/webhooks", {"org_unit_id": world.EAST,
                                           "url": "http://169.254.169.254/latest"}, expect=422)
    assert "metadata" in resp.get_json()["errors"]["url"][0]


@pytest.mark.parametrize("url", ["https://93.184.216.34/hook", "https://hooks.example.com/h",
                                 "http://127.0.0.1:8080/allowlisted"])
def test_https_to_a_public_or_unresolved_host_and_http_to_an_allowlisted_one_are_accepted(
        group: Client, url: str) -> None:
    group.post("/api/v1/webhooks", {"org_unit_id": world.EAST, "url": url}, expect=201)


@pytest.mark.parametrize("url", list(REFUSED_TARGETS.values()), ids=list(REFUSED_TARGETS))
def test_delivery_to_a_refused_target_fails_for_good_without_a_request(url: str) -> None:
    with pytest.raises(DeliveryError) as caught:
        post_webhook(WebhookEndpoint(url, "s", timeout=2), {"x": 1}, event_id="e",
                     notice_key="k")
    assert not caught.value.retryable
    assert "refused" in caught.value.reason


def test_a_name_resolving_to_loopback_at_delivery_reaches_nobody() -> None:
    with WebhookReceiver() as receiver:
        port = receiver.server.server_address[1]
        for url in (f"https://localhost:{port}/tenure-hook",
                    f"http://localhost:{port}/tenure-hook"):
            with pytest.raises(DeliveryError) as caught:
                post_webhook(WebhookEndpoint(url, "s", timeout=2,
                                             allowed_hosts=LOCAL_RECEIVERS),
                             {"x": 1}, event_id="e", notice_key="k")
            assert not caught.value.retryable
        assert receiver.calls == []


def test_dns_rebinding_after_registration_is_caught_at_delivery() -> None:
    """The name answered a public address when registered; now it answers loopback."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    from services.notifications.channels.targets import check_registration

    check_registration("https://rebind.example.com/hook", frozenset(), rebinding)
    with pytest.raises(DeliveryError) as caught:
        post_webhook(WebhookEndpoint("https://rebind.example.com/hook", "s"), {"x": 1},
                     event_id="e", notice_key="k", resolver=rebinding)
    assert "127.0.0.1" in caught.value.reason and not caught.value.retryable


def test_one_private_answer_among_public_ones_refuses_the_name() -> None:
    with pytest.raises(DeliveryError):
        post_webhook(WebhookEndpoint("https://mixed.example.com/hook", "s"), {"x": 1},
                     event_id="e", notice_key="k",
                     resolver=lambda host, port: ["93.184.216.34", "10.1.2.3"])


def test_the_post_goes_to_the_address_that_was_checked_with_the_name_as_host() -> None:
    """Resolved once, connected to that address: nothing can swap it in between."""
    with WebhookReceiver() as receiver:
        port = receiver.server.server_address[1]
        calls = []

        def resolver(host: str, port: int) -> list[str]:
            calls.append(host)
            return ["127.0.0.1"]

        status = post_webhook(
            WebhookEndpoint(f"http://receiver.internal:{port}/tenure-hook", "s",
                            allowed_hosts=frozenset({"receiver.internal"})),
            {"x": 1}, event_id="e", notice_key="k", resolver=resolver)
        assert status == 204 and calls == ["receiver.internal"]
        (call,) = receiver.calls
        assert call.headers["Host"] == f"receiver.internal:{port}"
        assert call.path == "/tenure-hook"


def test_the_worker_refuses_a_stored_webhook_that_now_points_inside(
        db: Database, group: Client) -> None:
    """A row registered before the guard (or pointed elsewhere since) is checked again."""
    group.put(f"/api/v1/recipients/{ZHANG}/preferences", {"email": False, "webhook": True},
              expect=200)
    group.post("/api/v1/webhooks", {"recipient_id": ZHANG,
                                    "url": "https://hooks.example.com/h"}, expect=201)
    with WebhookReceiver() as receiver:
        port = receiver.server.server_address[1]
        with db.unit_of_work() as s:
            s.execute(update(WebhookRow).values(url=f"https://localhost:{port}/tenure-hook"))
        world.apply(db, world.appraisal_published(ZHANG))
        result = worker.run_once(db, NotificationConfig(
            webhook_allowed_hosts=LOCAL_RECEIVERS, webhook_timeout=2), NOW)
        assert receiver.calls == []
    assert result.sent == 0
    with db.read() as s:
        (hook,) = s.scalars(select(Delivery).where(Delivery.channel == "webhook"))
    assert hook.state == "given_up" and "refused" in (hook.last_error or "")


def test_an_unused_port_on_an_allowlisted_host_is_still_only_retried() -> None:
    with pytest.raises(DeliveryError) as caught:
        post_webhook(WebhookEndpoint(f"http://127.0.0.1:{free_port()}/h", "s", timeout=2,
                                     allowed_hosts=LOCAL_RECEIVERS),
                     {"x": 1}, event_id="e", notice_key="k")
    assert caught.value.retryable
