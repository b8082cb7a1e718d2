"""The contract state machine and the amendment rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contracts import domain as d

S, A = d.ContractState, d.ContractAction

LEGAL = {
    (S.DRAFT, A.ISSUE): S.PENDING_SIGNATURE,
    (S.PENDING_SIGNATURE, A.SIGN): S.ACTIVE,
    (S.ACTIVE, A.EXPIRE): S.EXPIRED,
    (S.ACTIVE, A.TERMINATE): S.TERMINATED,
    (S.ACTIVE, A.RENEW): S.RENEWED,
    (S.DRAFT, A.WITHDRAW): S.TERMINATED,
    (S.PENDING_SIGNATURE, A.WITHDRAW): S.TERMINATED,
}
MATRIX = [(s, a) for s in S for a in A]


@pytest.mark.parametrize(("state", "action"), MATRIX, ids=[f"{s}-{a}" for s, a in MATRIX])
def test_every_state_action_pair_is_legal_only_if_listed(state: S, action: A) -> None:
    if (state, action) in LEGAL:
        assert d.transition(state, action) is LEGAL[(state, action)]
    else:
        with pytest.raises(d.IllegalTransition) as info:
            d.transition(state, action)
        assert info.value.status == 409
        assert state.value in info.value.detail and action.value in info.value.detail


def test_the_matrix_has_exactly_seven_legal_moves() -> None:
    assert dict(d.TRANSITIONS) == LEGAL
    assert sum(1 for s, a in MATRIX if (s, a) in LEGAL) == 7


def test_transition_accepts_plain_strings_from_the_database() -> None:
    assert d.transition("draft", "issue") is S.PENDING_SIGNATURE


def test_terminal_states_are_expired_terminated_and_renewed() -> None:
    assert frozenset({S.EXPIRED, S.TERMINATED, S.RENEWED}) == d.TERMINAL_STATES


@pytest.mark.parametrize("state", sorted(d.TERMINAL_STATES))
def test_no_action_leaves_a_terminal_state(state: S) -> None:
    assert d.allowed_actions(state) == frozenset()
    for action in A:
        with pytest.raises(d.IllegalTransition):
            d.transition(state, action)


def test_allowed_actions_of_an_active_contract() -> None:
    assert d.allowed_actions(S.ACTIVE) == {A.EXPIRE, A.TERMINATE, A.RENEW}
    assert d.allowed_actions(S.DRAFT) == {A.ISSUE, A.WITHDRAW}


def test_signing_a_draft_names_state_and_action_and_the_allowed_ones() -> None:
    with pytest.raises(d.IllegalTransition) as info:
        d.transition(S.DRAFT, A.SIGN)
    assert "draft" in info.value.detail and "sign" in info.value.detail
    assert "issue" in info.value.detail
    assert info.value.errors == {"state": ["'sign' is not allowed in state 'draft'"]}


@given(st.lists(st.sampled_from(list(A)), max_size=12))
def test_any_action_sequence_from_draft_stays_in_the_machine(actions: list[A]) -> None:
    state = S.DRAFT
    for action in actions:
        try:
            new = d.transition(state, action)
        except d.IllegalTransition:
            continue
        assert state not in d.TERMINAL_STATES
        assert (state, action) in LEGAL
        state = new
    assert state in set(S)


# --- amendments -------------------------------------------------------------------------------

def test_next_version_adds_one() -> None:
    assert d.next_version(1) == 2
    assert d.next_version(41) == 42


def test_versions_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        d.next_version(0)


@pytest.mark.parametrize("state", [S.ACTIVE, S.PENDING_SIGNATURE])
def test_active_and_pending_contracts_can_be_amended_with_reason_and_approver(state: S) -> None:
    assert d.check_amendment(state, "Restructuring", "Board resolution 2026-12") is None


@pytest.mark.parametrize("state", [S.DRAFT, S.EXPIRED, S.TERMINATED, S.RENEWED])
def test_other_states_cannot_be_amended(state: S) -> None:
    with pytest.raises(d.IllegalTransition) as info:
        d.check_amendment(state, "Restructuring", "HR director")
    assert info.value.status == 409 and state.value in info.value.detail


def test_amendment_without_reason_and_approver_names_both_fields() -> None:
    with pytest.raises(d.AmendmentInvalid) as info:
        d.check_amendment(S.ACTIVE, "  ", "")
    assert info.value.status == 422
    assert set(info.value.errors) == {"reason", "approved_by"}


def test_amendment_without_approver_names_only_the_approver() -> None:
    with pytest.raises(d.AmendmentInvalid) as info:
        d.check_amendment(S.PENDING_SIGNATURE, "Restructuring", None)
    assert set(info.value.errors) == {"approved_by"}


def test_amendment_state_is_checked_before_the_form() -> None:
    with pytest.raises(d.IllegalTransition):
        d.check_amendment(S.EXPIRED, "", "")


def test_only_a_contract_terminated_by_the_cancelled_exit_is_reinstated() -> None:
    assert d.check_reinstatement("terminated", terminated_by_exit=True) is d.ContractState.ACTIVE
    for state in ("active", "expired", "renewed", "draft"):
        with pytest.raises(d.IllegalTransition):
            d.check_reinstatement(state, terminated_by_exit=True)
    with pytest.raises(d.IllegalTransition):
        d.check_reinstatement("terminated", terminated_by_exit=False)
