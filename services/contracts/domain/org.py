"""The org tree: group HQ, its enterprises at each layer, and their departments."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.contracts.domain.errors import InvalidOrgMove
from services.contracts.domain.vocabulary import UnitKind


@dataclass(frozen=True)
class OrgUnitView:
    """One unit as the rules see it; `layer` 1 is the group HQ."""

    id: str
    parent_id: str | None
    name: str
    kind: UnitKind
    category: str
    has_board: bool
    layer: int


def layer_for(parent_layer: int | None) -> int:
    """A unit sits one layer below its parent; the root (group HQ) is layer 1.

    Second-level enterprises are layer 2, third-level 3, and a department is one layer below
    the unit it belongs to, so reports by layer count a department's managers one deeper.
    """
    if parent_layer is None:
        return 1
    if parent_layer < 1:
        raise ValueError(f"layers start at 1, got {parent_layer}")
    return parent_layer + 1


def check_unit_kind(kind: UnitKind | str, parent_kind: UnitKind | str | None) -> None:
    """Only the root is the group; enterprises do not sit inside departments."""
    kind = UnitKind(kind)
    if parent_kind is None:
        if kind is not UnitKind.GROUP:
            raise InvalidOrgMove("A root unit must be of kind group",
                                 errors={"kind": ["a unit without parent must be 'group'"]})
        return
    if kind is UnitKind.GROUP:
        raise InvalidOrgMove("Only the root unit is the group",
                             errors={"kind": ["a unit with a parent cannot be 'group'"]})
    if kind is UnitKind.ENTERPRISE and UnitKind(parent_kind) is UnitKind.DEPARTMENT:
        raise InvalidOrgMove("An enterprise cannot belong to a department",
                             errors={"parent_id": ["an enterprise's parent must be an "
                                                   "enterprise or the group"]})


def check_move(unit_id: str, new_parent_id: str | None, ancestors_of_new_parent: Iterable[str],
               *, unit_is_root: bool = False) -> None:
    """Moving `unit_id` under `new_parent_id` must keep the tree a tree with one root.

    `ancestors_of_new_parent` are the ids above the new parent (including it or not: both
    work). A unit cannot become its own parent, nor move under one of its descendants (that
    would be a cycle); the root cannot move and no unit can become a second root.
    """
    if unit_is_root:
        raise InvalidOrgMove("The group root cannot be moved",
                             errors={"parent_id": ["the group root has no parent"]})
    if new_parent_id is None:
        raise InvalidOrgMove("A unit cannot become a second root of the group",
                             errors={"parent_id": ["required"]})
    if new_parent_id == unit_id:
        raise InvalidOrgMove(f"Unit {unit_id} cannot be its own parent",
                             errors={"parent_id": ["a unit cannot be its own parent"]})
    if unit_id in set(ancestors_of_new_parent):
        raise InvalidOrgMove(
            f"Moving unit {unit_id} under {new_parent_id} would make a cycle: "
            f"{new_parent_id} lies inside {unit_id}",
            errors={"parent_id": ["a unit cannot move under one of its own descendants"]},
        )


def enterprise_of(unit: OrgUnitView, ancestors: Iterable[OrgUnitView]) -> OrgUnitView:
    """The enterprise a unit's managers belong to: itself, or its nearest enterprise/group above.

    Departments have no contracts of their own as employers; their managers' enterprise is
    the closest enterprise (or the group HQ) up the tree. `ancestors` may come in any order:
    the walk follows `parent_id`.
    """
    if unit.kind != UnitKind.DEPARTMENT:
        return unit
    by_id = {a.id: a for a in ancestors}
    seen = {unit.id}
    parent_id = unit.parent_id
    while parent_id is not None and parent_id not in seen:
        parent = by_id.get(parent_id)
        if parent is None:
            break
        if parent.kind != UnitKind.DEPARTMENT:
            return parent
        seen.add(parent_id)
        parent_id = parent.parent_id
    raise InvalidOrgMove(f"Department {unit.id} has no enterprise above it",
                         errors={"parent_id": ["a department must sit inside an enterprise"]})
