"""Self-report notices: the reminder goes to the manager, the submission to HR, in words."""

from __future__ import annotations

from typing import Any

from services.notifications.domain import (
    NoticeKind,
    Recipient,
    RecipientRole,
    StaticDirectory,
    render_notice,
    route_event,
)

UNIT = "unit-east"
MANAGER = Recipient("m-1", "Zhang Wei", "zhang.wei@example.com", "en")
APPRAISER = Recipient("a-1", "Li Na", "li.na@example.com", "en")
HR_UNIT = Recipient("hr-east", "王芳", "wang.fang@example.com", "zh")
HR_GROUP = Recipient("hr-group", "Chen Jie", "chen.jie@example.com", "en")
DIRECTORY = StaticDirectory([MANAGER, APPRAISER, HR_UNIT, HR_GROUP],
                            {HR_UNIT.id: UNIT, HR_GROUP.id: None})


def event(event_type: str, **data: Any) -> dict[str, Any]:
    base = {"appraisal_id": "ap-1", "manager_id": MANAGER.id, "manager_name": MANAGER.name,
            "manager_language": "en", "org_unit_id": UNIT, "org_unit_name": "East Energy",
            "employee_no": "E-1", "year": 2026, "appraiser_ids": [APPRAISER.id], **data}
    return {"specversion": "1.0", "id": "ev-1", "source": "/tenure/appraisal",
            "type": event_type, "subject": MANAGER.id, "time": "2027-01-13T06:00:00Z",
            "data": base}


def test_the_self_report_reminder_goes_to_the_manager_only() -> None:
    routing = route_event(event("self_report.due", due_date="2027-01-20", days_left=7),
                          DIRECTORY)
    assert [(n.recipient.id, n.kind, n.role) for n in routing.notices] == [
        (MANAGER.id, NoticeKind.SELF_REPORT_DUE, RecipientRole.MANAGER)]
    message = render_notice(routing.notices[0])
    assert message.subject == "[Tenure] Your 2026 self-report is due on 2027-01-20"
    assert "(7 days left)" in message.text
    assert "without a report" in message.text


def test_a_submitted_self_report_goes_to_the_hr_admins_of_the_scope_not_the_manager() -> None:
    routing = route_event(event("self_report.submitted", revision=1, actuals="confirmed",
                                channel="manager"), DIRECTORY)
    assert {(n.recipient.id, n.kind, n.role) for n in routing.notices} == {
        (HR_UNIT.id, NoticeKind.SELF_REPORT_SUBMITTED_HR, RecipientRole.HR_ADMIN),
        (HR_GROUP.id, NoticeKind.SELF_REPORT_SUBMITTED_HR, RecipientRole.HR_ADMIN)}
    english = next(n for n in routing.notices if n.recipient.id == HR_GROUP.id)
    text = render_notice(english).text
    assert "submitted the self-report for 2026" in text
    assert "confirmed the actuals" in text


def test_a_disputed_actual_is_named_with_its_reason_in_both_languages() -> None:
    routing = route_event(event("self_report.submitted", revision=2, actuals="disputed",
                                channel="manager", disputed_indicator="PROFIT",
                                dispute_reason="audited 1,200"), DIRECTORY)
    by_person = {n.recipient.id: render_notice(n) for n in routing.notices}
    english, chinese = by_person[HR_GROUP.id], by_person[HR_UNIT.id]
    assert english.subject.endswith("(an actual is disputed)")
    assert "disputes the actual of PROFIT: audited 1,200" in english.text
    assert "(revision 2)" in english.text
    assert "对完成值有异议" in chinese.subject
    assert "指标 PROFIT 的完成值提出异议" in chinese.text
    assert "disputed" not in chinese.text


def test_a_paper_report_is_said_to_be_recorded_by_hr() -> None:
    routing = route_event(event("self_report.submitted", revision=1, actuals="confirmed",
                                channel="paper"), DIRECTORY)
    by_person = {n.recipient.id: render_notice(n) for n in routing.notices}
    assert "handed in a self-report on paper for 2026, recorded by HR" in \
        by_person[HR_GROUP.id].text
    assert "纸质报告" in by_person[HR_UNIT.id].text
