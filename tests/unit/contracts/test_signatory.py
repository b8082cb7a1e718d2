"""Who signs for the employer: board, general manager, parent enterprise, supervisor."""

from __future__ import annotations

import pytest

from services.contracts import domain as d

P, K = d.Position, d.UnitKind


def unit(uid: str, parent: str | None, kind: d.UnitKind, has_board: bool,
         layer: int = 2) -> d.OrgUnitView:
    return d.OrgUnitView(id=uid, parent_id=parent, name=uid.upper(), kind=kind,
                         category="commercial_competitive", has_board=has_board, layer=layer)


HQ_BOARD = unit("hq", None, K.GROUP, True, layer=1)
HQ_NO_BOARD = unit("hq", None, K.GROUP, False, layer=1)
SUB_BOARD = unit("sub", "hq", K.ENTERPRISE, True)
SUB_NO_BOARD = unit("plain", "hq", K.ENTERPRISE, False)
DEPT = unit("dept", "sub", K.DEPARTMENT, False, layer=3)
DEPUTIES = [P.DEPUTY_GENERAL_MANAGER, P.CHIEF_FINANCIAL_OFFICER, P.CHIEF_ENGINEER,
            P.BOARD_SECRETARY, P.MIDDLE_MANAGER, P.OTHER]


def test_with_a_board_the_chair_signs_for_the_board_with_the_general_manager() -> None:
    sig = d.employer_signatory(SUB_BOARD, P.GENERAL_MANAGER, HQ_BOARD)
    assert sig.kind == "board"
    assert sig.signed_by_position == "chair" and sig.authorised_by is None
    assert sig.override_reason is None and "board" in sig.description


@pytest.mark.parametrize("position", DEPUTIES)
def test_with_a_board_the_general_manager_signs_with_deputies_by_its_authorisation(
        position: d.Position) -> None:
    sig = d.employer_signatory(SUB_BOARD, position, HQ_BOARD)
    assert (sig.kind, sig.signed_by_position, sig.authorised_by) == (
        "general_manager", "general_manager", "board")
    assert position.value in sig.description


@pytest.mark.parametrize("position", DEPUTIES)
def test_without_a_board_the_general_manager_signs_with_deputies_on_own_authority(
        position: d.Position) -> None:
    sig = d.employer_signatory(SUB_NO_BOARD, position, HQ_BOARD)
    assert (sig.kind, sig.signed_by_position, sig.authorised_by) == (
        "general_manager", "general_manager", None)


def test_the_chair_of_a_subsidiary_signs_with_the_parent_enterprise() -> None:
    sig = d.employer_signatory(SUB_BOARD, P.CHAIR, HQ_BOARD)
    assert sig.kind == "parent_enterprise" and "HQ" in sig.description


def test_without_a_board_the_general_manager_of_a_subsidiary_signs_with_the_parent() -> None:
    sig = d.employer_signatory(SUB_NO_BOARD, P.GENERAL_MANAGER, HQ_BOARD)
    assert sig.kind == "parent_enterprise" and "general manager" in sig.description


def test_the_chair_of_the_group_hq_signs_with_the_supervisor() -> None:
    sig = d.employer_signatory(HQ_BOARD, P.CHAIR, None)
    assert sig.kind == "supervisor" and d.SUPERVISOR in sig.description


def test_the_head_of_a_group_hq_without_board_signs_with_the_supervisor() -> None:
    sig = d.employer_signatory(HQ_NO_BOARD, P.GENERAL_MANAGER, None)
    assert sig.kind == "supervisor"


def test_the_general_manager_of_a_group_hq_with_board_signs_with_the_board() -> None:
    assert d.employer_signatory(HQ_BOARD, P.GENERAL_MANAGER, None).kind == "board"


def test_deputies_of_the_group_hq_sign_with_its_general_manager() -> None:
    sig = d.employer_signatory(HQ_BOARD, P.CHIEF_FINANCIAL_OFFICER, None)
    assert (sig.kind, sig.authorised_by) == ("general_manager", "board")


def test_a_middle_manager_in_a_department_signs_with_the_enterprise_gm_under_its_board() -> None:
    sig = d.employer_signatory(DEPT, P.MIDDLE_MANAGER, SUB_BOARD)
    assert (sig.kind, sig.authorised_by) == ("general_manager", "board")
    assert "SUB" in sig.description


def test_a_department_of_an_enterprise_without_board_has_no_board_authorisation() -> None:
    dept = unit("d2", "plain", K.DEPARTMENT, False, layer=3)
    sig = d.employer_signatory(dept, P.MIDDLE_MANAGER, SUB_NO_BOARD)
    assert (sig.kind, sig.authorised_by) == ("general_manager", None)


@pytest.mark.parametrize("position", [P.CHAIR, P.GENERAL_MANAGER])
def test_a_chair_or_gm_registered_in_a_department_needs_an_override(
        position: d.Position) -> None:
    with pytest.raises(d.SignatoryRequired) as info:
        d.employer_signatory(DEPT, position, SUB_BOARD)
    assert info.value.status == 422 and "signatory_override" in info.value.errors


def test_position_may_be_the_stored_string() -> None:
    assert d.employer_signatory(SUB_BOARD, "general_manager", HQ_BOARD).kind == "board"


# --- overrides --------------------------------------------------------------------------------

def test_an_override_is_recorded_with_its_reason() -> None:
    sig = d.employer_signatory(SUB_BOARD, P.GENERAL_MANAGER, HQ_BOARD,
                               ("parent_enterprise", "Board not yet constituted"))
    assert sig.kind == "override"
    assert sig.override_reason == "Board not yet constituted"
    assert "parent_enterprise" in sig.description
    assert "instead of" in sig.description and "board" in sig.description


def test_an_override_naming_a_position_records_who_holds_the_pen() -> None:
    sig = d.employer_signatory(SUB_NO_BOARD, P.CHIEF_ENGINEER, HQ_BOARD,
                               ("chair", "GM post vacant"))
    assert sig.signed_by_position == "chair"


def test_an_override_resolves_a_case_no_rule_covers() -> None:
    sig = d.employer_signatory(DEPT, P.CHAIR, SUB_BOARD, ("supervisor", "Special appointment"))
    assert sig.kind == "override" and "no rule applies" in sig.description


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_override_without_a_reason_is_refused(reason: str) -> None:
    with pytest.raises(d.SignatoryRequired) as info:
        d.employer_signatory(SUB_BOARD, P.GENERAL_MANAGER, HQ_BOARD, ("supervisor", reason))
    assert set(info.value.errors) == {"signatory_override.reason"}


def test_an_override_without_who_signs_is_refused() -> None:
    with pytest.raises(d.SignatoryRequired) as info:
        d.employer_signatory(SUB_BOARD, P.GENERAL_MANAGER, HQ_BOARD, ("", "why"))
    assert set(info.value.errors) == {"signatory_override.kind"}


def test_every_rule_produces_a_known_kind() -> None:
    for u, parent in [(HQ_BOARD, None), (HQ_NO_BOARD, None), (SUB_BOARD, HQ_BOARD),
                      (SUB_NO_BOARD, HQ_BOARD)]:
        for position in P:
            assert d.employer_signatory(u, position, parent).kind in d.SIGNATORY_KINDS
