"""Routing rules: which event produces which notice, for whom, in which language, with which key."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifications.domain import (
    ROUTES,
    NoticeKind,
    Recipient,
    RecipientRole,
    StaticDirectory,
    normalise_language,
    notice_key,
    route_event,
    sample_event,
    variables_for,
)
from shared.labels import with_labels

UNIT = "unit-east"
OTHER_UNIT = "unit-west"
MANAGER = Recipient("m-1", "张伟", "zhang.wei@example.com", "zh")
APPRAISER = Recipient("a-1", "Li Na", "li.na@example.com", "en")
HR_UNIT = Recipient("hr-east", "王芳", "wang.fang@example.com", "zh")
HR_GROUP = Recipient("hr-group", "Chen Jie", "chen.jie@example.com", "en-GB")
HR_ELSEWHERE = Recipient("hr-west", "赵敏", "zhao.min@example.com", "zh")

DIRECTORY = StaticDirectory(
    [MANAGER, APPRAISER, HR_UNIT, HR_GROUP, HR_ELSEWHERE],
    {HR_UNIT.id: "holding-east", HR_GROUP.id: None, HR_ELSEWHERE.id: OTHER_UNIT},
    units_under={"holding-east": [UNIT]},
)
HR = {HR_UNIT.id, HR_GROUP.id}


def event(event_type: str, event_id: str = "ev-1", **data: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "manager_id": MANAGER.id, "manager_name": MANAGER.name,
        "manager_email": MANAGER.email, "manager_language": "zh", "org_unit_id": UNIT,
        "org_unit_name": "华东能源", "employee_no": "E-1", "contract_id": "c-1",
        "start_date": "2025-01-01", "end_date": "2027-12-31", "appraisal_id": "ap-1",
        "year": 2025, "grade": "D", "score": "48.00",
    }
    base.update(data)
    return {"specversion": "1.0", "id": event_id, "source": "/tenure/test", "type": event_type,
            "subject": MANAGER.id, "time": "2026-03-01T09:00:00Z", "data": base}


def who(routing: Any) -> set[tuple[str, NoticeKind, RecipientRole]]:
    return {(n.recipient.id, n.kind, n.role) for n in routing.notices}


def to_hr(kind: NoticeKind) -> set[tuple[str, NoticeKind, RecipientRole]]:
    return {(hr, kind, RecipientRole.HR_ADMIN) for hr in HR}


def to_manager(kind: NoticeKind) -> set[tuple[str, NoticeKind, RecipientRole]]:
    return {(MANAGER.id, kind, RecipientRole.MANAGER)}


K = NoticeKind


def test_contract_issued_asks_the_manager_to_sign_and_tells_hr_of_the_scope() -> None:
    got = who(route_event(event("contract.issued"), DIRECTORY))
    assert got == to_manager(K.CONTRACT_TO_SIGN) | to_hr(K.CONTRACT_ISSUED_HR)


def test_contract_signed_tells_the_manager_it_is_in_force_and_hr_it_is_signed() -> None:
    assert who(route_event(event("contract.signed"), DIRECTORY)) == \
        to_manager(K.CONTRACT_IN_FORCE) | to_hr(K.CONTRACT_SIGNED_HR)


def test_amended_targets_ask_the_manager_to_sign_again_and_other_amendments_do_not(
        ) -> None:
    doc = {"document_id": "d-1", "kind": "annual_performance_contract", "year": 2026}
    got = who(route_event(event("contract.amended", reason="r", version=2,
                                documents_to_sign=[doc]), DIRECTORY))
    assert got == to_manager(K.AMENDMENT_TO_SIGN)
    assert who(route_event(event("contract.amended", reason="r", version=2), DIRECTORY)) == set()


def test_countersignature_request_goes_to_the_signatory_manager_only() -> None:
    got = who(route_event(event("contract.countersignature_requested",
                                signatory_manager_id=APPRAISER.id,
                                countersigner="the chair of 华东能源"), DIRECTORY))
    assert got == {(APPRAISER.id, K.COUNTERSIGN_REQUEST, RecipientRole.SIGNATORY)}


def test_countersignature_request_without_a_signatory_manager_goes_to_hr_of_the_scope(
        ) -> None:
    for missing in (None, "nobody-known"):
        got = who(route_event(event("contract.countersignature_requested",
                                    signatory_manager_id=missing,
                                    countersigner="the supervisor's signatory"), DIRECTORY))
        assert got == to_hr(K.COUNTERSIGN_REQUEST)


def test_countersign_request_names_the_signatory_role_in_words() -> None:
    routing = route_event(event("contract.countersignature_requested",
                                signatory_manager_id=APPRAISER.id,
                                countersigner="the chair of Energy Co., for its board"),
                          DIRECTORY)
    context = routing.notices[0].context
    assert context["countersigner"] == "the chair of Energy Co., for its board"


def test_targets_set_tells_the_manager_only() -> None:
    assert who(route_event(event("targets.set"), DIRECTORY)) == to_manager(K.TARGETS_SET)


def test_appraisal_published_gives_the_manager_grade_and_score_and_tells_hr() -> None:
    routing = route_event(event("appraisal.published", grade="B", score="81.25"), DIRECTORY)
    assert who(routing) == to_manager(K.APPRAISAL_RESULT) | to_hr(K.APPRAISAL_PUBLISHED_HR)
    for notice in routing.notices:
        assert (notice.context["grade"], notice.context["score"]) == ("B", "81.25")


def test_exit_triggered_names_the_rule_to_manager_hr_and_appraiser() -> None:
    routing = route_event(event("exit.triggered", rule="two_consecutive_d",
                                rule_description="Two D grades in a row",
                                appraiser_ids=[APPRAISER.id]), DIRECTORY)
    assert who(routing) == (to_manager(K.EXIT_NOTICE) | to_hr(K.EXIT_TRIGGERED_HR)
                            | {(APPRAISER.id, K.EXIT_TRIGGERED_HR, RecipientRole.APPRAISER)})
    assert {n.context["rule"] for n in routing.notices} == {"two_consecutive_d"}
    assert {n.context["rule_description"] for n in routing.notices} == {"Two D grades in a row"}


def test_an_hr_admin_who_is_also_the_appraiser_gets_one_exit_notice() -> None:
    routing = route_event(event("exit.triggered", rule="r", appraiser_id=HR_UNIT.id), DIRECTORY)
    to_hr_unit = [n for n in routing.notices if n.recipient.id == HR_UNIT.id]
    assert len(to_hr_unit) == 1
    assert to_hr_unit[0].role is RecipientRole.HR_ADMIN


def test_contract_expiring_tells_manager_and_hr_the_days_left() -> None:
    routing = route_event(event("contract.expiring", days_left=30), DIRECTORY)
    assert who(routing) == to_manager(K.CONTRACT_EXPIRING) | to_hr(K.CONTRACT_EXPIRING_HR)
    assert {n.context["days_left"] for n in routing.notices} == {30}


@pytest.mark.parametrize("event_type,ending", [("contract.expired", "expired"),
                                               ("contract.terminated", "terminated")])
def test_contract_end_tells_manager_and_hr_how_it_ended(event_type: str, ending: str) -> None:
    routing = route_event(event(event_type, reason="Reorganisation"), DIRECTORY)
    assert who(routing) == to_manager(K.CONTRACT_ENDED) | to_hr(K.CONTRACT_ENDED_HR)
    assert {n.context["ending"] for n in routing.notices} == {ending}


def test_a_withdrawn_draft_is_not_announced_to_the_manager_who_never_saw_it() -> None:
    routing = route_event(event("contract.terminated", previous_state="draft"), DIRECTORY)
    assert who(routing) == to_hr(K.CONTRACT_ENDED_HR)


def test_tenure_concluded_tells_manager_and_hr_the_outcome() -> None:
    routing = route_event(event("tenure.concluded", outcome="exit"), DIRECTORY)
    assert who(routing) == to_manager(K.TENURE_CONCLUDED) | to_hr(K.TENURE_CONCLUDED_HR)
    assert {n.context["outcome"] for n in routing.notices} == {"exit"}


def test_actuals_due_goes_to_the_appraisers_when_the_event_names_them() -> None:
    routing = route_event(event("actuals.due", appraiser_ids=[APPRAISER.id],
                                due_date="2026-03-15"), DIRECTORY)
    assert who(routing) == {(APPRAISER.id, K.ACTUALS_DUE, RecipientRole.APPRAISER)}
    assert routing.notices[0].context["days_left"] == 14


def test_actuals_due_falls_back_to_hr_and_reports_an_unknown_appraiser() -> None:
    routing = route_event(event("actuals.due", appraiser_ids=["a-unknown"]), DIRECTORY)
    assert who(routing) == to_hr(K.ACTUALS_DUE)
    assert routing.unresolved == ("a-unknown",)


def test_given_up_delivery_alerts_hr() -> None:
    routing = route_event(event("notice.given_up", notice_key="nk-1", kind="appraisal_result",
                                channel="email", attempts=6, reason="550 no such user"),
                          DIRECTORY)
    assert who(routing) == to_hr(K.DELIVERY_GIVEN_UP_HR)
    assert {n.context["failed_channel"] for n in routing.notices} == {"email"}


def test_a_give_up_reported_twice_under_two_event_ids_alerts_hr_once() -> None:
    facts = {"notice_key": "nk-1", "kind": "appraisal_result", "channel": "email"}
    first = route_event(event("notice.given_up", event_id="ev-a", **facts), DIRECTORY)
    again = route_event(event("notice.given_up", event_id="ev-b", **facts), DIRECTORY)
    assert {n.notice_key for n in first.notices} == {n.notice_key for n in again.notices}


def test_an_alert_about_an_undeliverable_alert_does_not_loop() -> None:
    routing = route_event(event("notice.given_up", notice_key="nk-2",
                                kind="delivery_given_up_hr", channel="email"), DIRECTORY)
    assert routing.notices == ()


def test_hr_admins_outside_the_managers_scope_are_not_told() -> None:
    routing = route_event(event("contract.signed"), DIRECTORY)
    assert HR_ELSEWHERE.id not in {n.recipient.id for n in routing.notices}


@pytest.mark.parametrize("event_type", ["contract.drafted", "manager.registered",
                                        "appraisal.scored", "no.such.type", ""])
def test_event_types_without_rules_produce_no_notice(event_type: str) -> None:
    routing = route_event(event(event_type), DIRECTORY)
    assert routing.notices == ()
    assert routing.unresolved == ()


def test_each_recipient_reads_their_own_language() -> None:
    routing = route_event(event("appraisal.published", manager_language="en"), DIRECTORY)
    languages = {n.recipient.id: n.language for n in routing.notices}
    assert languages == {MANAGER.id: "en", HR_UNIT.id: "zh", HR_GROUP.id: "en"}


@pytest.mark.parametrize("raw,expected", [("zh", "zh"), ("zh-CN", "zh"), ("zh_Hans", "zh"),
                                          ("EN", "en"), ("en-GB", "en"), ("fr", "zh"),
                                          (None, "zh"), ("", "zh")])
def test_language_is_zh_or_en_and_anything_else_reads_chinese(raw: str | None,
                                                              expected: str) -> None:
    assert normalise_language(raw) == expected


def test_manager_details_missing_from_the_event_come_from_the_directory() -> None:
    envelope = event("targets.set")
    for key in ("manager_name", "manager_email", "manager_language"):
        del envelope["data"][key]
    (notice,) = route_event(envelope, DIRECTORY).notices
    assert notice.recipient == Recipient(MANAGER.id, MANAGER.name, MANAGER.email, "zh")


def test_the_manager_is_found_from_the_event_subject_when_data_lacks_the_id() -> None:
    envelope = event("targets.set")
    del envelope["data"]["manager_id"]
    (notice,) = route_event(envelope, DIRECTORY).notices
    assert notice.recipient.id == MANAGER.id
    assert notice.manager_id == MANAGER.id


def test_a_redelivered_event_maps_to_the_same_notice_keys() -> None:
    first = route_event(event("exit.triggered", appraiser_ids=[APPRAISER.id]), DIRECTORY)
    again = route_event(event("exit.triggered", appraiser_ids=[APPRAISER.id]), DIRECTORY)
    assert [n.notice_key for n in first.notices] == [n.notice_key for n in again.notices]
    assert len({n.notice_key for n in first.notices}) == len(first.notices)


def test_another_event_of_the_same_type_gets_other_keys() -> None:
    first = route_event(event("contract.expiring", event_id="ev-1"), DIRECTORY)
    later = route_event(event("contract.expiring", event_id="ev-2"), DIRECTORY)
    assert not {n.notice_key for n in first.notices} & {n.notice_key for n in later.notices}


def test_notice_key_is_a_uuid_of_event_recipient_and_kind() -> None:
    key = notice_key("ev-1", "m-1", K.APPRAISAL_RESULT)
    assert str(uuid.UUID(key)) == key
    assert key == notice_key("ev-1", "m-1", "appraisal_result")
    assert key != notice_key("ev-1", "m-1", K.EXIT_NOTICE)
    assert key != notice_key("ev-1", "m-2", K.APPRAISAL_RESULT)
    assert key != notice_key("ev-2", "m-1", K.APPRAISAL_RESULT)


@given(st.text(min_size=1), st.text(min_size=1), st.sampled_from(list(NoticeKind)))
def test_notice_key_depends_only_on_its_three_inputs(event_id: str, person: str,
                                                     kind: NoticeKind) -> None:
    assert notice_key(event_id, person, kind) == notice_key(event_id, person, kind)


@pytest.mark.parametrize("event_type", sorted(ROUTES))
def test_every_notice_context_holds_exactly_its_kinds_variables(event_type: str) -> None:
    routing = route_event(sample_event(event_type), DIRECTORY)
    assert routing.notices, event_type
    for notice in routing.notices:
        assert set(with_labels(notice.context, notice.language)) == set(
            variables_for(notice.kind))


def test_every_notice_kind_is_produced_by_some_event() -> None:
    produced = {route.kind for routes in ROUTES.values() for route in routes}
    assert produced == set(NoticeKind)


def test_an_exit_notice_in_chinese_says_why_in_chinese_from_the_triggers_evidence() -> None:
    triggers = [{"rule": "score_below_exit_line",
                 "description": "annual score 58.00 is below the exit line 60",
                 "evidence": {"total": "58.00", "exit_line": "60"}}]
    routing = route_event(event("exit.confirmed", rule="score_below_exit_line",
                                rule_description=triggers[0]["description"],
                                triggers=triggers, because="window_closed",
                                appeal_deadline="2026-03-18"), DIRECTORY)
    said = {n.recipient.id: n.context["rule_description"] for n in routing.notices}
    assert said[MANAGER.id] == "年度综合得分 58.00 低于退出线 60"
    assert said[HR_UNIT.id] == "年度综合得分 58.00 低于退出线 60"
    assert said[HR_GROUP.id] == "annual score 58.00 is below the exit line 60"
