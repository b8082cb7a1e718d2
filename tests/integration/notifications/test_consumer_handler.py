"""The consumer handler on real databases: read models, routing, idempotency, reminders."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select

from services.notifications.config import NotificationConfig
from services.notifications.events import (
    CONSUMER_GROUP,
    HANDLED_TYPES,
    apply_events,
    make_handler,
)
from services.notifications.models import (
    Delivery,
    InboxItem,
    NoticeRow,
    OrgUnit,
    Recipient,
    ScheduledReminder,
    inbox,
)
from shared.consumer import APPLIED, DUPLICATE, IGNORED, EventConsumer
from shared.db import Database
from tests.support.contracts_world import Client

from . import world
from .world import EAST, GROUP, PLANT, SMITH, WEST, ZHANG


def count(db: Database, model: Any, *where: Any) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def notices_of(db: Database, event_id: str) -> set[tuple[str, str]]:
    with db.read() as s:
        return {(n.recipient_id, n.kind) for n in s.scalars(
            select(NoticeRow).where(NoticeRow.event_id == event_id))}


def test_published_appraisal_reaches_the_manager_and_hr_admins_whose_scope_holds_the_unit(
        db: Database, group: Client) -> None:
    published = world.appraisal_published(ZHANG, grade="C", score="58.40")
    world.apply(db, published)
    # hr-east is scoped at the plant's parent, hr-group at the root; hr-west elsewhere.
    assert notices_of(db, published["id"]) == {
        (ZHANG, "appraisal_result"), ("hr-group", "appraisal_published_hr"),
        ("hr-east", "appraisal_published_hr")}


def test_manager_facts_come_from_the_directory_when_the_event_lacks_them(
        db: Database, group: Client) -> None:
    world.apply(db, world.appraisal_published(ZHANG, grade="A", score="96.00"))
    with db.read() as s:
        notice = s.scalar(select(NoticeRow).where(NoticeRow.kind == "appraisal_result"))
        item = s.scalar(select(InboxItem).where(InboxItem.notice_id == notice.id))
    assert notice.recipient_email == "zhang.wei@example.com"
    assert notice.org_unit_id == PLANT  # filled in from the manager read model
    assert notice.context["org_unit_name"] == "华东一厂"
    assert notice.language == "zh"
    assert "张伟" in item.text and "A" in item.subject


def test_the_same_event_twice_gives_one_notice_one_inbox_item_one_delivery_per_channel(
        db: Database, group: Client) -> None:
    published = world.appraisal_published(SMITH)
    first = world.apply(db, published)
    again = world.apply(db, published)
    assert len(first) == 3 and again == []  # Smith, hr-group and hr-west
    assert count(db, NoticeRow) == 3
    assert count(db, InboxItem) == 3
    # Everyone has an address and nobody a webhook: one e-mail delivery per notice.
    with db.read() as s:
        channels = sorted(s.execute(select(Delivery.notice_key, Delivery.channel)).all())
    assert len(channels) == 3 and {c for _, c in channels} == {"email"}


def test_the_runtime_skips_a_redelivered_event_by_its_inbox_row(
        db: Database, group: Client) -> None:
    consumer = EventConsumer(db, inbox, "127.0.0.1:1", CONSUMER_GROUP, ["hr.appraisals"],
                             make_handler(NotificationConfig()), service="notifications",
                             event_types=HANDLED_TYPES)
    published = world.appraisal_published(ZHANG)
    assert consumer.process(world.record(published, offset=7)) == APPLIED
    assert consumer.process(world.record(published, offset=8)) == DUPLICATE
    assert count(db, NoticeRow, NoticeRow.event_id == published["id"]) == 3
    # A type nobody is notified of is skipped without an inbox row.
    scored = world.event("appraisal.scored", {"appraisal_id": published["data"]["appraisal_id"],
                                              "manager_id": ZHANG, "score": "80.00"})
    assert consumer.process(world.record(scored, offset=9)) == IGNORED
    assert not consumer.already_applied(scored["id"])


def test_a_child_unit_announced_before_its_parent_is_placed_under_it_later(
        db: Database, group: Client) -> None:
    with db.read() as s:
        paths = {u.id: u.path for u in s.scalars(select(OrgUnit))}
    assert paths[PLANT] == f"/{GROUP}/{EAST}/{PLANT}/"
    assert paths[WEST] == f"/{GROUP}/{WEST}/"


def test_moving_a_unit_moves_its_subtree_and_changes_which_hr_admins_are_told(
        db: Database, group: Client) -> None:
    world.apply(db, world.org_unit_moved(EAST, WEST, GROUP))
    with db.read() as s:
        assert s.get(OrgUnit, PLANT).path == f"/{GROUP}/{WEST}/{EAST}/{PLANT}/"
    published = world.appraisal_published(ZHANG)
    world.apply(db, published)
    assert {r for r, k in notices_of(db, published["id"]) if k.endswith("_hr")} == {
        "hr-group", "hr-east", "hr-west"}


def test_a_contract_event_refreshes_the_managers_contact(db: Database, group: Client) -> None:
    issued = world.contract_issued(ZHANG, PLANT, "张伟", "wei.zhang@new.example.com", "en")
    world.apply(db, issued)
    with db.read() as s:
        row = s.get(Recipient, ZHANG)
        notice = s.scalar(select(NoticeRow).where(NoticeRow.kind == "contract_to_sign"))
    assert (row.email, row.language, row.row_version) == ("wei.zhang@new.example.com", "en", 2)
    assert notice.language == "en" and notice.context["signing_deadline"] == "2026-03-31"


def test_email_opt_out_and_a_unit_webhook_choose_the_channels(
        db: Database, group: Client) -> None:
    group.put(f"/api/v1/recipients/{ZHANG}/preferences", {"email": False, "webhook": True},
              expect=200)
    group.post("/api/v1/webhooks", {"org_unit_id": EAST, "url": "http://127.0.0.1:9/hook"},
               expect=201)
    published = world.appraisal_published(ZHANG)
    world.apply(db, published)
    with db.read() as s:
        rows = s.execute(select(NoticeRow.recipient_id, Delivery.channel)
                         .join(Delivery, Delivery.notice_id == NoticeRow.id)).all()
    # Zhang (at the plant, below east): webhook only. hr-east's scope is east: webhook and
    # e-mail. hr-group sits above east: e-mail only.
    assert sorted(rows) == sorted([(ZHANG, "webhook"), ("hr-east", "email"),
                                   ("hr-east", "webhook"), ("hr-group", "email")])
    assert count(db, InboxItem) == 3  # the inbox is not a choice


def test_a_give_up_reported_twice_alerts_hr_once(db: Database, group: Client) -> None:
    data = {"notice_id": "0c000000-0000-4000-8000-000000000001", "notice_key": "k-1",
            "kind": "appraisal_result", "channel": "email", "generation": 0, "attempts": 6,
            "reason": "550 mailbox unavailable", "recipient_id": ZHANG,
            "recipient_name": "张伟", "manager_id": ZHANG, "org_unit_id": PLANT}
    world.apply(db, world.event("notice.given_up", data))
    world.apply(db, world.event("notice.given_up", data))  # another event id, same give-up
    with db.read() as s:
        alerts = s.execute(select(NoticeRow.recipient_id, NoticeRow.kind)).all()
    assert sorted(alerts) == [("hr-east", "delivery_given_up_hr"),
                              ("hr-group", "delivery_given_up_hr")]


def test_an_opened_appraisal_schedules_reminders_and_publishing_cancels_them(
        db: Database, group: Client) -> None:
    opened = world.event("appraisal.opened", {
        "appraisal_id": "0d000000-0000-4000-8000-000000000001", "manager_id": ZHANG,
        "year": 2025, "actuals_due": "2026-03-31", "review_due": "2026-04-30",
        "appraiser_ids": ["hr-east"]})
    world.apply(db, opened)
    world.apply(db, opened)
    with db.read() as s:
        scheduled = sorted((r.kind, r.due_on) for r in s.scalars(select(ScheduledReminder)))
    assert scheduled == [("actuals_due", date(2026, 3, 17)), ("actuals_due", date(2026, 3, 28)),
                         ("review_due", date(2026, 4, 23)), ("review_due", date(2026, 4, 29))]
    world.apply(db, world.event("appraisal.published", {
        "appraisal_id": "0d000000-0000-4000-8000-000000000001", "manager_id": ZHANG,
        "grade": "B"}))
    assert count(db, ScheduledReminder, ScheduledReminder.state == "cancelled") == 4


def test_an_event_without_rules_changes_nothing_but_read_models(
        db: Database, group: Client) -> None:
    before = count(db, NoticeRow)
    world.apply(db, world.event("manager.updated", {
        "manager_id": SMITH, "employee_no": "E-0002", "name": "John Smith",
        "email": "js@example.com", "org_unit_id": WEST, "position": "general_manager"}))
    assert count(db, NoticeRow) == before
    with db.read() as s:
        assert s.get(Recipient, SMITH).email == "js@example.com"


def test_a_run_of_events_in_one_transaction_sees_its_own_earlier_events(
        db: Database, group: Client) -> None:
    newcomer = "0b000000-0000-4000-8000-000000000009"
    first = world.appraisal_published(newcomer)
    second = world.appraisal_published(newcomer)
    run = [world.manager_registered(newcomer, WEST, "Li Lei", "li.lei@example.com"),
           first, first,  # a duplicate inside the run adds nothing
           world.org_unit_moved(WEST, EAST, GROUP), second]
    with db.unit_of_work() as session:
        created = apply_events(session, run, NotificationConfig(), world.NOW)
    assert len(created) == 7
    # The manager registered earlier in the run is known (unit, address) by the first event.
    assert notices_of(db, first["id"]) == {
        (newcomer, "appraisal_result"), ("hr-group", "appraisal_published_hr"),
        ("hr-west", "appraisal_published_hr")}
    # After the move inside the run, west sits under east: hr-east is told too.
    assert {r for r, _ in notices_of(db, second["id"])} == {
        newcomer, "hr-group", "hr-west", "hr-east"}
    with db.read() as s:
        assert s.scalar(select(NoticeRow.recipient_email).where(
            NoticeRow.recipient_id == newcomer).limit(1)) == "li.lei@example.com"


def test_contract_end_reminders_are_left_to_the_contracts_service_unless_configured(
        db: Database, group: Client) -> None:
    signed = world.event("contract.signed", {
        "contract_id": "0c000000-0000-4000-8000-000000000005", "manager_id": ZHANG,
        "state": "active", "start_date": "2026-04-01", "end_date": "2029-03-31"})
    world.apply(db, signed)
    assert count(db, ScheduledReminder) == 0
    config = NotificationConfig.from_env({"NOTIFICATIONS_REMINDER_CONTRACT_END_DAYS": "90,30"})
    world.apply(db, signed, config)
    with db.read() as s:
        assert sorted(r.days_before for r in s.scalars(select(ScheduledReminder))) == [30, 90]


def countersignature_requested(signatory: str | None) -> dict[str, Any]:
    return world.event("contract.countersignature_requested", {
        "contract_id": "0c000000-0000-4000-8000-000000000001", "manager_id": ZHANG,
        "state": "pending_signature", "start_date": "2026-04-01", "end_date": "2029-03-31",
        "term_years": 3, "term_number": 1, "org_unit_id": PLANT, "manager_name": "张伟",
        "employee_no": "E-0001", "countersigner": "the general manager of the East holding",
        "signatory_manager_id": signatory, "signatory_manager_ids": [signatory] if signatory
        else []})


def test_the_countersigning_manager_is_asked_to_countersign_in_their_language(
        db: Database, group: Client) -> None:
    asked = countersignature_requested(SMITH)
    world.apply(db, asked)
    assert notices_of(db, asked["id"]) == {(SMITH, "countersign_request")}
    with db.read() as s:
        notice = s.scalar(select(NoticeRow).where(NoticeRow.kind == "countersign_request"))
        item = s.scalar(select(InboxItem).where(InboxItem.notice_id == notice.id))
    assert notice.language == "en" and notice.recipient_email == "john.smith@example.com"
    assert "countersign" in item.subject and "张伟" in item.subject


def test_without_a_countersigning_manager_hr_of_the_scope_is_asked_to_arrange_it(
        db: Database, group: Client) -> None:
    asked = countersignature_requested(None)
    world.apply(db, asked)
    assert notices_of(db, asked["id"]) == {("hr-group", "countersign_request"),
                                           ("hr-east", "countersign_request")}


def test_a_run_builds_its_lookups_once_however_many_of_its_events_name_the_same_people(
        db: Database, group: Client, monkeypatch: Any) -> None:
    """People and units a run preloaded are not looked up again for each event: the
    statement for a lookup was built even when it had nothing to read (2 % of a batch's CPU
    each for people and units)."""
    import services.notifications.events as events

    built: list[int] = []

    def counting_select(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return select(*args, **kwargs)

    monkeypatch.setattr(events, "select", counting_select)

    def statements_built(events_in_run: int) -> int:
        built.clear()
        run = [world.appraisal_published(who) for _ in range(events_in_run)
               for who in (ZHANG, SMITH)]
        with db.unit_of_work() as session:
            created = apply_events(session, run, NotificationConfig(), world.NOW)
        assert len({n.event_id for n in created}) == 2 * events_in_run
        return len(built)

    assert statements_built(1) > 0
    assert statements_built(10) == statements_built(1)
