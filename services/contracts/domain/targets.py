"""Targets of the annual and tenure performance contracts, held to the shared rules.

The line, its rules and the composition rule live in `shared/performance_contract.py`, so
whatever this service accepts the appraisal service can score; this module raises them as
this service's errors and says what to do when a signed document's targets are locked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.contracts.domain.errors import TargetsInvalid, TargetsLocked
from services.contracts.domain.vocabulary import DocumentKind
from shared.performance_contract import (
    ANNUAL,
    TENURE,
    Appraisability,
    IndicatorDefinition,
    Proportion,
    TargetLine,
    appraisability,
    composition_faults,
    document_faults,
    document_name,
    faults_summary,
    line_from_stored,
    part_required_message,
    proportion_for,
    resolve_part,
)

__all__ = [
    "AMENDMENT_FIELDS", "Appraisability", "IndicatorDefinition", "Proportion", "TargetLine",
    "appraisability", "check_targets_editable", "composition_faults", "document_name",
    "faults_summary", "line_from_stored", "part_required_message", "proportion_for",
    "resolve_part", "validate_targets",
]

#: The amendment field that changes each document's targets.
AMENDMENT_FIELDS = {ANNUAL: "annual_targets", TENURE: "tenure_targets"}


def validate_targets(lines: Sequence[TargetLine], library: Mapping[str, IndicatorDefinition],
                     *, field: str = "indicators", document: DocumentKind = ANNUAL,
                     position: str | None = None, proportion: Proportion | None = None,
                     year: int | None = None) -> None:
    """Check one document's targets and report every fault at once (TargetsInvalid).

    Faults are keyed `<field>[i].<field of the line>` (i counts from 0, as in the request)
    and `<field>` for the whole: the scored weights must sum to exactly 100.00 and, for an
    annual document checked for a position (`proportion`), each part the position is scored
    on needs a scored line (shared/performance_contract.py).
    """
    errors = document_faults(lines, library, field=field, document=document,
                             position=position, proportion=proportion)
    if errors:
        faults = sum(len(v) for v in errors.values())
        raise TargetsInvalid(
            f"The targets of {document_name(document, year)} have {faults} fault(s): "
            + faults_summary(errors), errors=errors)


def check_targets_editable(signed: bool, document: DocumentKind = ANNUAL, *,
                           year: int | None = None, contract_id: str = "{id}") -> None:
    """Targets change until their document is signed; then only an amendment changes them."""
    if signed:
        name = document_name(document, year)
        field = AMENDMENT_FIELDS.get(DocumentKind(document), "annual_targets")
        raise TargetsLocked(
            f"{name[0].upper()}{name[1:]} is signed: its targets are locked. To change them, "
            f"amend the contract: POST /api/v1/contracts/{contract_id}/amendments with "
            f"{field}", errors={"targets": [f"locked by the signed {name[4:]}"]},
        )
