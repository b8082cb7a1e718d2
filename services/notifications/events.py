"""The events the notifications service consumes, and how they become notices.

Applying events is one unit of work (the consumer runtime's, with its inbox row): the read
models (org tree, managers' contacts) take the events' facts, each event is routed to
notices, and each new notice gets its inbox item and a queued delivery per outside channel,
all in that transaction. A notice whose key exists is skipped, so a redelivered event adds
nothing even past the runtime's inbox (a replayed dead letter, a give-up reported twice).

`apply_events` takes a run of events at once: people, org paths and the small reference
tables are read once for the run and the new rows are written with one statement per table,
so the cost per event falls as the run grows. The `consume` command gives the runtime both:
`make_batch_handler` for a poll's new events at once, and `make_handler` for one event alone
(when a run fails, the runtime halves it down to the event at fault, which it retries alone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from services.notifications import domain as d
from services.notifications import repository as repo
from services.notifications.config import NotificationConfig
from services.notifications.domain.notices import REVIEW_DUE_EVENT
from services.notifications.models import (
    Delivery,
    DeliveryHistory,
    InboxItem,
    NoticeRow,
    OrgUnit,
    Recipient,
    ScheduledReminder,
    TemplateOverride,
    WebhookEndpoint,
)
from services.notifications.service import OUTSIDE_CHANNELS, new_id, utcnow
from shared.db import bulk_insert, rows_where_in
from shared.events.catalogue import (
    APPRAISALS_TOPIC,
    CONTRACTS_TOPIC,
    DEAD_LETTER_TOPIC,
    NOTICES_TOPIC,
)

log = logging.getLogger("tenure.notifications.events")

CONSUMER_GROUP = "notifications"
TOPICS = (CONTRACTS_TOPIC, APPRAISALS_TOPIC, NOTICES_TOPIC)
ORG_EVENTS = ("org_unit.created", "org_unit.moved")
MANAGER_EVENTS = ("manager.registered", "manager.updated")
# Every event type that changes something here; the runtime skips the others unrecorded.
HANDLED_TYPES: frozenset[str] = frozenset({
    *ORG_EVENTS, *MANAGER_EVENTS, *d.ROUTES,
    "contract.signed", "contract.countersignature_requested",
    "contract.amended", "contract.terminated", "contract.expired",
    "contract.renewed", "appraisal.opened", "appraisal.published", "tenure.concluded",
} - {REVIEW_DUE_EVENT})
CHUNK = 500  # ids per IN (...) list

Handler = Callable[[Session, dict[str, Any]], None]
BatchHandler = Callable[[Session, list[dict[str, Any]]], None]


@dataclass(frozen=True)
class Subscription:
    topics: list[str]
    dead_letter_topic: str
    group: str


def subscription(prefix: str = "") -> Subscription:
    """Topics, dead-letter topic and group under an environment's prefix (TENURE_TOPIC_PREFIX),
    so several copies of the system (tests, benchmarks) can share one broker."""
    return Subscription([prefix + t for t in TOPICS], prefix + DEAD_LETTER_TOPIC,
                        prefix + CONSUMER_GROUP)


def make_handler(config: NotificationConfig) -> Handler:
    """The handler for `shared.consumer`: one event per call, in the runtime's transaction."""

    def handle(session: Session, envelope: dict[str, Any]) -> None:
        apply_events(session, [envelope], config)

    return handle


def make_batch_handler(config: NotificationConfig) -> BatchHandler:
    """The same work for a run of events in one transaction."""

    def handle(session: Session, envelopes: list[dict[str, Any]]) -> None:
        apply_events(session, envelopes, config)

    return handle


def apply_event(session: Session, envelope: Mapping[str, Any], config: NotificationConfig,
                now: datetime | None = None) -> list[d.Notice]:
    return apply_events(session, [envelope], config, now)


def apply_events(session: Session, envelopes: Sequence[Mapping[str, Any]],
                 config: NotificationConfig, now: datetime | None = None) -> list[d.Notice]:
    """Everything a run of events changes, in order, in the caller's transaction; returns
    the notices that were new."""
    batch = EventBatch(session, now or utcnow(), portal_url=config.portal_url)
    batch.preload(envelopes)
    for envelope in envelopes:
        batch.update_read_models(envelope)
        batch.route(envelope)
        batch.plans.append(d.reminders_from_event(envelope, config.reminders))
    batch.write_reminders()
    return batch.write_notices()


def record_notices(session: Session, envelopes: Iterable[Mapping[str, Any]], now: datetime
                   ) -> list[d.Notice]:
    """Route events that change no read model (reminders) and store their new notices."""
    envelopes = list(envelopes)
    batch = EventBatch(session, now)
    batch.preload(envelopes)
    for envelope in envelopes:
        batch.route(envelope)
    return batch.write_notices()


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _appraiser_ids(data: Mapping[str, Any]) -> list[str]:
    raw = data.get("appraiser_ids") or []
    ids = [raw] if isinstance(raw, str) else list(raw)
    if data.get("appraiser_id"):
        ids.append(data["appraiser_id"])
    return [str(i) for i in ids if i]


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    values = list(values)
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


@dataclass
class EventBatch:
    """What a run of events applied in one transaction shares: the people and org units it
    names (read once), and the rows it adds (written with one statement per table)."""

    session: Session
    now: datetime
    portal_url: str | None = None  # where the inbox text links notices to their page
    people: dict[str, Recipient | None] = field(default_factory=dict)
    units: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    candidates: list[d.Notice] = field(default_factory=list)
    plans: list[d.ReminderPlan] = field(default_factory=list)
    _group_admins: list[Recipient] | None = None
    _scoped_admins: dict[str, list[Recipient]] = field(default_factory=dict)
    _keys: set[str] = field(default_factory=set)

    # -- reading, once per run ------------------------------------------------------------

    def preload(self, envelopes: Iterable[Mapping[str, Any]]) -> None:
        people: set[str] = set()
        units: set[str] = set()
        for envelope in envelopes:
            data: Mapping[str, Any] = envelope.get("data") or {}
            manager = data.get("manager_id") or (
                envelope.get("subject") if envelope.get("type") in d.ROUTES else None)
            if manager:
                people.add(str(manager))
            people.update(_appraiser_ids(data))
            if data.get("org_unit_id"):
                units.add(str(data["org_unit_id"]))
        self.load_people(people)
        self.load_units(units)
        if any(envelope.get("type") in d.ROUTES for envelope in envelopes):
            self.load_admins({scope for unit in units
                              for scope in repo.path_ids(self.units[unit][0])})

    def load_people(self, ids: Iterable[str]) -> None:
        missing = {i for i in ids if i not in self.people}
        if not missing:  # most calls: every person of the batch was preloaded
            return
        for (row,) in rows_where_in(self.session, select(Recipient), Recipient.id, missing):
            self.people[row.id] = row
        for person_id in missing:
            self.people.setdefault(person_id, None)

    def load_units(self, ids: Iterable[str]) -> None:
        missing = {i for i in ids if i not in self.units}
        if not missing:  # building the statement alone was 2 % of a batch's CPU
            return
        for unit_id, path, name in rows_where_in(
                self.session, select(OrgUnit.id, OrgUnit.path, OrgUnit.name), OrgUnit.id,
                missing):
            self.units[unit_id] = (path, name)
        for unit_id in missing:
            self.units.setdefault(unit_id, (f"/{unit_id}/", None))

    def person(self, person_id: str) -> Recipient | None:
        self.load_people([person_id])
        return self.people[person_id]

    def path(self, unit_id: str) -> str:
        self.load_units([unit_id])
        return self.units[unit_id][0]

    def unit_name(self, unit_id: str) -> str | None:
        self.load_units([unit_id])
        return self.units[unit_id][1]

    def load_admins(self, scopes: Iterable[str]) -> None:
        """Active HR admins scoped at these units, and the group-wide ones, read once."""
        missing = {s for s in scopes if s not in self._scoped_admins}
        if self._group_admins is not None and not missing:
            return
        wanted = []
        if self._group_admins is None:
            self._group_admins = []
            wanted.append(Recipient.org_scope.is_(None))
        for chunk in _chunks(missing):
            wanted.append(Recipient.org_scope.in_(chunk))
        for scope in missing:
            self._scoped_admins[scope] = []
        for row in self.session.scalars(
                select(Recipient).where(Recipient.role == "hr_admin", Recipient.active.is_(True),
                                        or_(*wanted)).order_by(Recipient.id)):
            self.people[row.id] = row
            if row.org_scope is None:
                self._group_admins.append(row)
            else:
                self._scoped_admins[row.org_scope].append(row)

    def hr_admins_for(self, org_unit_id: str | None) -> list[Recipient]:
        """HR admins whose scope holds the unit: at it or above it, or the whole group."""
        scopes = repo.path_ids(self.path(org_unit_id)) if org_unit_id else []
        self.load_admins(scopes)
        found = {a.id: a for a in self._group_admins or []}
        for scope in scopes:
            found.update((a.id, a) for a in self._scoped_admins[scope])
        return [found[k] for k in sorted(found)]

    def directory(self) -> d.RecipientDirectory:
        def find(person_id: str) -> d.Recipient | None:
            row = self.person(person_id)
            return repo.as_domain(row) if row is not None and row.active else None

        def admins_for(org_unit_id: str | None) -> list[d.Recipient]:
            return [repo.as_domain(a) for a in self.hr_admins_for(org_unit_id)]

        return d.RecipientDirectory(find, admins_for)

    # -- read models ----------------------------------------------------------------------

    def update_read_models(self, envelope: Mapping[str, Any]) -> None:
        """The org tree and the managers' contacts, from whatever the event carries."""
        event_type = envelope.get("type")
        data: Mapping[str, Any] = envelope.get("data") or {}
        if event_type in ORG_EVENTS:
            repo.place_org_unit(self.session, str(data["org_unit_id"]),
                                _str(data.get("parent_id")), self.now, code=data.get("code"),
                                name=data.get("name"), layer=data.get("layer"))
            self.units.clear()  # a move changes the paths of a whole subtree
            return
        if event_type in MANAGER_EVENTS:
            facts = {k: data.get(k) for k in ("name", "email", "language")}
        else:
            facts = {"name": data.get("manager_name"), "email": data.get("manager_email"),
                     "language": data.get("manager_language")}
        facts.update(org_unit_id=data.get("org_unit_id"), employee_no=data.get("employee_no"))
        if data.get("manager_id"):
            self.remember_manager(str(data["manager_id"]), facts)

    def remember_manager(self, manager_id: str, facts: Mapping[str, Any]) -> None:
        """Insert or refresh a manager: only the facts the event carries."""
        given = {k: str(v) for k, v in facts.items() if v not in (None, "")}
        if not given:
            return
        if "language" in given:
            given["language"] = d.normalise_language(given["language"])
        row = self.person(manager_id)
        if row is None:
            row = Recipient(id=manager_id, role="manager", source="event", active=True,
                            name=given.get("name", ""), email=given.get("email"),
                            language=given.get("language", d.FALLBACK_LANGUAGE),
                            employee_no=given.get("employee_no"),
                            org_unit_id=given.get("org_unit_id"), row_version=1,
                            created_at=self.now, updated_at=self.now)
            self.session.add(row)
            self.people[manager_id] = row
            return
        if row.role != "manager":
            return  # an HR admin or appraiser registered under this id: the API owns the row
        changed = {k: v for k, v in given.items() if getattr(row, k) != v}
        if changed:
            for key, value in changed.items():
                setattr(row, key, value)
            row.row_version += 1
            row.updated_at = self.now

    # -- routing --------------------------------------------------------------------------

    def enriched(self, envelope: Mapping[str, Any]) -> dict[str, Any]:
        """The event with what the read models know and it lacks (the unit and number of a
        manager named by an appraisal event), so the HR admins of the scope are found."""
        data = dict(envelope.get("data") or {})
        manager_id = data.get("manager_id") or envelope.get("subject")
        if manager_id:
            row = self.person(str(manager_id))
            if row is not None and row.role == "manager":
                for key in ("org_unit_id", "employee_no"):
                    if not data.get(key) and getattr(row, key):
                        data[key] = getattr(row, key)
        if data.get("org_unit_id") and not data.get("org_unit_name"):
            name = self.unit_name(str(data["org_unit_id"]))
            if name:
                data["org_unit_name"] = name
        return {**envelope, "data": data}

    def route(self, envelope: Mapping[str, Any]) -> None:
        if envelope.get("type") not in d.ROUTES:
            return
        routing = d.route_event(self.enriched(envelope), self.directory())
        if routing.unresolved:
            log.warning("event names people nobody registered: %s",
                        ", ".join(routing.unresolved),
                        extra={"event_id": envelope.get("id"),
                               "event_type": envelope.get("type")})
        for notice in routing.notices:
            if notice.notice_key not in self._keys:
                self._keys.add(notice.notice_key)
                self.candidates.append(notice)

    # -- writing, once per run ------------------------------------------------------------

    def home_unit(self, notice: d.Notice) -> str | None:
        """Where a recipient sits, for org-unit webhooks: a manager's unit, a scope's top."""
        row = self.person(notice.recipient.id)
        if row is not None and row.role != "manager":
            return row.org_scope
        if row is not None and row.org_unit_id:
            return row.org_unit_id
        return notice.org_unit_id if notice.role is d.RecipientRole.MANAGER else None

    def webhooks(self, notices: Sequence[d.Notice]) -> Callable[[d.Notice], bool]:
        """Whether an endpoint serves each notice's recipient: their own, or one of a unit at
        or above where they sit; one read for the whole run."""
        homes = {n.notice_key: self.home_unit(n) for n in notices}
        self.load_units({h for h in homes.values() if h})
        chains = {key: set(repo.path_ids(self.path(h))) if h else set()
                  for key, h in homes.items()}
        people = {n.recipient.id for n in notices}
        units = set().union(*chains.values())
        found = self.session.execute(
            select(WebhookEndpoint.recipient_id, WebhookEndpoint.org_unit_id).where(or_(
                WebhookEndpoint.recipient_id.in_(people),
                WebhookEndpoint.org_unit_id.in_(units))
            )).all() if people else []
        by_person = {person for person, _ in found if person}
        by_unit = {unit for _, unit in found if unit}

        def configured(notice: d.Notice) -> bool:
            return (notice.recipient.id in by_person
                    or bool(by_unit & chains[notice.notice_key]))

        return configured

    def write_notices(self) -> list[d.Notice]:
        if not self.candidates:
            return []
        existing = {key for (key,) in rows_where_in(
            self.session, select(NoticeRow.notice_key), NoticeRow.notice_key,
            (n.notice_key for n in self.candidates))}
        fresh = [n for n in self.candidates if n.notice_key not in existing]
        if not fresh:
            return []
        preferences = repo.preferences_of(self.session, {n.recipient.id for n in fresh})
        overrides = {(r.kind, r.language): d.TemplateSource(r.subject, r.body, r.html)
                     for r in self.session.scalars(select(TemplateOverride))}
        webhook_configured = self.webhooks(fresh)
        now = self.now
        rows: dict[Any, list[dict[str, Any]]] = {NoticeRow: [], InboxItem: [], Delivery: [],
                                                 DeliveryHistory: []}
        for notice in fresh:
            notice_id = new_id()
            rows[NoticeRow].append({
                "id": notice_id, "notice_key": notice.notice_key, "kind": notice.kind.value,
                "role": notice.role.value, "recipient_id": notice.recipient.id,
                "recipient_name": notice.recipient.name,
                "recipient_email": notice.recipient.email, "language": notice.language,
                "event_id": notice.event_id, "event_type": notice.event_type,
                "manager_id": notice.manager_id, "org_unit_id": notice.org_unit_id,
                "context": dict(notice.context), "created_at": now,
            })
            message = d.render_notice(notice, overrides, self.portal_url)
            rows[InboxItem].append({
                "id": new_id(), "notice_id": notice_id, "recipient_id": notice.recipient.id,
                "kind": notice.kind.value, "subject": message.subject, "text": message.text,
                "created_at": now, "read_at": None})
            channels = d.channels_for(notice.recipient, preferences.get(notice.recipient.id),
                                      webhook_configured=webhook_configured(notice))
            for channel in channels:
                if channel not in OUTSIDE_CHANNELS:
                    continue  # the inbox item above is the inbox delivery
                delivery_id = new_id()
                rows[Delivery].append({
                    "id": delivery_id, "notice_id": notice_id,
                    "notice_key": notice.notice_key, "channel": channel.value,
                    "state": d.DeliveryState.QUEUED.value, "attempts": 0, "generation": 0,
                    "next_attempt_at": now, "last_error": None, "sent_at": None,
                    "created_at": now, "updated_at": now,
                })
                rows[DeliveryHistory].append({
                    "delivery_id": delivery_id, "at": now, "action": "queued", "attempt": 0,
                    "reason": None, "actor": None})
        for model, values in rows.items():
            bulk_insert(self.session, model.__table__, values)  # one statement a table
        return fresh

    def write_reminders(self) -> None:
        """Apply the runs' reminder plans in order: cancel what an event ends or replaces,
        store what it schedules (a reminder id already stored is left as it is)."""
        plans = [p for p in self.plans if p.schedule or p.cancel]
        if not plans:
            return
        subjects = {s for p in plans for s in p.cancel}
        pending = {subject for (subject,) in rows_where_in(
            self.session, select(ScheduledReminder.subject_id).distinct()
            .where(ScheduledReminder.state == "pending"), ScheduledReminder.subject_id,
            subjects)}
        for plan in plans:
            keep = [r.reminder_id for r in plan.schedule]
            cancel = [s for s in plan.cancel if s in pending]
            if cancel:
                stmt = update(ScheduledReminder).where(
                    ScheduledReminder.subject_id.in_(cancel),
                    ScheduledReminder.state == "pending")
                if keep:
                    stmt = stmt.where(ScheduledReminder.reminder_id.not_in(keep))
                self.session.execute(stmt.values(state="cancelled")
                                     .execution_options(synchronize_session=False))
            if plan.schedule:
                self._schedule(plan.schedule, keep)
                pending.update(r.subject_id for r in plan.schedule)

    def _schedule(self, reminders: Sequence[d.Reminder], ids: list[str]) -> None:
        known = {rid: state for rid, state in self.session.execute(
            select(ScheduledReminder.reminder_id, ScheduledReminder.state)
            .where(ScheduledReminder.reminder_id.in_(ids)))}
        revived = [rid for rid, state in known.items() if state == "cancelled"]
        if revived:
            self.session.execute(update(ScheduledReminder)
                                 .where(ScheduledReminder.reminder_id.in_(revived))
                                 .values(state="pending")
                                 .execution_options(synchronize_session=False))
        rows = [{
            "reminder_id": r.reminder_id, "kind": r.kind.value, "subject_id": r.subject_id,
            "manager_id": r.manager_id, "deadline": r.deadline, "days_before": r.days_before,
            "due_on": r.due_on, "facts": dict(r.facts), "state": "pending", "sent_at": None,
            "created_at": self.now,
        } for r in reminders if r.reminder_id not in known]
        bulk_insert(self.session, ScheduledReminder.__table__, rows)
