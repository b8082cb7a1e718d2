"""What the contracts service does when the appraisal service publishes an outcome.

A rigid exit (exit.triggered) or a failed tenure appraisal terminates the manager's active
contract; a tenure appraisal that passes renews it. Each handler runs inside the consumer's
unit of work, so the change, its own outbox events and the inbox row commit together; a
redelivered event finds the contract already ended and does nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from services.contracts import domain as d
from services.contracts import repository as repo
from services.contracts.models import TenureContract
from services.contracts.service import end_in_session, renew_in_session

log = logging.getLogger("tenure.contracts.events")

CONSUMER_GROUP = "contracts"
HANDLED_TYPES = ("exit.triggered", "tenure.concluded")
ACTOR = "appraisal-outcomes"


def _active_contract(s: Session, data: dict[str, Any]) -> tuple[Any, Any, Any] | None:
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
    found = _active_contract(session, data)
    if found is None:
        log.warning("no contract for outcome", extra={"event_id": envelope["id"],
                                                      "manager_id": data.get("manager_id")})
        return
    contract, manager, unit = found
    if contract.state != d.ContractState.ACTIVE:
        return  # already ended (a redelivery, or HR acted first): nothing to apply
    if event_type == "exit.triggered":
        _exit(session, contract, manager, unit, envelope, data)
    elif event_type == "tenure.concluded":
        outcome = data.get("outcome")
        if outcome == "exit":
            _exit(session, contract, manager, unit, envelope, data)
        elif outcome in ("renew", "renew_with_conditions"):
            renew_in_session(session, contract, manager, unit, ACTOR, None,
                             tenure_outcome=outcome, conditions=data.get("conditions"),
                             appraisal_event_id=envelope["id"])


def _exit(session: Session, contract: TenureContract, manager: Any, unit: Any,
          envelope: dict[str, Any], data: dict[str, Any]) -> None:
    rules = [t.get("rule") for t in data.get("triggers") or [] if isinstance(t, dict)]
    rule_text = ", ".join(r for r in rules if r) or data.get("rule") or envelope["type"]
    reason = f"Incompetence exit (rigid exit) by appraisal: {rule_text}"
    end_in_session(session, contract, manager, unit, d.ContractAction.TERMINATE, reason,
                   exit=True, appraisal_event_id=envelope["id"], triggers=data.get("triggers"))
    manager.employment_status = "departed"
    manager.departure_reason = "appraisal_exit"
    manager.row_version += 1
