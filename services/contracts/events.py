"""What the contracts service does when the appraisal service decides an outcome.

An exit is terminated only once it is confirmed (exit.confirmed: its appeal window closed
without an appeal, or the appeal was rejected or still exits). exit.triggered (pending) and
tenure.concluded `exit` change nothing here: the manager may still appeal. An exit cancelled
after it terminated the contract (a late appeal upheld, exit.cancelled with
contract_terminated) reinstates the contract and the manager, recorded in exit_terminations.
A tenure appraisal that passes renews the contract. Each handler runs inside the consumer's
unit of work, so the change, its own outbox events and the inbox row commit together; a
redelivered event finds the work done and does nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.contracts import domain as d
from services.contracts import repository as repo
from services.contracts.models import ExitTermination, TenureContract
from services.contracts.service import end_in_session, reinstate_in_session, renew_in_session
from services.contracts.service.common import utcnow

log = logging.getLogger("tenure.contracts.events")

CONSUMER_GROUP = "contracts"
HANDLED_TYPES = ("exit.confirmed", "exit.cancelled", "tenure.concluded")
ACTOR = "appraisal-outcomes"


def _named_contract(s: Session, data: dict[str, Any]) -> tuple[Any, Any, Any] | None:
    """The contract the outcome is about: the one named, else the manager's active one."""
    contract_id = data.get("contract_id")
    if contract_id:
        return repo.contract_with_people(s, contract_id, lock=True)
    for c in repo.contracts_of(s, data["manager_id"]):
        if c.state == d.ContractState.ACTIVE:
            return repo.contract_with_people(s, c.id, lock=True)
    return None


def handle_appraisal_outcome(session: Session, envelope: dict[str, Any]) -> None:
    event_type = envelope["type"]
    data = envelope.get("data") or {}
    if event_type == "tenure.concluded" and data.get("outcome") not in (
            "renew", "renew_with_conditions"):
        return  # a tenure exit waits for exit.confirmed, like any exit
    found = _named_contract(session, data)
    if found is None:
        log.warning("no contract for outcome", extra={"event_id": envelope["id"],
                                                      "manager_id": data.get("manager_id")})
        return
    contract, manager, unit = found
    if event_type == "exit.cancelled":
        _reinstate(session, contract, manager, unit, envelope, data)
        return
    if contract.state != d.ContractState.ACTIVE:
        return  # already ended (a redelivery, or HR acted first): nothing to apply
    if event_type == "exit.confirmed":
        _exit(session, contract, manager, unit, envelope, data)
    elif event_type == "tenure.concluded":
        renew_in_session(session, contract, manager, unit, ACTOR, None,
                         tenure_outcome=data.get("outcome"), conditions=data.get("conditions"),
                         appraisal_event_id=envelope["id"])


def _exit(session: Session, contract: TenureContract, manager: Any, unit: Any,
          envelope: dict[str, Any], data: dict[str, Any]) -> None:
    rules = [t.get("rule") for t in data.get("triggers") or [] if isinstance(t, dict)]
    rule_text = ", ".join(r for r in rules if r) or data.get("rule") or envelope["type"]
    kind = "Tenure appraisal exit" if data.get("kind") == "tenure" else \
        "Incompetence exit (rigid exit)"
    reason = f"{kind} by appraisal: {rule_text}"
    session.add(ExitTermination(
        contract_id=contract.id, manager_id=manager.id,
        exit_decision_id=str(data.get("exit_decision_id") or ""),
        appraisal_id=data.get("appraisal_id"), confirmed_event_id=envelope["id"],
        terminated_at=utcnow(), previous_employment_status=manager.employment_status,
        previous_departure_reason=manager.departure_reason))
    end_in_session(session, contract, manager, unit, d.ContractAction.TERMINATE, reason,
                   exit=True, appraisal_event_id=envelope["id"], triggers=data.get("triggers"),
                   exit_decision_id=data.get("exit_decision_id"))
    manager.employment_status = "departed"
    manager.departure_reason = "appraisal_exit"
    manager.row_version += 1


def _reinstate(session: Session, contract: TenureContract, manager: Any, unit: Any,
               envelope: dict[str, Any], data: dict[str, Any]) -> None:
    """Undo the termination this exit made, if it made one and it is not undone yet."""
    termination = session.scalar(select(ExitTermination).where(
        ExitTermination.contract_id == contract.id,
        ExitTermination.exit_decision_id == str(data.get("exit_decision_id") or "-"),
        ExitTermination.reinstated_at.is_(None)).with_for_update())
    if termination is None:
        return  # the exit never terminated this contract (cancelled in time), or redelivery
    reason = ("Exit cancelled: an upheld appeal's new result passes"
              + (f" (grade {data['grade']})" if data.get("grade") else ""))
    now = utcnow()
    termination.reinstated_event_id = reinstate_in_session(
        session, contract, manager, unit, ACTOR, reason,
        exit_decision_id=termination.exit_decision_id, appraisal_id=termination.appraisal_id,
        reinstated_at=now.isoformat(), terminated_at=termination.terminated_at.isoformat(),
        cancelled_event_id=envelope["id"], confirmed_event_id=termination.confirmed_event_id,
        employment_status=termination.previous_employment_status)
    manager.employment_status = termination.previous_employment_status
    manager.departure_reason = termination.previous_departure_reason
    manager.row_version += 1
    termination.reinstated_at = now
    termination.reinstated_by = str(data.get("cancelled_by") or ACTOR)
    termination.reinstate_reason = reason
    termination.cancelled_event_id = envelope["id"]
