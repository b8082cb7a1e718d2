"""The signing rules: who signs which side, in force only when both, paper signatures."""

from __future__ import annotations

from datetime import date

import pytest

from services.contracts import domain as d
from services.contracts.domain.org import OrgUnitView

SUB = OrgUnitView("u-sub", "u-hq", "Energy Co.", d.UnitKind.ENTERPRISE, "commercial_competitive",
                  True, 2)
HQ = OrgUnitView("u-hq", None, "Group HQ", d.UnitKind.GROUP, "commercial_competitive", True, 1)
DEPT = OrgUnitView("u-dept", "u-sub", "Finance Dept", d.UnitKind.DEPARTMENT,
                   "commercial_competitive", False, 3)
TODAY = date(2026, 3, 1)


def caller(*roles: str, manager_id: str | None = None, covers: bool = True) -> d.Caller:
    return d.Caller("someone", frozenset(roles), manager_id, covers)


def test_board_means_the_chair_of_the_enterprise_countersigns() -> None:
    c = d.countersigner("board", SUB, HQ)
    assert (c.position, c.unit_id) == (d.Position.CHAIR, "u-sub")


def test_a_departments_general_manager_signatory_is_the_enterprise_above_it() -> None:
    c = d.countersigner("general_manager", DEPT, SUB)
    assert (c.position, c.unit_id) == (d.Position.GENERAL_MANAGER, "u-sub")


def test_parent_enterprise_means_the_parents_general_manager() -> None:
    c = d.countersigner("parent_enterprise", SUB, HQ)
    assert (c.position, c.unit_id) == (d.Position.GENERAL_MANAGER, "u-hq")


@pytest.mark.parametrize("kind", ["supervisor", "override"])
def test_supervisor_and_override_sign_with_the_employer_signatory_role(kind: str) -> None:
    c = d.countersigner(kind, HQ, None)
    assert c.position is None and "employer_signatory" in c.description


def test_the_manager_signs_the_managers_side_with_their_own_token() -> None:
    c = d.countersigner("board", SUB, HQ)
    party = d.electronic_party(caller("manager", manager_id="gm"), "gm", c, {"chair"}, "")
    assert party == d.Party.MANAGER


def test_the_position_holder_countersigns_for_the_employer() -> None:
    c = d.countersigner("board", SUB, HQ)
    party = d.electronic_party(caller("manager", manager_id="chair"), "gm", c, {"chair"}, "")
    assert party == d.Party.EMPLOYER


@pytest.mark.parametrize("who", [
    caller("hr_admin"),
    caller("service"),
    caller("hr_admin", "manager"),  # an HR token naming no manager
    caller("manager", manager_id="deputy"),
    caller("employer_signatory"),  # a position is named: a role token is not its holder
])
def test_nobody_else_signs_and_the_refusal_names_who_must(who: d.Caller) -> None:
    c = d.countersigner("board", SUB, HQ)
    must = d.who_must_sign("Wang Li", c, ["Zhao Min"])
    with pytest.raises(d.NotTheSignatory) as info:
        d.electronic_party(who, "gm", c, {"chair"}, must)
    assert info.value.status == 403
    assert "Wang Li" in info.value.detail and "Zhao Min" in info.value.detail


def test_employer_signatory_must_have_a_scope_covering_the_unit() -> None:
    c = d.countersigner("supervisor", HQ, None)
    assert d.electronic_party(caller("employer_signatory"), "gm", c, set(), "") \
        == d.Party.EMPLOYER
    with pytest.raises(d.NotTheSignatory):
        d.electronic_party(caller("employer_signatory", covers=False), "gm", c, set(), "")


def test_a_vacant_post_is_named_with_what_to_do() -> None:
    must = d.who_must_sign("Wang Li", d.countersigner("board", SUB, HQ), [])
    assert "nobody holds that position" in must and "signatory override" in must


def test_in_force_only_when_both_sides_have_signed() -> None:
    assert d.signing_state(set()) == d.SigningState.AWAITING_MANAGER
    assert d.signing_state({d.Party.MANAGER}) == d.SigningState.AWAITING_EMPLOYER
    assert d.signing_state({d.Party.EMPLOYER}) == d.SigningState.AWAITING_MANAGER
    assert d.signing_state({d.Party.MANAGER, d.Party.EMPLOYER}) == d.SigningState.IN_FORCE


def test_the_employer_countersigns_after_the_manager_and_each_signs_once() -> None:
    with pytest.raises(d.SigningConflict, match="the manager signs first"):
        d.check_may_sign(d.Party.EMPLOYER, set(), "the appointment agreement")
    with pytest.raises(d.SigningConflict, match="already signed"):
        d.check_may_sign(d.Party.MANAGER, {d.Party.MANAGER}, "the appointment agreement")
    d.check_may_sign(d.Party.EMPLOYER, {d.Party.MANAGER}, "the appointment agreement")


def test_paper_signature_needs_party_date_and_reference_all_reported_at_once() -> None:
    with pytest.raises(d.PaperSignatureInvalid) as info:
        d.check_paper_signature(None, None, "  ", TODAY)
    assert set(info.value.errors) == {"party", "signed_on", "paper_reference"}


def test_paper_dated_tomorrow_is_refused_and_today_is_accepted() -> None:
    with pytest.raises(d.PaperSignatureInvalid):
        d.check_paper_signature("manager", date(2026, 3, 2), "HR-1", TODAY)
    assert d.check_paper_signature("employer", TODAY, " HR-1 ", TODAY) == (
        d.Party.EMPLOYER, TODAY, "HR-1")


def test_an_electronic_signature_carries_no_paper_date_or_reference() -> None:
    with pytest.raises(d.PaperSignatureInvalid) as info:
        d.check_electronic_fields(TODAY, "HR-1")
    assert set(info.value.errors) == {"signed_on", "paper_reference"}


def test_only_a_document_in_force_is_amended_and_one_amendment_at_a_time() -> None:
    with pytest.raises(d.SigningConflict, match="PUT"):
        d.check_targets_amendable(d.SigningState.AWAITING_MANAGER, None, "The doc")
    with pytest.raises(d.SigningConflict, match="countersign"):
        d.check_targets_amendable(d.SigningState.AWAITING_EMPLOYER, None, "The doc")
    with pytest.raises(d.SigningConflict, match="version 3"):
        d.check_targets_amendable(d.SigningState.IN_FORCE, 3, "The doc")
    d.check_targets_amendable(d.SigningState.IN_FORCE, None, "The doc")
