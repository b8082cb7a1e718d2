"""The audit trail of the notifications service: secrets never recorded, Core deletes and
consumer-applied events recorded with who caused them."""

from __future__ import annotations

import json
from typing import Any

from services.notifications.config import NotificationConfig
from services.notifications.events import HANDLED_TYPES, make_handler
from services.notifications.models import inbox
from shared.consumer import APPLIED, EventConsumer
from shared.db import Database
from shared.events.envelope import encode_envelope
from tests.support.contracts_world import Client

from . import world
from .world import ZHANG


def trail(api: Client, **query: str) -> list[dict[str, Any]]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return api.get(f"/api/v1/audit?page_size=200&{qs}").get_json()["items"]


def test_a_webhook_is_recorded_without_its_secret(group: Client) -> None:
    hook = group.post("/api/v1/webhooks", {"recipient_id": ZHANG,
                                           "secret": "s3cr3t-value-of-some-length",
                                           "url": "https://hooks.example.com/z"},
                      expect=201).get_json()
    group.call("DELETE", f"/api/v1/webhooks/{hook['id']}", expect=204)
    deleted, created = trail(group, object_type="webhook_endpoints", object_id=hook["id"])
    assert (created["action"], deleted["action"]) == ("created", "deleted")
    assert created["after"]["url"] == "https://hooks.example.com/z"
    assert created["after"]["secret"] == "[redacted]"
    assert deleted["before"]["url"] == "https://hooks.example.com/z" and deleted["after"] is None
    assert "s3cr3t-value-of-some-length" not in str(trail(group))


def test_dropping_a_template_override_keeps_what_was_dropped(group: Client) -> None:
    group.put("/api/v1/templates/contract_to_sign/en", {"subject": "Sign {{ manager_name }}",
                                                        "body": "Please sign."},
              headers={"If-Match": '"v0"'}, expect=200)
    group.call("DELETE", "/api/v1/templates/contract_to_sign/en", expect=204)
    deleted, _created = trail(group, object_type="template_overrides")
    assert deleted["action"] == "deleted" and deleted["before"]["body"] == "Please sign."


def test_an_applied_event_is_recorded_as_its_sources_doing(db: Database, group: Client) -> None:
    consumer = EventConsumer(db, inbox, "127.0.0.1:1", "audit-test", ["hr.appraisals"],
                             make_handler(NotificationConfig()), service="notifications",
                             event_types=HANDLED_TYPES)
    published = world.appraisal_published(ZHANG)
    assert consumer.process(world.record(published, offset=3)) == APPLIED
    (applied,) = trail(group, object_type="event", object_id=published["id"])
    assert applied["action"] == "applied appraisal.published"
    assert applied["actor"] == f"event:{published['source']}"
    assert applied["after"]["data"]["manager_id"] == ZHANG
    # The event as it was sent, every value as its JSON says it.
    sent = json.loads(encode_envelope(published))
    assert applied["after"] == {"source": sent["source"], "subject": sent["subject"],
                                "data": sent["data"]}


def test_a_scoped_hr_admin_reads_only_their_subtrees_trail(app: Any, group: Client) -> None:
    from tests.conftest import auth

    east = Client(app.test_client(), auth("hr_admin", subject="hr-east",
                                          org_scope=world.EAST))
    group.post("/api/v1/webhooks", {"org_unit_id": world.WEST,
                                    "url": "https://hooks.example.com/west"}, expect=201)
    east.post("/api/v1/webhooks", {"org_unit_id": world.EAST,
                                   "url": "https://hooks.example.com/east"}, expect=201)
    seen = trail(east)
    assert "hooks.example.com/east" in str(seen)
    assert "hooks.example.com/west" not in str(seen) and "hr-group" not in {
        r["object_id"] for r in seen}
