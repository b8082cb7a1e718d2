"""A small group for the notifications tests: org units, managers, HR admins and their events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from services.notifications.config import NotificationConfig
from services.notifications.events import apply_event
from shared.db import Database
from shared.events.catalogue import CATALOGUE
from shared.events.envelope import encode_envelope, make_event

# The tree: group > east > plant, group > west.
GROUP = "0a000000-0000-4000-8000-000000000001"
EAST = "0a000000-0000-4000-8000-000000000002"
PLANT = "0a000000-0000-4000-8000-000000000003"
WEST = "0a000000-0000-4000-8000-000000000004"
UNIT_NAMES = {GROUP: "集团总部", EAST: "华东能源", PLANT: "华东一厂", WEST: "西部矿业"}
PARENTS: dict[str, str | None] = {GROUP: None, EAST: GROUP, PLANT: EAST, WEST: GROUP}

ZHANG = "0b000000-0000-4000-8000-000000000001"  # manager at the plant, reads Chinese
SMITH = "0b000000-0000-4000-8000-000000000002"  # manager in the west, reads English

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def event(event_type: str, data: dict[str, Any], *, subject: str | None = None,
          event_id: str | None = None, time: datetime | None = None) -> dict[str, Any]:
    spec = CATALOGUE[event_type]
    return make_event(event_type, spec.source, subject or data.get("manager_id"), data,
                      event_id=event_id, time=time or NOW)


def org_unit_created(unit_id: str, parent_id: str | None, layer: int = 1) -> dict[str, Any]:
    return event("org_unit.created", {
        "org_unit_id": unit_id, "parent_id": parent_id, "code": unit_id[-4:],
        "name": UNIT_NAMES.get(unit_id, "Unit"), "kind": "enterprise",
        "category": "commercial_competitive", "layer": layer}, subject=unit_id)


def org_unit_moved(unit_id: str, parent_id: str, previous: str | None) -> dict[str, Any]:
    return event("org_unit.moved", {
        "org_unit_id": unit_id, "parent_id": parent_id, "previous_parent_id": previous,
        "code": unit_id[-4:], "name": UNIT_NAMES.get(unit_id, "Unit"), "layer": 2},
        subject=unit_id)


def manager_registered(manager_id: str, unit_id: str, name: str, email: str | None,
                       language: str = "zh") -> dict[str, Any]:
    data = {"manager_id": manager_id, "employee_no": f"E-{manager_id[-4:]}", "name": name,
            "language": language, "org_unit_id": unit_id, "position": "general_manager"}
    if email:
        data["email"] = email
    return event("manager.registered", data)


def appraisal_published(manager_id: str, grade: str = "B", score: str = "85.40",
                        **extra: Any) -> dict[str, Any]:
    return event("appraisal.published", {
        "appraisal_id": str(uuid.uuid4()), "manager_id": manager_id, "year": 2025,
        "grade": grade, "score": score, **extra})


def contract_issued(manager_id: str, unit_id: str, name: str, email: str,
                    language: str = "zh", **extra: Any) -> dict[str, Any]:
    return event("contract.issued", {
        "contract_id": str(uuid.uuid4()), "manager_id": manager_id, "state": "issued",
        "start_date": "2026-04-01", "end_date": "2029-03-31", "term_years": 3,
        "term_number": 1, "org_unit_id": unit_id, "org_unit_name": UNIT_NAMES.get(unit_id),
        "manager_name": name, "manager_email": email, "manager_language": language,
        "employee_no": f"E-{manager_id[-4:]}", "signing_deadline": "2026-03-31", **extra})


def the_group() -> list[dict[str, Any]]:
    """Org events (child first on purpose: topics order per key only) and two managers."""
    return [
        org_unit_created(PLANT, EAST, 3), org_unit_created(EAST, GROUP, 2),
        org_unit_created(GROUP, None, 1), org_unit_created(WEST, GROUP, 2),
        manager_registered(ZHANG, PLANT, "张伟", "zhang.wei@example.com", "zh"),
        manager_registered(SMITH, WEST, "John Smith", "john.smith@example.com", "en-GB"),
    ]


def apply(db: Database, envelope: dict[str, Any], config: NotificationConfig | None = None,
          now: datetime | None = None) -> list[Any]:
    """The consumer handler's work for one event, in one unit of work."""
    with db.unit_of_work() as session:
        return apply_event(session, envelope, config or NotificationConfig(), now or NOW)


def record(envelope: dict[str, Any], topic: str = "hr.appraisals", offset: int = 0
           ) -> SimpleNamespace:
    """A Kafka record as the consumer runtime receives it."""
    return SimpleNamespace(topic=topic, partition=0, offset=offset,
                           key=str(envelope.get("subject") or "").encode(),
                           value=encode_envelope(envelope), headers=[])
