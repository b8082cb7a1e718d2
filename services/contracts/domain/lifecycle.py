"""The tenure contract's life cycle: its state machine and the rules for amending it."""

from __future__ import annotations

from services.contracts.domain.errors import AmendmentInvalid, IllegalTransition
from services.contracts.domain.vocabulary import ContractAction, ContractState

_S, _A = ContractState, ContractAction

#: Every legal (state, action) pair and where it leads; anything else is illegal.
TRANSITIONS: dict[tuple[ContractState, ContractAction], ContractState] = {
    (_S.DRAFT, _A.ISSUE): _S.PENDING_SIGNATURE,
    (_S.PENDING_SIGNATURE, _A.SIGN): _S.ACTIVE,
    (_S.ACTIVE, _A.EXPIRE): _S.EXPIRED,
    (_S.ACTIVE, _A.TERMINATE): _S.TERMINATED,
    (_S.ACTIVE, _A.RENEW): _S.RENEWED,  # a new contract follows, starting the next day
    (_S.DRAFT, _A.WITHDRAW): _S.TERMINATED,
    (_S.PENDING_SIGNATURE, _A.WITHDRAW): _S.TERMINATED,
}

#: States no action leaves: the contract is history.
TERMINAL_STATES: frozenset[ContractState] = frozenset({_S.EXPIRED, _S.TERMINATED, _S.RENEWED})

#: Only a contract still being signed or in force can be amended; history is not rewritten.
AMENDABLE_STATES: frozenset[ContractState] = frozenset({_S.PENDING_SIGNATURE, _S.ACTIVE})


def transition(state: ContractState | str, action: ContractAction | str) -> ContractState:
    """The state a contract reaches by `action`, or IllegalTransition naming both."""
    new_state = TRANSITIONS.get((ContractState(state), ContractAction(action)))
    if new_state is None:
        allowed = ", ".join(sorted(allowed_actions(state))) or "none (the contract is closed)"
        raise IllegalTransition(
            f"A contract in state '{ContractState(state)}' cannot {ContractAction(action)}; "
            f"allowed actions: {allowed}",
            errors={"state": [f"'{ContractAction(action)}' is not allowed in state "
                              f"'{ContractState(state)}'"]},
        )
    return new_state


def allowed_actions(state: ContractState | str) -> frozenset[ContractAction]:
    """The actions a contract in `state` accepts (for buttons and for error messages)."""
    current = ContractState(state)
    return frozenset(action for (s, action) in TRANSITIONS if s is current)


def next_version(current_version: int) -> int:
    """Each amendment writes a new version; versions start at 1 and never go back."""
    if current_version < 1:
        raise ValueError(f"contract versions start at 1, got {current_version}")
    return current_version + 1


def check_amendment(state: ContractState | str, reason: str | None,
                    approved_by: str | None) -> None:
    """An amendment needs an amendable contract, a reason and who approved it.

    The state is checked first (409: the contract, not the form, is the problem); then the
    reason and the approver, both reported at once (422).
    """
    current = ContractState(state)
    if current not in AMENDABLE_STATES:
        raise IllegalTransition(
            f"A contract in state '{current}' cannot be amended; only pending_signature or "
            "active contracts can",
            errors={"state": [f"'{current}' is not amendable"]},
        )
    errors: dict[str, list[str]] = {}
    if not (reason or "").strip():
        errors["reason"] = ["an amendment needs a reason"]
    if not (approved_by or "").strip():
        errors["approved_by"] = ["an amendment needs the name of who approved it"]
    if errors:
        raise AmendmentInvalid("The amendment lacks " + " and ".join(sorted(errors)),
                               errors=errors)


def check_reinstatement(state: ContractState | str, terminated_by_exit: bool) -> ContractState:
    """A contract comes back to active only when the exit that terminated it was cancelled
    (a late appeal upheld): it must be terminated, and terminated by that exit. Not an
    action of the state machine: no one may reinstate a contract by hand."""
    current = ContractState(state)
    if current is not _S.TERMINATED or not terminated_by_exit:
        raise IllegalTransition(
            f"A contract in state '{current}' cannot be reinstated; only a contract "
            "terminated by an appraisal exit that was then cancelled can",
            errors={"state": [f"'{current}' is not an exit termination"]})
    return _S.ACTIVE
