"""Sample events and people: the context templates are validated and previewed against.

Sample contexts are produced by routing these sample events, so they always hold exactly the
variables a real notice of that kind gets.
"""

from __future__ import annotations

from typing import Any

from services.notifications.domain.notices import (
    REVIEW_DUE_EVENT,
    ROUTES,
    NoticeKind,
    Recipient,
    StaticDirectory,
    route_event,
)

SAMPLE_UNIT = "7d0f2c1e-0000-4000-8000-000000000001"
SAMPLE_MANAGER = Recipient("5a1e0b7c-0000-4000-8000-000000000002", "张伟", "zhang.wei@example.com",
                           "zh")
SAMPLE_APPRAISER = Recipient("5a1e0b7c-0000-4000-8000-000000000003", "Li Na",
                             "li.na@example.com", "en")
SAMPLE_HR = Recipient("5a1e0b7c-0000-4000-8000-000000000004", "王芳", "wang.fang@example.com",
                      "zh")

SAMPLE_SIGNATORY = Recipient("5a1e0b7c-0000-4000-8000-000000000009", "赵敏",
                             "zhao.min@example.com", "zh")

SAMPLE_DIRECTORY = StaticDirectory(
    [SAMPLE_MANAGER, SAMPLE_APPRAISER, SAMPLE_HR, SAMPLE_SIGNATORY], {SAMPLE_HR.id: None})

_MANAGER_DATA: dict[str, Any] = {
    "manager_id": SAMPLE_MANAGER.id,
    "manager_name": SAMPLE_MANAGER.name,
    "manager_email": SAMPLE_MANAGER.email,
    "manager_language": SAMPLE_MANAGER.language,
    "employee_no": "E-10086",
    "org_unit_id": SAMPLE_UNIT,
    "org_unit_name": "华东能源有限公司",
    "appraiser_ids": [SAMPLE_APPRAISER.id],
    # Codes as real events carry them: templates must print their words (`position_label`).
    "position": "general_manager",
    "management_level": "enterprise_leadership",
    "layer": 2,
    "category": "commercial_competitive",
}
_CONTRACT_DATA: dict[str, Any] = {
    "contract_id": "c0a1b2c3-0000-4000-8000-000000000005",
    "start_date": "2025-01-01",
    "end_date": "2027-12-31",
    "term_years": 3,
    "term_number": 2,
    "signing_deadline": "2025-01-15",
    "state": "pending_signature",
}
_APPRAISAL_DATA: dict[str, Any] = {
    "appraisal_id": "a9b8c7d6-0000-4000-8000-000000000006",
    "year": 2025,
    "kind": "annual",
    "grade": "basically_competent",
    "score": "58.40",
    "outcome": "bottom_grade_adjustment",
}

SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "contract.issued": {**_MANAGER_DATA, **_CONTRACT_DATA},
    "contract.signed": {**_MANAGER_DATA, **_CONTRACT_DATA, "state": "active"},
    "contract.amended": {
        **_MANAGER_DATA, **_CONTRACT_DATA, "version": 2, "reason": "New strategy for 2026",
        "approved_by": "Board resolution 2026-9",
        "documents_to_sign": [{"document_id": "d0c0d0c0-0000-4000-8000-00000000000a",
                               "kind": "annual_performance_contract", "year": 2026,
                               "amendment_version": 2}]},
    "contract.countersignature_requested": {
        **_MANAGER_DATA, **_CONTRACT_DATA,
        "countersigner": "the chair of East China Energy Co., for its board",
        "signatory_manager_id": SAMPLE_SIGNATORY.id, "signatory_name": SAMPLE_SIGNATORY.name},
    "targets.set": {**_MANAGER_DATA, **_CONTRACT_DATA, "year": 2025, "kind": "annual",
                    "locked": True, "targets": [{"indicator": "profit"}, {"indicator": "roe"}]},
    "appraisal.published": {**_MANAGER_DATA, **_APPRAISAL_DATA},
    "exit.triggered": {**_MANAGER_DATA, **_APPRAISAL_DATA, "grade": "not_competent",
                       "outcome": "incompetence_exit", "rule": "grade_not_competent",
                       "trigger": "grade_not_competent",
                       "rule_description": "graded not competent",
                       "exit_state": "pending", "appeal_deadline": "2026-03-18",
                       "appeal_window_days": 15},
    "exit.confirmed": {**_MANAGER_DATA, **_APPRAISAL_DATA,
                       "contract_id": _CONTRACT_DATA["contract_id"],
                       "rule": "grade_not_competent", "rule_description": "graded not competent",
                       "because": "window_closed", "appeal_deadline": "2026-03-18"},
    "exit.cancelled": {**_MANAGER_DATA, **_APPRAISAL_DATA,
                       "contract_id": _CONTRACT_DATA["contract_id"],
                       "because": "appeal_upheld_passes", "contract_terminated": True},
    "contract.reinstated": {**_MANAGER_DATA, **_CONTRACT_DATA,
                            "reason": "Exit cancelled: an upheld appeal's new result passes"},
    "contract.expiring": {**_MANAGER_DATA, **_CONTRACT_DATA, "state": "active",
                          "days_left": 30},
    "contract.expired": {**_MANAGER_DATA, **_CONTRACT_DATA, "state": "expired"},
    "contract.terminated": {**_MANAGER_DATA, **_CONTRACT_DATA, "state": "terminated",
                            "reason": "appraisal_exit", "previous_state": "active"},
    "tenure.concluded": {**_MANAGER_DATA, **_APPRAISAL_DATA, "contract_id":
                         _CONTRACT_DATA["contract_id"], "outcome": "renew_with_conditions",
                         "appraisal_outcome": "retain",
                         "conditions": "Improve return on equity to 8%"},
    "actuals.due": {**_MANAGER_DATA, **_APPRAISAL_DATA, "due_date": "2026-01-31",
                    "days_left": 14},
    REVIEW_DUE_EVENT: {**_MANAGER_DATA, **_APPRAISAL_DATA, "due_date": "2026-02-28",
                       "days_left": 7},
    "self_report.due": {**_MANAGER_DATA, **_APPRAISAL_DATA, "due_date": "2026-01-20",
                        "days_left": 7, "reminder_days": 7},
    "self_report.submitted": {**_MANAGER_DATA, **_APPRAISAL_DATA, "revision": 2,
                              "actuals": "disputed", "channel": "manager",
                              "disputed_indicator": "PROFIT", "due_date": "2026-01-20",
                              "dispute_reason": "The audited profit is 3,150, not 3,050"},
    "notice.given_up": {**_MANAGER_DATA, "notice_key": "0f6e1a52-0000-5000-8000-000000000007",
                        "kind": "appraisal_result", "channel": "email",
                        "recipient_id": SAMPLE_MANAGER.id, "recipient_name": SAMPLE_MANAGER.name,
                        "attempts": 6, "reason": "550 mailbox unavailable", "generation": 0},
}


def sample_event(event_type: str) -> dict[str, Any]:
    """A complete envelope of the given type, as it would arrive from Kafka."""
    return {
        "specversion": "1.0",
        "id": "e1e2e3e4-0000-4000-8000-000000000008",
        "source": "/tenure/sample",
        "type": event_type,
        "subject": SAMPLE_MANAGER.id,
        "time": "2025-12-01T08:00:00Z",
        "datacontenttype": "application/json",
        "data": dict(SAMPLE_DATA[event_type]),
    }


def _event_type_for(kind: NoticeKind) -> str:
    for event_type, routes in ROUTES.items():
        if any(route.kind is kind for route in routes):
            return event_type
    raise KeyError(kind)


def sample_context(kind: NoticeKind | str) -> dict[str, Any]:
    """The variables of a realistic notice of this kind."""
    kind = NoticeKind(kind)
    routing = route_event(sample_event(_event_type_for(kind)), SAMPLE_DIRECTORY)
    for notice in routing.notices:
        if notice.kind is kind:
            return dict(notice.context)
    raise KeyError(kind)  # pragma: no cover - every kind has a route from its sample event
