"""Who signs a manager's contracts on the employer's side."""

from __future__ import annotations

from dataclasses import dataclass

from services.contracts.domain.errors import SignatoryRequired
from services.contracts.domain.org import OrgUnitView
from services.contracts.domain.vocabulary import Position, UnitKind

#: The state-owned assets supervision and administration authority: the group's owner.
SUPERVISOR = "the state-owned assets supervision and administration authority"

#: Positions whose contracts the general manager signs (by the board's authorisation).
GENERAL_MANAGER_SIGNS_FOR: frozenset[Position] = frozenset({
    Position.DEPUTY_GENERAL_MANAGER, Position.CHIEF_FINANCIAL_OFFICER, Position.CHIEF_ENGINEER,
    Position.BOARD_SECRETARY, Position.MIDDLE_MANAGER, Position.OTHER,
})

SIGNATORY_KINDS: tuple[str, ...] = (
    "board", "general_manager", "parent_enterprise", "supervisor", "override",
)


@dataclass(frozen=True)
class Signatory:
    """The employer's side of the signature, as recorded on the contract.

    `kind` is one of SIGNATORY_KINDS; `signed_by_position` is who holds the pen (e.g. the
    chair signing for the board); `authorised_by` is set when the signer acts on another
    body's authority; `override_reason` is set only when HR chose the signatory by hand.
    """

    kind: str
    description: str
    signed_by_position: str | None
    authorised_by: str | None
    override_reason: str | None


def _head_signs_upward(unit: OrgUnitView, parent: OrgUnitView | None,
                       who: str) -> Signatory:
    """The head of an enterprise signs with its owner: the parent enterprise or the supervisor."""
    if parent is None:
        return Signatory(
            kind="supervisor",
            description=f"The {who} of {unit.name} (group HQ) signs with {SUPERVISOR}",
            signed_by_position=None, authorised_by=None, override_reason=None,
        )
    return Signatory(
        kind="parent_enterprise",
        description=f"The {who} of {unit.name} signs with its parent enterprise {parent.name}",
        signed_by_position=None, authorised_by=None, override_reason=None,
    )


def _rule_signatory(unit: OrgUnitView, position: Position,
                    parent: OrgUnitView | None) -> Signatory:
    if unit.kind == UnitKind.DEPARTMENT:
        # Department staff are employed by the enterprise the department belongs to.
        if position not in GENERAL_MANAGER_SIGNS_FOR:
            raise SignatoryRequired(
                f"No rule names the signatory for a {position} registered in department "
                f"{unit.name}; give a signatory override with its reason",
                errors={"signatory_override": ["required for this position and unit"]},
            )
        has_board = (parent.has_board if parent is not None
                     and parent.kind != UnitKind.DEPARTMENT else unit.has_board)
        enterprise = parent.name if parent is not None else unit.name
        return _general_manager_signs(enterprise, position, has_board)
    if position == Position.CHAIR:
        return _head_signs_upward(unit, parent, "chair")
    if position == Position.GENERAL_MANAGER:
        if unit.has_board:
            return Signatory(
                kind="board",
                description=f"The chair signs for the board of {unit.name} with the general "
                            "manager",
                signed_by_position=Position.CHAIR.value, authorised_by=None,
                override_reason=None,
            )
        return _head_signs_upward(unit, parent, "general manager")
    return _general_manager_signs(unit.name, position, unit.has_board)


def _general_manager_signs(enterprise: str, position: Position, has_board: bool) -> Signatory:
    if has_board:
        return Signatory(
            kind="general_manager",
            description=f"The general manager of {enterprise} signs with the {position} by "
                        "the board's authorisation",
            signed_by_position=Position.GENERAL_MANAGER.value, authorised_by="board",
            override_reason=None,
        )
    return Signatory(
        kind="general_manager",
        description=f"The general manager of {enterprise} signs with the {position}",
        signed_by_position=Position.GENERAL_MANAGER.value, authorised_by=None,
        override_reason=None,
    )


def employer_signatory(unit: OrgUnitView, position: Position | str, parent: OrgUnitView | None,
                       override: tuple[str, str] | None = None) -> Signatory:
    """Who signs for the employer with a manager in `position` at `unit`.

    - With a board, the chair signs for the board with the general manager.
    - The general manager signs with the deputies (deputy GM, CFO, chief engineer, board
      secretary), middle managers and others: by the board's authorisation where there is a
      board, in their own right where there is none.
    - The chair of a subsidiary (without a board: its general manager / head) signs with the
      parent enterprise; the head of the group HQ (no parent) signs with the supervisor.
    - For a department, the enterprise above it (`parent`) decides whether there is a board;
      a chair or general manager registered in a department fits no rule.

    `override` is (kind, reason): HR names the signatory by hand and must say why. It also
    resolves the cases no rule covers, which otherwise raise SignatoryRequired.
    """
    position = Position(position)
    if override is None:
        return _rule_signatory(unit, position, parent)
    kind, reason = override
    errors: dict[str, list[str]] = {}
    if not (kind or "").strip():
        errors["signatory_override.kind"] = ["name who signs instead"]
    if not (reason or "").strip():
        errors["signatory_override.reason"] = ["an override of the signatory needs a reason"]
    if errors:
        raise SignatoryRequired("A signatory override needs who signs and the reason why",
                                errors=errors)
    try:
        replaced = f" instead of: {_rule_signatory(unit, position, parent).description}"
    except SignatoryRequired:
        replaced = " (no rule applies)"
    return Signatory(
        kind="override",
        description=f"Override: {kind.strip()} signs with the {position}{replaced}",
        signed_by_position=kind.strip() if kind.strip() in set(Position) else None,
        authorised_by=None, override_reason=reason.strip(),
    )
