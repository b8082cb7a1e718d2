"""Every topic and event type in the system, with the service that emits it."""

from __future__ import annotations

from dataclasses import dataclass

CONTRACTS_TOPIC = "hr.contracts"
APPRAISALS_TOPIC = "hr.appraisals"
NOTICES_TOPIC = "hr.notices"
DEAD_LETTER_TOPIC = "hr.deadletter"
TOPICS = (CONTRACTS_TOPIC, APPRAISALS_TOPIC, NOTICES_TOPIC, DEAD_LETTER_TOPIC)


@dataclass(frozen=True)
class EventSpec:
    type: str
    topic: str
    source: str
    summary: str
    version: int = 1


def _specs(topic: str, source: str, entries: dict[str, str]) -> dict[str, EventSpec]:
    return {t: EventSpec(t, topic, source, s) for t, s in entries.items()}


CATALOGUE: dict[str, EventSpec] = {
    **_specs(CONTRACTS_TOPIC, "/tenure/contracts", {
        "org_unit.created": "An org unit was added to the group tree.",
        "org_unit.moved": "An org unit moved under another parent; its layer may change.",
        "manager.registered": "A manager was registered.",
        "manager.updated": "A manager's unit, position, level or contact changed.",
        "contract.drafted": "A tenure contract was drafted.",
        "contract.issued": "A tenure contract was sent to the manager for signature.",
        "contract.signed": "Both sides signed a tenure contract's documents; it is now active.",
        "contract.amended": "A signed tenure contract got a new version.",
        "contract.terminated": "A tenure contract ended early, with its reason.",
        "contract.expiring": "A tenure contract ends within 90, 30 or 7 days.",
        "contract.expired": "A tenure contract passed its end date.",
        "contract.renewed": "A tenure contract was renewed; a new contract follows.",
        "targets.set": "The targets of an annual or tenure performance contract were set.",
        "contract.signature_recorded": "One party (manager or employer) signed one document of "
                                       "a contract, electronically or on paper.",
        "contract.countersignature_requested": "The manager has signed; the employer's "
                                               "signatory is asked to countersign.",
        "contract.reinstated": "A contract terminated by an exit that was then cancelled "
                               "(a late appeal upheld) is active again.",
    }),
    **_specs(APPRAISALS_TOPIC, "/tenure/appraisal", {
        "appraisal.opened": "An appraisal was opened for a manager and year.",
        "actuals.due": "Actuals for an appraisal are due soon.",
        "appraisal.scored": "An appraisal was scored.",
        "appraisal.published": "An appraisal result was published to the manager.",
        "appraisal.appealed": "A published appraisal was reopened by an appeal.",
        "exit.triggered": "A published result is an exit (rigid exit, or a tenure appraisal "
                          "concluding exit): pending until its appeal deadline.",
        "tenure.concluded": "A tenure appraisal concluded: renew, renew with conditions or exit.",
        "self_report.submitted": "A manager's annual self-report was submitted or revised.",
        "self_report.due": "A manager's annual self-report is due soon and not yet submitted.",
        "exit.confirmed": "An exit is confirmed (its appeal window closed without an appeal, "
                          "or the appeal was rejected or still exits): terminate the contract.",
        "exit.cancelled": "An exit is cancelled (an upheld appeal's re-score passes); if its "
                          "contract was terminated, reinstate it.",
    }),
    **_specs(NOTICES_TOPIC, "/tenure/notifications", {
        "notice.given_up": "A notice could not be delivered after every retry.",
    }),
}


def topic_for(event_type: str) -> str:
    try:
        return CATALOGUE[event_type].topic
    except KeyError:
        raise KeyError(f"event type {event_type!r} is not in the catalogue") from None
