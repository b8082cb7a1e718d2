"""Which event produces which notice for whom: the routing rules of the notifications service.

An event (a decoded CloudEvents envelope) is turned into zero or more `Notice`s, one per
recipient and notice kind. The router does no I/O: the people it needs beyond what the event
carries come from a `RecipientDirectory` the caller builds over its own read model.

Every notice carries a `notice_key` derived only from the event id, the recipient id and the
notice kind, so a redelivered event maps to exactly the same keys and a unique constraint on the
key is enough to never send anything twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from shared.exit_sentences import rule_sentence
from shared.labels import label_variables

SUPPORTED_LANGUAGES = ("zh", "en")
# The group's working language: a recipient whose language is unknown reads Chinese.
FALLBACK_LANGUAGE = "zh"

# Fixed namespace so keys are stable across processes, releases and machines.
NOTICE_KEY_NAMESPACE = uuid.UUID("5b0c7f3e-2f4a-4d0e-9c1a-7e3b6f1d2a90")

# Event type used internally for appraisal review-deadline reminders (never on Kafka).
REVIEW_DUE_EVENT = "appraisal.review_due"


class RecipientRole(StrEnum):
    """Why a person receives a notice: the same person may hold two roles for one event."""

    MANAGER = "manager"
    APPRAISER = "appraiser"
    HR_ADMIN = "hr_admin"
    SIGNATORY = "signatory"  # countersigns a contract for the employer


class NoticeKind(StrEnum):
    """One kind per event and audience: each kind has its own templates in each language."""

    # To the manager concerned.
    CONTRACT_TO_SIGN = "contract_to_sign"
    TARGETS_SET = "targets_set"
    APPRAISAL_RESULT = "appraisal_result"
    EXIT_NOTICE = "exit_notice"
    CONTRACT_EXPIRING = "contract_expiring"
    CONTRACT_ENDED = "contract_ended"
    TENURE_CONCLUDED = "tenure_concluded"
    SELF_REPORT_DUE = "self_report_due"
    CONTRACT_IN_FORCE = "contract_in_force"
    AMENDMENT_TO_SIGN = "amendment_to_sign"
    # To whoever countersigns for the employer (HR of the scope when no manager holds the post).
    COUNTERSIGN_REQUEST = "countersign_request"
    EXIT_CONFIRMED = "exit_confirmed"
    EXIT_CANCELLED = "exit_cancelled"
    CONTRACT_REINSTATED = "contract_reinstated"
    # To HR admins of the manager's org scope (and appraisers where the rules say so).
    CONTRACT_ISSUED_HR = "contract_issued_hr"
    CONTRACT_SIGNED_HR = "contract_signed_hr"
    APPRAISAL_PUBLISHED_HR = "appraisal_published_hr"
    EXIT_TRIGGERED_HR = "exit_triggered_hr"
    CONTRACT_EXPIRING_HR = "contract_expiring_hr"
    CONTRACT_ENDED_HR = "contract_ended_hr"
    TENURE_CONCLUDED_HR = "tenure_concluded_hr"
    ACTUALS_DUE = "actuals_due"
    REVIEW_DUE = "review_due"
    DELIVERY_GIVEN_UP_HR = "delivery_given_up_hr"
    SELF_REPORT_SUBMITTED_HR = "self_report_submitted_hr"
    EXIT_CONFIRMED_HR = "exit_confirmed_hr"
    EXIT_CANCELLED_HR = "exit_cancelled_hr"
    CONTRACT_REINSTATED_HR = "contract_reinstated_hr"


class Audience(StrEnum):
    MANAGER = "manager"
    HR = "hr"
    APPRAISERS = "appraisers"
    # Appraisers named by the event; the HR admins of the scope when none resolves.
    APPRAISERS_ELSE_HR = "appraisers_else_hr"
    # The manager who countersigns for the employer; the HR admins of the scope when no manager
    # holds the post (the supervisor, an override, a vacancy): they arrange the signature.
    SIGNATORY_ELSE_HR = "signatory_else_hr"


@dataclass(frozen=True)
class Recipient:
    """A person who can receive notices; `language` is 'zh' or 'en' (anything else -> zh)."""

    id: str
    name: str = ""
    email: str | None = None
    language: str = FALLBACK_LANGUAGE


class RecipientDirectory:
    """What the router needs to know beyond the event: people by id, HR admins by scope.

    `find_person(person_id)` returns the person or None; `hr_admins_for(org_unit_id)` returns
    the HR admins whose org scope contains that unit (group-wide admins included; with
    `None` for a unit, only the group-wide ones). The service builds both over its read model
    of managers, users and the org tree; tests use `StaticDirectory`.
    """

    def __init__(
        self,
        find_person: Callable[[str], Recipient | None],
        hr_admins_for: Callable[[str | None], Iterable[Recipient]],
    ) -> None:
        self._find_person = find_person
        self._hr_admins_for = hr_admins_for

    def find_person(self, person_id: str) -> Recipient | None:
        return self._find_person(person_id)

    def hr_admins_for(self, org_unit_id: str | None) -> list[Recipient]:
        return list(self._hr_admins_for(org_unit_id))


class StaticDirectory(RecipientDirectory):
    """An in-memory directory: people by id, and each HR admin's scope as a set of unit ids.

    An HR admin whose scope is `None` is group-wide and covers every unit. `units_under` maps an
    HR admin's scope unit to every unit it contains (itself included); without it a scope covers
    only the unit it names.
    """

    def __init__(
        self,
        people: Iterable[Recipient],
        hr_scopes: Mapping[str, str | None],
        units_under: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.people = {p.id: p for p in people}
        self.hr_scopes = dict(hr_scopes)
        self.units_under = {k: set(v) | {k} for k, v in (units_under or {}).items()}
        super().__init__(self.people.get, self._admins)

    def _admins(self, org_unit_id: str | None) -> list[Recipient]:
        found = []
        for admin_id, scope in sorted(self.hr_scopes.items()):
            covers = scope is None or (
                org_unit_id is not None
                and org_unit_id in self.units_under.get(scope, {scope})
            )
            if covers and admin_id in self.people:
                found.append(self.people[admin_id])
        return found


@dataclass(frozen=True)
class Notice:
    """One message to one person about one event; delivered on one or more channels."""

    notice_key: str
    kind: NoticeKind
    role: RecipientRole
    recipient: Recipient
    language: str
    event_id: str
    event_type: str
    manager_id: str | None
    org_unit_id: str | None
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Routing:
    """The notices an event produces, and the person ids named by it that nobody knows."""

    notices: tuple[Notice, ...] = ()
    unresolved: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    kind: NoticeKind
    audience: Audience
    # Some events concern the manager only in some states (a withdrawn draft was never seen).
    when: Callable[[Mapping[str, Any]], bool] | None = None


def _was_seen_by_manager(data: Mapping[str, Any]) -> bool:
    return data.get("previous_state") != "draft"


def _changes_signed_targets(data: Mapping[str, Any]) -> bool:
    return bool(data.get("documents_to_sign"))


ROUTES: dict[str, tuple[Route, ...]] = {
    "contract.issued": (
        Route(NoticeKind.CONTRACT_TO_SIGN, Audience.MANAGER),
        Route(NoticeKind.CONTRACT_ISSUED_HR, Audience.HR),
    ),
    "contract.signed": (
        Route(NoticeKind.CONTRACT_IN_FORCE, Audience.MANAGER),
        Route(NoticeKind.CONTRACT_SIGNED_HR, Audience.HR),
    ),
    "contract.amended": (
        Route(NoticeKind.AMENDMENT_TO_SIGN, Audience.MANAGER, when=_changes_signed_targets),
    ),
    "contract.countersignature_requested": (
        Route(NoticeKind.COUNTERSIGN_REQUEST, Audience.SIGNATORY_ELSE_HR),
    ),
    "targets.set": (Route(NoticeKind.TARGETS_SET, Audience.MANAGER),),
    "appraisal.published": (
        Route(NoticeKind.APPRAISAL_RESULT, Audience.MANAGER),
        Route(NoticeKind.APPRAISAL_PUBLISHED_HR, Audience.HR),
    ),
    "exit.triggered": (
        Route(NoticeKind.EXIT_NOTICE, Audience.MANAGER),
        Route(NoticeKind.EXIT_TRIGGERED_HR, Audience.HR),
        Route(NoticeKind.EXIT_TRIGGERED_HR, Audience.APPRAISERS),
    ),
    "contract.expiring": (
        Route(NoticeKind.CONTRACT_EXPIRING, Audience.MANAGER),
        Route(NoticeKind.CONTRACT_EXPIRING_HR, Audience.HR),
    ),
    "contract.expired": (
        Route(NoticeKind.CONTRACT_ENDED, Audience.MANAGER),
        Route(NoticeKind.CONTRACT_ENDED_HR, Audience.HR),
    ),
    "contract.terminated": (
        Route(NoticeKind.CONTRACT_ENDED, Audience.MANAGER, when=_was_seen_by_manager),
        Route(NoticeKind.CONTRACT_ENDED_HR, Audience.HR),
    ),
    "tenure.concluded": (
        Route(NoticeKind.TENURE_CONCLUDED, Audience.MANAGER),
        Route(NoticeKind.TENURE_CONCLUDED_HR, Audience.HR),
    ),
    "exit.confirmed": (
        Route(NoticeKind.EXIT_CONFIRMED, Audience.MANAGER),
        Route(NoticeKind.EXIT_CONFIRMED_HR, Audience.HR),
    ),
    "exit.cancelled": (
        Route(NoticeKind.EXIT_CANCELLED, Audience.MANAGER),
        Route(NoticeKind.EXIT_CANCELLED_HR, Audience.HR),
    ),
    "contract.reinstated": (
        Route(NoticeKind.CONTRACT_REINSTATED, Audience.MANAGER),
        Route(NoticeKind.CONTRACT_REINSTATED_HR, Audience.HR),
    ),
    "actuals.due": (Route(NoticeKind.ACTUALS_DUE, Audience.APPRAISERS_ELSE_HR),),
    REVIEW_DUE_EVENT: (Route(NoticeKind.REVIEW_DUE, Audience.APPRAISERS_ELSE_HR),),
    "notice.given_up": (Route(NoticeKind.DELIVERY_GIVEN_UP_HR, Audience.HR),),
    "self_report.due": (Route(NoticeKind.SELF_REPORT_DUE, Audience.MANAGER),),
    "self_report.submitted": (Route(NoticeKind.SELF_REPORT_SUBMITTED_HR, Audience.HR),),
}

_CONTRACT = ("contract_id", "start_date", "end_date", "term_years", "term_number")

COMMON_VARIABLES: tuple[str, ...] = (
    "recipient_name", "recipient_role", "manager_id", "manager_name", "manager_email",
    "employee_no", "org_unit_id", "org_unit_name", "event_id", "event_type", "event_time",
    "action_path", "action_url",
)

#: The portal page where the recipient acts on a notice that asks for an action; facts in
#: braces come from the event. `action_url` is this path on the portal's address, added when
#: the notice is rendered (NotificationConfig.portal_url); without it no link is printed.
ACTION_PATHS: dict[str, str] = {
    "contract_to_sign": "/me/contracts/{contract_id}",
    "countersign_request": "/me/contracts/{contract_id}",
    "amendment_to_sign": "/me/contracts/{contract_id}",
    "contract_in_force": "/me/contracts/{contract_id}",
    "targets_set": "/me/targets",
    "appraisal_result": "/me/results/{appraisal_id}",
    "exit_notice": "/me/results/{appraisal_id}",
    "self_report_due": "/me/results/{appraisal_id}/self-report",
    "contract_expiring_hr": "/hr/contracts/{contract_id}",
    "contract_issued_hr": "/hr/contracts/{contract_id}",
    "exit_triggered_hr": "/hr/appraisals/{appraisal_id}",
    "appraisal_published_hr": "/hr/appraisals/{appraisal_id}",
    "self_report_submitted_hr": "/hr/appraisals/{appraisal_id}",
    "actuals_due": "/hr/actuals",
    "review_due": "/hr/runs",
}


def action_path(kind: str, data: Mapping[str, Any]) -> str | None:
    """The portal path of the page that acts on this notice, or None (nothing to do there,
    or a fact the path needs is missing)."""
    template = ACTION_PATHS.get(str(kind))
    if template is None:
        return None
    try:
        return template.format_map({k: str(v) for k, v in data.items()
                                    if isinstance(v, str) and v and "/" not in v})
    except KeyError:
        return None

# The facts each kind's templates may use, beyond COMMON_VARIABLES. A fact the event lacks is
# None: templates test it with `{% if %}` and a bare `{{ }}` of None prints "—".
KIND_FACTS: dict[NoticeKind, tuple[str, ...]] = {
    NoticeKind.CONTRACT_TO_SIGN: (*_CONTRACT, "signing_deadline"),
    NoticeKind.CONTRACT_ISSUED_HR: (*_CONTRACT, "signing_deadline"),
    NoticeKind.CONTRACT_SIGNED_HR: _CONTRACT,
    NoticeKind.CONTRACT_IN_FORCE: _CONTRACT,
    NoticeKind.AMENDMENT_TO_SIGN: (*_CONTRACT, "reason", "version"),
    NoticeKind.COUNTERSIGN_REQUEST: (*_CONTRACT, "countersigner", "signatory_name"),
    NoticeKind.TARGETS_SET: ("contract_id", "year", "document_kind", "locked",
                             "indicator_count"),
    NoticeKind.APPRAISAL_RESULT: ("appraisal_id", "year", "grade", "score"),
    NoticeKind.APPRAISAL_PUBLISHED_HR: ("appraisal_id", "year", "grade", "score"),
    NoticeKind.EXIT_NOTICE: ("appraisal_id", "year", "rule", "rule_description", "grade",
                             "score", "appeal_deadline", "appeal_window_days"),
    NoticeKind.EXIT_TRIGGERED_HR: ("appraisal_id", "year", "rule", "rule_description", "grade",
                                   "score", "appeal_deadline", "appeal_window_days"),
    NoticeKind.EXIT_CONFIRMED: ("appraisal_id", "contract_id", "year", "rule_description",
                                "because", "appeal_deadline"),
    NoticeKind.EXIT_CONFIRMED_HR: ("appraisal_id", "contract_id", "year", "rule_description",
                                   "because", "appeal_deadline"),
    NoticeKind.EXIT_CANCELLED: ("appraisal_id", "contract_id", "year", "contract_terminated"),
    NoticeKind.EXIT_CANCELLED_HR: ("appraisal_id", "contract_id", "year",
                                   "contract_terminated"),
    NoticeKind.CONTRACT_REINSTATED: (*_CONTRACT, "reason"),
    NoticeKind.CONTRACT_REINSTATED_HR: (*_CONTRACT, "reason"),
    NoticeKind.CONTRACT_EXPIRING: (*_CONTRACT, "days_left"),
    NoticeKind.CONTRACT_EXPIRING_HR: (*_CONTRACT, "days_left"),
    NoticeKind.CONTRACT_ENDED: (*_CONTRACT, "ending", "reason"),
    NoticeKind.CONTRACT_ENDED_HR: (*_CONTRACT, "ending", "reason"),
    NoticeKind.TENURE_CONCLUDED: ("contract_id", "appraisal_id", "outcome", "conditions",
                                  "grade", "score"),
    NoticeKind.TENURE_CONCLUDED_HR: ("contract_id", "appraisal_id", "outcome", "conditions",
                                     "grade", "score"),
    NoticeKind.ACTUALS_DUE: ("appraisal_id", "year", "due_date", "days_left"),
    NoticeKind.REVIEW_DUE: ("appraisal_id", "year", "due_date", "days_left"),
    NoticeKind.DELIVERY_GIVEN_UP_HR: (
        "failed_notice_key", "failed_kind", "failed_channel", "failed_recipient_id",
        "failed_recipient_name", "attempts", "reason",
    ),
    NoticeKind.SELF_REPORT_DUE: ("appraisal_id", "year", "due_date", "days_left"),
    NoticeKind.SELF_REPORT_SUBMITTED_HR: ("appraisal_id", "year", "revision", "actuals",
                                          "channel", "disputed_indicator", "dispute_reason",
                                          "due_date"),
}

# Where a fact may be found in event data, first match wins (services name a few differently).
_FACT_SOURCES: dict[str, tuple[str, ...]] = {
    "score": ("score", "total_score"),
    "rule": ("rule", "rule_code", "trigger"),
    "rule_description": ("rule_description", "rule_name", "description"),
    "due_date": ("due_date", "actuals_due", "actuals_due_date", "review_due",
                 "review_due_date", "deadline"),
    "document_kind": ("document_kind", "kind"),
    "failed_notice_key": ("notice_key",),
    "failed_kind": ("kind",),
    "failed_channel": ("channel",),
    "failed_recipient_id": ("recipient_id",),
    "failed_recipient_name": ("recipient_name",),
}


def variables_for(kind: NoticeKind | str) -> tuple[str, ...]:
    """Every template variable a kind offers: its facts, then the words for its coded facts
    (`grade_label`, `position_label`, ...: see shared/labels.py), added at render time."""
    facts = COMMON_VARIABLES + KIND_FACTS[NoticeKind(kind)]
    return facts + label_variables(facts)


def normalise_language(value: str | None) -> str:
    """'zh-CN', 'zh_Hans', 'ZH' -> 'zh'; 'en-GB' -> 'en'; anything else -> the fallback."""
    if value:
        head = value.strip().lower().replace("_", "-").split("-")[0]
        if head in SUPPORTED_LANGUAGES:
            return head
    return FALLBACK_LANGUAGE


def notice_key(source_id: str, recipient_id: str, kind: NoticeKind | str) -> str:
    """Deterministic key of one notice: same event, person and kind -> same key."""
    return str(uuid.uuid5(NOTICE_KEY_NAMESPACE, f"{source_id}|{recipient_id}|{NoticeKind(kind)}"))


def _key_source(envelope: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """What makes two events 'the same' for dedup: the event id, except for give-up alerts.

    A give-up is reported once per failed delivery and resend generation, whatever the id of
    the event that carried the report, so a report published twice alerts HR once.
    """
    if envelope.get("type") == "notice.given_up" and data.get("notice_key"):
        return f"given_up|{data['notice_key']}|{data.get('channel')}|{data.get('generation', 0)}"
    return str(envelope["id"])


def _fact(data: Mapping[str, Any], name: str) -> Any:
    for key in _FACT_SOURCES.get(name, (name,)):
        if data.get(key) is not None:
            return data[key]
    return None


def _days_left(data: Mapping[str, Any], due: Any, event_time: str | None) -> Any:
    if data.get("days_left") is not None:
        return data["days_left"]
    if due and event_time:
        try:
            return (date.fromisoformat(str(due)[:10]) - date.fromisoformat(event_time[:10])).days
        except ValueError:
            return None
    return None


def _manager(envelope: Mapping[str, Any], data: Mapping[str, Any],
             directory: RecipientDirectory) -> Recipient | None:
    manager_id = data.get("manager_id") or envelope.get("subject")
    if not manager_id:
        return None
    known = directory.find_person(str(manager_id))
    name = data.get("manager_name") or (known.name if known else "")
    email = data.get("manager_email") or (known.email if known else None)
    language = data.get("manager_language") or (known.language if known else None)
    return Recipient(id=str(manager_id), name=name, email=email,
                     language=normalise_language(language))


def _appraiser_ids(data: Mapping[str, Any]) -> list[str]:
    ids: list[str] = []
    raw = data.get("appraiser_ids") or []
    if isinstance(raw, str):
        raw = [raw]
    for value in [*raw, data.get("appraiser_id")]:
        if value and str(value) not in ids:
            ids.append(str(value))
    return ids


def build_context(kind: NoticeKind, role: RecipientRole, recipient: Recipient,
                  manager: Recipient | None, envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The template variables of one notice: exactly `variables_for(kind)`, no more."""
    data: Mapping[str, Any] = envelope.get("data") or {}
    event_type = str(envelope.get("type"))
    context: dict[str, Any] = {
        "recipient_name": recipient.name,
        "recipient_role": role.value,
        "manager_id": manager.id if manager else None,
        "manager_name": manager.name if manager else None,
        "manager_email": manager.email if manager else None,
        "employee_no": data.get("employee_no"),
        "org_unit_id": data.get("org_unit_id"),
        "org_unit_name": data.get("org_unit_name"),
        "event_id": envelope.get("id"),
        "event_type": event_type,
        "event_time": envelope.get("time"),
        "action_path": action_path(kind, data),
        "action_url": None,
    }
    for name in KIND_FACTS[kind]:
        context[name] = _fact(data, name)
    if "rule_description" in context:
        # The appraisal's sentence is English: a Chinese reader gets one written from the
        # trigger's evidence (an event without triggers keeps the sentence it carries).
        said = rule_sentence(data.get("rule") or data.get("trigger"), data.get("triggers"),
                             recipient.language)
        if said:
            context["rule_description"] = said
    if "ending" in context:
        context["ending"] = "expired" if event_type == "contract.expired" else "terminated"
    if "indicator_count" in context and isinstance(data.get("targets"), list):
        context["indicator_count"] = len(data["targets"])
    if "days_left" in context:
        due = context.get("due_date") or (
            context.get("end_date") if kind in (NoticeKind.CONTRACT_EXPIRING,
                                                NoticeKind.CONTRACT_EXPIRING_HR) else None)
        context["days_left"] = _days_left(data, due, envelope.get("time"))
    return context


def route_event(envelope: Mapping[str, Any], directory: RecipientDirectory) -> Routing:
    """The notices one event produces; an event type without rules produces none."""
    event_type = str(envelope.get("type", ""))
    routes = ROUTES.get(event_type)
    if not routes:
        return Routing()
    data: Mapping[str, Any] = envelope.get("data") or {}
    if event_type == "notice.given_up" and data.get("kind") == NoticeKind.DELIVERY_GIVEN_UP_HR:
        # An alert about an alert would loop; the inbox copy of the first alert stays.
        return Routing()
    source = _key_source(envelope, data)
    manager = _manager(envelope, data, directory)
    org_unit_id = data.get("org_unit_id")
    notices: dict[str, Notice] = {}
    unresolved: list[str] = []

    def appraisers() -> list[Recipient]:
        found = []
        for person_id in _appraiser_ids(data):
            person = directory.find_person(person_id)
            if person is None:
                if person_id not in unresolved:
                    unresolved.append(person_id)
            else:
                found.append(person)
        return found

    for route in routes:
        if route.when is not None and not route.when(data):
            continue
        targets: Sequence[tuple[Recipient, RecipientRole]]
        if route.audience is Audience.MANAGER:
            targets = [(manager, RecipientRole.MANAGER)] if manager else []
        elif route.audience is Audience.HR:
            targets = [(p, RecipientRole.HR_ADMIN) for p in directory.hr_admins_for(org_unit_id)]
        elif route.audience is Audience.SIGNATORY_ELSE_HR:
            signatory = (directory.find_person(str(data["signatory_manager_id"]))
                         if data.get("signatory_manager_id") else None)
            targets = [(signatory, RecipientRole.SIGNATORY)] if signatory else [
                (p, RecipientRole.HR_ADMIN) for p in directory.hr_admins_for(org_unit_id)]
        elif route.audience is Audience.APPRAISERS:
            targets = [(p, RecipientRole.APPRAISER) for p in appraisers()]
        else:
            targets = [(p, RecipientRole.APPRAISER) for p in appraisers()] or [
                (p, RecipientRole.HR_ADMIN) for p in directory.hr_admins_for(org_unit_id)]
        for person, role in targets:
            key = notice_key(source, person.id, route.kind)
            if key in notices:
                continue  # the same person reached twice for the same kind (HR and appraiser)
            language = normalise_language(person.language)
            notices[key] = Notice(
                notice_key=key, kind=route.kind, role=role,
                recipient=Recipient(person.id, person.name, person.email, language),
                language=language, event_id=str(envelope.get("id")), event_type=event_type,
                manager_id=manager.id if manager else None,
                org_unit_id=str(org_unit_id) if org_unit_id else None,
                context=build_context(route.kind, role, person, manager, envelope),
            )
    return Routing(notices=tuple(notices.values()), unresolved=tuple(unresolved))
