"""The queries the contracts service needs, behind plain functions over a Session."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, any_, bindparam, func, or_, select, tuple_
from sqlalchemy.orm import Session, aliased

from services.contracts.models import (
    ContractDocument,
    ContractTemplate,
    Indicator,
    Manager,
    OrgUnit,
    TenureContract,
)
from shared.db import reference_cache, rows_where_in

# The statements of a signature, built once: composing a select costs more than running it
# on a warm connection, and a signature runs six of them (service/signing.py).
_UNITS_BY_IDS = select(OrgUnit).where(OrgUnit.id.in_(bindparam("ids", expanding=True)))
_WITH_PEOPLE = (
    select(TenureContract, Manager, OrgUnit)
    .join(Manager, TenureContract.manager_id == Manager.id)
    .join(OrgUnit, TenureContract.org_unit_id == OrgUnit.id)
)
_CONTRACT_WITH_PEOPLE = _WITH_PEOPLE.where(TenureContract.id == bindparam("contract_id"))
_CONTRACT_WITH_PEOPLE_LOCKED = _CONTRACT_WITH_PEOPLE.with_for_update(of=TenureContract)
# The same, each row with one unit of the contract unit's path (itself and those above it)
# or the caller's scope unit: a signature reads them all, in one round trip (PostgreSQL).
_UNIT_ON_PATH = aliased(OrgUnit, name="on_path")
_CONTRACT_WITH_PEOPLE_AND_UNITS_LOCKED = (
    select(TenureContract, Manager, OrgUnit, _UNIT_ON_PATH)
    .join(Manager, TenureContract.manager_id == Manager.id)
    .join(OrgUnit, TenureContract.org_unit_id == OrgUnit.id)
    .outerjoin(_UNIT_ON_PATH, or_(
        _UNIT_ON_PATH.id == any_(func.string_to_array(OrgUnit.path, "/")),
        _UNIT_ON_PATH.id == bindparam("also_unit_id")))
    .where(TenureContract.id == bindparam("contract_id"))
    .with_for_update(of=TenureContract)
)
_ACTIVE_CONTRACT_ID = (
    select(TenureContract.id)
    .where(TenureContract.manager_id == bindparam("manager_id"),
           TenureContract.position == bindparam("position"),
           TenureContract.state == "active", TenureContract.id != bindparam("other_than"))
    .order_by(TenureContract.start_date).limit(1)
)
_DOCUMENTS_OF = (
    select(ContractDocument)
    .where(ContractDocument.contract_id == bindparam("contract_id"))
    .order_by(ContractDocument.year, ContractDocument.kind)
)
# A signature's documents and, on each row, the overlap check's answer: one round trip for
# both (the subquery runs once, whatever the number of documents).
_DOCUMENTS_WITH_ACTIVE_CONTRACT = (
    select(ContractDocument, _ACTIVE_CONTRACT_ID.scalar_subquery().label("active_contract_id"))
    .where(ContractDocument.contract_id == bindparam("contract_id"))
    .order_by(ContractDocument.year, ContractDocument.kind)
)
# A batch of countersignatures reads its contracts together: every contract with its manager
# and unit, locked in the order of their ids (two batches sharing contracts wait instead of
# deadlocking); then their documents, and the active contracts of their managers.
_CONTRACTS_WITH_PEOPLE_LOCKED = (
    _WITH_PEOPLE
    .where(TenureContract.id.in_(bindparam("ids", expanding=True)))
    .order_by(TenureContract.id)
    .with_for_update(of=TenureContract)
)
_DOCUMENTS_OF_CONTRACTS = (
    select(ContractDocument)
    .where(ContractDocument.contract_id.in_(bindparam("ids", expanding=True)))
    .order_by(ContractDocument.contract_id, ContractDocument.year, ContractDocument.kind)
)
# Every contract of the managers, joined by their ids as one array, the active ones picked
# out in Python: with `state = 'active'` in the statement, the generic plan of a statement
# prepared after five, costed while no contract was in force (statistics from before the
# batches began), takes the index of states and walks every contract brought into force
# since, comparing each with the list: 51 ms at 20,000 in force, 165 ms at 60,000, for no
# row found (docs/scale-countersign.md); 4.3 ms a batch on average over the year at
# 100,000, as autovacuum's analyses made it plan again now and then.
_CONTRACTS_OF_MANAGERS = (
    select(TenureContract.id, TenureContract.manager_id, TenureContract.position,
           TenureContract.state)
    .order_by(TenureContract.start_date)
)
_INDICATORS_BY_CODES = (
    select(Indicator.code, Indicator.name, Indicator.unit, Indicator.kind, Indicator.direction)
    .where(Indicator.code.in_(bindparam("codes", expanding=True)))
)
_INDICATOR = "indicators:"  # reference entries of the read cache, by code
_POSITION_HOLDERS = (
    select(Manager.id, Manager.name)
    .where(Manager.org_unit_id == bindparam("org_unit_id"),
           Manager.position == bindparam("position"), Manager.employment_status == "active")
    .order_by(Manager.employee_no)
)


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    total: int


def paginate(session: Session, stmt: Select[Any], page: int, page_size: int) -> Page:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.execute(stmt.limit(page_size).offset((page - 1) * page_size))
    return Page(items=rows.all(), total=int(total or 0))


def unit_by_id(session: Session, unit_id: str, *, lock: bool = False) -> OrgUnit | None:
    stmt = select(OrgUnit).where(OrgUnit.id == unit_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def units_by_ids(session: Session, ids: set[str]) -> dict[str, OrgUnit]:
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(_UNITS_BY_IDS, {"ids": list(ids)})}


def subtree(session: Session, path: str) -> list[OrgUnit]:
    return list(session.scalars(select(OrgUnit).where(OrgUnit.path.startswith(path))))


def ancestor_ids(unit: OrgUnit) -> list[str]:
    """From the materialised path: root first, the unit itself excluded."""
    return [p for p in unit.path.strip("/").split("/") if p and p != unit.id]


def manager_by_id(session: Session, manager_id: str, *, lock: bool = False) -> Manager | None:
    stmt = select(Manager).where(Manager.id == manager_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def manager_by_employee_no(session: Session, employee_no: str) -> Manager | None:
    return session.scalar(select(Manager).where(Manager.employee_no == employee_no))


def indicator_definitions(session: Session, codes: set[str]) -> dict[str, Any]:
    """The library's rows for these codes (code, name, unit, kind, direction), by code.

    Every manager's signature checks its targets' indicators, so they come from the read
    cache's reference entries where it has them: the service never changes an indicator
    once created (the library only grows), and a change made in SQL sends a notice
    (migration 0013) that drops them. A code not found is not remembered: it may be
    created next. Plain rows, by a statement built once, for the rest: loading Indicator
    objects was 5 % of the contracts API's CPU while managers sign."""
    cache = reference_cache(session)
    found: dict[str, Any] = {}
    generation = None
    if cache is not None:
        for code in codes:
            row = cache.get_kept(_INDICATOR + code)
            if row is not None:
                found[code] = row
        if len(found) == len(codes):
            return found
        generation = cache.kept_generation()
    missing = sorted(codes - found.keys())
    for row in session.connection().execute(_INDICATORS_BY_CODES, {"codes": missing}):
        found[row.code] = row
        if cache is not None:
            cache.put_kept(_INDICATOR + row.code, row, generation)
    return found


def template_by_id(session: Session, template_id: str) -> ContractTemplate | None:
    return session.get(ContractTemplate, template_id)


def contract_by_id(session: Session, contract_id: str, *, lock: bool = False
                   ) -> TenureContract | None:
    stmt = select(TenureContract).where(TenureContract.id == contract_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def contract_with_people(session: Session, contract_id: str, *, lock: bool = False
                         ) -> tuple[TenureContract, Manager, OrgUnit] | None:
    """A contract with its manager and unit in one round trip (the hottest read)."""
    row = session.execute(_CONTRACT_WITH_PEOPLE_LOCKED if lock else _CONTRACT_WITH_PEOPLE,
                          {"contract_id": contract_id}).first()
    return (row[0], row[1], row[2]) if row else None


def locked_contract_with_people_and_units(
        session: Session, contract_id: str, also_unit_id: str | None
) -> tuple[TenureContract, Manager, OrgUnit, dict[str, OrgUnit] | None] | None:
    """`contract_with_people(lock=True)`, and on PostgreSQL in the same round trip the
    units on the unit's path and `also_unit_id` (the caller's scope unit), by id; None for
    them on SQLite, where the caller reads them apart."""
    if session.get_bind().dialect.name != "postgresql":
        found = contract_with_people(session, contract_id, lock=True)
        return None if found is None else (*found, None)
    rows = session.execute(_CONTRACT_WITH_PEOPLE_AND_UNITS_LOCKED, {
        "contract_id": contract_id, "also_unit_id": also_unit_id}).all()
    if not rows:
        return None
    c, m, unit, _ = rows[0]
    return c, m, unit, {row[3].id: row[3] for row in rows if row[3] is not None}


def contracts_of(session: Session, manager_id: str, position: str | None = None
                 ) -> list[TenureContract]:
    stmt = select(TenureContract).where(TenureContract.manager_id == manager_id)
    if position is not None:
        stmt = stmt.where(TenureContract.position == position)
    return list(session.scalars(stmt.order_by(TenureContract.start_date)))


def active_contract_id(session: Session, manager_id: str, position: str, *,
                       other_than: str) -> str | None:
    """The id of the manager's active contract for `position` other than `other_than`, if
    any: the overlap check of a signature, without loading whole contracts."""
    return session.scalar(_ACTIVE_CONTRACT_ID, {"manager_id": manager_id, "position": position,
                                                "other_than": other_than})


def documents_of(session: Session, contract_id: str) -> list[ContractDocument]:
    return list(session.scalars(_DOCUMENTS_OF, {"contract_id": contract_id}))


def documents_and_active_contract_id(session: Session, c: TenureContract
                                     ) -> tuple[list[ContractDocument], str | None]:
    """The contract's documents (as `documents_of`) and what `active_contract_id` answers
    for its manager and position, in one statement: a signature needs both.

    A contract without documents returns no row to carry the answer, so it is asked apart.
    """
    rows = session.execute(_DOCUMENTS_WITH_ACTIVE_CONTRACT, {
        "contract_id": c.id, "manager_id": c.manager_id, "position": c.position,
        "other_than": c.id}).all()
    if not rows:
        return [], active_contract_id(session, c.manager_id, c.position, other_than=c.id)
    return [row[0] for row in rows], rows[0][1]


def contracts_with_people_locked(session: Session, contract_ids: Iterable[str]
                                 ) -> dict[str, tuple[TenureContract, Manager, OrgUnit]]:
    """`contract_with_people(lock=True)` for many contracts in one statement, locked in the
    order of their ids; a contract that does not exist is absent."""
    ids = sorted(set(contract_ids))
    if not ids:
        return {}
    return {row[0].id: (row[0], row[1], row[2])
            for row in session.execute(_CONTRACTS_WITH_PEOPLE_LOCKED, {"ids": ids})}


def documents_and_active_contract_ids(session: Session, contracts: Sequence[TenureContract]
                                      ) -> dict[str, tuple[list[ContractDocument], str | None]]:
    """What `documents_and_active_contract_id` answers, for many contracts in two statements.

    Read after the contracts are locked, as for one contract. The answers hold for the
    transaction as it stood when read: a contract brought into force later in it is not in
    them (the caller reads again where that can matter)."""
    if not contracts:
        return {}
    documents: dict[str, list[ContractDocument]] = {c.id: [] for c in contracts}
    for doc in session.scalars(_DOCUMENTS_OF_CONTRACTS, {"ids": sorted(documents)}):
        documents[doc.contract_id].append(doc)
    active: dict[tuple[str, str], list[str]] = {}
    for row in rows_where_in(session, _CONTRACTS_OF_MANAGERS, TenureContract.manager_id,
                             {c.manager_id for c in contracts}):
        if row.state == "active":
            active.setdefault((row.manager_id, row.position), []).append(row.id)
    return {c.id: (documents[c.id],
                   next((i for i in active.get((c.manager_id, c.position), []) if i != c.id),
                        None))
            for c in contracts}


def managers_query(
    *,
    scope_path: str | None,
    org_unit_path: str | None = None,
    layer: int | None = None,
    category: str | None = None,
    position: str | None = None,
    management_level: str | None = None,
    employment_status: str | None = None,
    manager_id: str | None = None,
    text: str | None = None,
) -> Select[Any]:
    stmt = select(Manager, OrgUnit).join(OrgUnit, Manager.org_unit_id == OrgUnit.id)
    if text:
        # A name or employee number as HR types it: a case-blind part of either.
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(Manager.name.ilike(like, escape="\\"),
                              Manager.employee_no.ilike(like, escape="\\")))
    if scope_path:
        stmt = stmt.where(OrgUnit.path.startswith(scope_path))
    if org_unit_path:
        stmt = stmt.where(OrgUnit.path.startswith(org_unit_path))
    if layer is not None:
        stmt = stmt.where(OrgUnit.layer == layer)
    if category:
        stmt = stmt.where(OrgUnit.category == category)
    if position:
        stmt = stmt.where(Manager.position == position)
    if management_level:
        stmt = stmt.where(Manager.management_level == management_level)
    if employment_status:
        stmt = stmt.where(Manager.employment_status == employment_status)
    if manager_id:
        stmt = stmt.where(Manager.id == manager_id)
    return stmt.order_by(Manager.employee_no)


def open_terms_by_manager(
    session: Session, manager_ids: Sequence[str], position: str
) -> dict[str, list[TenureContract]]:
    out: dict[str, list[TenureContract]] = {}
    for chunk_start in range(0, len(manager_ids), 900):
        chunk = manager_ids[chunk_start:chunk_start + 900]
        for c in session.scalars(
            select(TenureContract).where(
                TenureContract.manager_id.in_(chunk), TenureContract.position == position
            )
        ):
            out.setdefault(c.manager_id, []).append(c)
    return out


def active_or_ending(session: Session, until: date) -> list[TenureContract]:
    return list(session.scalars(
        select(TenureContract)
        .where(TenureContract.state == "active", TenureContract.end_date <= until)
        .order_by(TenureContract.end_date)
    ))


def _coverage_scope(scope_path: str | None) -> list[ColumnElement[bool]]:
    """Active managers, in the subtree at `scope_path` when one is given."""
    m = Manager.__table__.c
    conditions: list[ColumnElement[bool]] = [m.employment_status == "active"]
    if scope_path:
        conditions.append(m.org_unit_id.in_(
            select(OrgUnit.id).where(OrgUnit.path.startswith(scope_path))))
    return conditions


def coverage_counts(session: Session, scope_path: str | None) -> list[tuple[str, str, int, int]]:
    """Active managers in scope counted by unit and position, and how many of them hold an
    active contract for their current position: (unit id, position, managers, active).

    A few rows per unit, however many managers: the database counts, Python never sees a
    manager. One pass over the managers: the holders of an active contract are an
    uncorrelated IN, which the database hashes once (PostgreSQL's hashed SubPlan), so a
    manager with two active contracts counts once. An outer join would need its distinct
    holders sorted; two aggregates (every manager, then the holders by a semi-join) read the
    managers twice.
    """
    m, c = Manager.__table__.c, TenureContract.__table__.c
    holders = select(c.manager_id, c.position).where(c.state == "active")
    holds_active = tuple_(m.id, m.position).in_(holders)
    stmt = (select(m.org_unit_id, m.position, func.count(),
                   func.count().filter(holds_active))
            .where(*_coverage_scope(scope_path)).group_by(m.org_unit_id, m.position))
    return [(unit_id, position, managers, active)
            for unit_id, position, managers, active in session.execute(stmt).all()]


def overdue_unsigned(session: Session, scope_path: str | None, today: date) -> list[Any]:
    """Active managers in scope with no active contract for their current position and one
    awaiting signature past its deadline (before `today`); several such: the longest
    overdue, then the one issued first.

    Rows of (manager id, employee_no, name, unit id, position, issued_on, signing_deadline),
    one per manager.
    """
    m, c = Manager.__table__.c, TenureContract.__table__.c
    held = TenureContract.__table__.alias("held")
    stmt = (
        select(m.id, m.employee_no, m.name, m.org_unit_id, m.position, c.issued_on,
               c.signing_deadline)
        .select_from(Manager.__table__)
        .join(TenureContract.__table__,
              (c.manager_id == m.id) & (c.position == m.position)
              & (c.state == "pending_signature") & (c.signing_deadline < today))
        .where(*_coverage_scope(scope_path),
               ~select(held.c.id).where(held.c.manager_id == m.id,
                                        held.c.position == m.position,
                                        held.c.state == "active").exists())
        .order_by(m.id, c.signing_deadline, c.issued_on, c.id)
    )
    first: dict[str, Any] = {}
    for row in session.execute(stmt).all():
        first.setdefault(row[0], row)
    return list(first.values())


def coverage_units(session: Session) -> dict[str, tuple[str, int, str]]:
    """Each unit's enterprise, layer and category; the enterprise is the unit itself, or
    the nearest enterprise (or the group) above it.

    Departments roll up to their enterprise. All units are read (a few thousand in a large
    group), since a scoped caller's departments may belong to an enterprise above the scope.
    """
    rows = session.execute(select(OrgUnit.id, OrgUnit.kind, OrgUnit.path, OrgUnit.layer,
                                  OrgUnit.category)).all()
    kinds = {uid: kind for uid, kind, *_ in rows}
    counted = ("enterprise", "group")
    out: dict[str, tuple[str, int, str]] = {}
    for uid, kind, path, layer, category in rows:
        enterprise = uid if kind in counted else next(
            (a for a in reversed(path.strip("/").split("/")) if kinds.get(a) in counted), uid)
        out[uid] = (enterprise, layer, category)
    return out


class PostHolder(NamedTuple):
    """A manager holding a signatory post: who may countersign, as the signing rules and
    their answers name them."""

    id: str
    name: str


def holders_of_posts(session: Session, posts: Iterable[tuple[str, str]]
                     ) -> dict[tuple[str, str], list[PostHolder]]:
    """`position_holders` of many posts (unit, position) in one statement: every post asked
    is answered, an empty list where nobody holds it. A batch of countersignatures asks for
    the post of each of its contracts, mostly in different enterprises, and one statement a
    post was 87,000 of them while a group of 100,000 was countersigned."""
    found: dict[tuple[str, str], list[PostHolder]] = {post: [] for post in posts}
    if not found:
        return found
    stmt = (select(Manager.org_unit_id, Manager.position, Manager.id, Manager.name)
            .where(Manager.position.in_(sorted({p for _, p in found})),
                   Manager.employment_status == "active")
            .order_by(Manager.employee_no))
    for unit_id, position, manager_id, name in rows_where_in(
            session, stmt, Manager.org_unit_id, {u for u, _ in found}):
        holders = found.get((unit_id, position))
        if holders is not None:
            holders.append(PostHolder(manager_id, name))
    return found


def position_holders(session: Session, org_unit_id: str, position: str) -> list[PostHolder]:
    """The active managers holding `position` at the unit itself (not in its departments).

    Their id and name as plain rows, not Manager objects: every manager's signature asks,
    and loading the objects was a twentieth of the contracts API's CPU while managers sign."""
    return [PostHolder(*row) for row in session.connection().execute(
        _POSITION_HOLDERS, {"org_unit_id": org_unit_id, "position": position})]
