"""The hottest reads (one contract, a page of contracts): rows straight to response bodies.

Reading a contract is what HR systems and managers do most. Through the ORM and a marshmallow
dump it cost about 2.9 ms of Python per request; these Core statements fetch contract,
manager, unit, documents and the caller's scope in one round trip, and `contract_body`
renders the rows in a few microseconds. The JSON columns (signatory, appraisable, signatures,
targets) are read as text and spliced into the response as they are stored (orjson
fragments): the writers store exactly the documented keys (`service.library.stored_targets`,
`service.contracts`'s signatory, `Appraisability.as_dict`, `service.signing`'s signatures),
so parsing them only to print them again would be wasted work.
`schemas.ContractOut` stays the documented shape: a test renders contracts in every state
both ways and requires the same JSON.
"""

from __future__ import annotations

import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from orjson import Fragment
from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Select,
    String,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.compiler import compiles

from services.contracts.models import ContractDocument, Manager, OrgUnit, TenureContract

# In the order of schemas.ContractOut, so the JSON reads the same either way.
_CONTRACT_HEAD = ("id", "manager_id")
_CONTRACT_TAIL = (
    "position", "start_date", "end_date", "term_years", "term_number", "max_consecutive_terms",
    "state", "version", "signatory", "template_id", "previous_contract_id", "issued_on",
    "signing_deadline", "signed_at", "signed_by", "ended_at", "end_reason", "appraisable",
    "row_version", "signatures",
)
_DATES = frozenset({"start_date", "end_date", "issued_on", "signing_deadline"})
_TIMESTAMPS = frozenset({"signed_at", "ended_at"})
_JSON_TEXT = frozenset({"signatory", "appraisable", "signatures"})

# Table columns, not ORM attributes: the statements run on the Core path, no ORM loading.
_contracts = TenureContract.__table__
_managers = Manager.__table__
_units = OrgUnit.__table__
_documents = ContractDocument.__table__
_scope_units = _units.alias("scope_unit")
_c, _m, _u, _d = _contracts.c, _managers.c, _units.c, _documents.c
_ROW_COLUMNS: list[ColumnElement[Any]] = [
    *(cast(_c[name], Text).label(name) if name in _JSON_TEXT else _c[name]
      for name in (*_CONTRACT_HEAD, "org_unit_id", *_CONTRACT_TAIL)),
    _m.employee_no, _m.name.label("manager_name"),
    _u.path.label("unit_path"), _u.layer, _u.category,
]



def _document_columns(doc: Any) -> list[ColumnElement[Any]]:
    """A document's columns as `document_body` reads them."""
    return [
        doc.id.label("doc_id"), doc.kind.label("doc_kind"), doc.year.label("doc_year"),
        doc.signed_at.label("doc_signed_at"), cast(doc.targets, Text).label("doc_targets"),
        doc.row_version.label("doc_row_version"),
        doc.signing_state.label("doc_signing_state"),
        doc.amendment_version.label("doc_amendment_version"),
        doc.amendment_state.label("doc_amendment_state"),
        cast(doc.amended_targets, Text).label("doc_amended_targets"),
    ]


ONE_CONTRACT: Select[Any] = (
    select(
        *_ROW_COLUMNS,
        *_document_columns(_d),
        # The caller's scope unit rides along, so a scoped HR admin costs no extra query.
        select(_scope_units.c.path).where(_scope_units.c.id == bindparam("scope_unit_id"))
        .scalar_subquery().label("scope_path"),
    )
    .select_from(_contracts)
    .join(_managers, _c.manager_id == _m.id)
    .join(_units, _c.org_unit_id == _u.id)
    .outerjoin(_documents, _d.contract_id == _c.id)
    .where(_c.id == bindparam("contract_id"))
    .order_by(_d.year, _d.kind)
)
"""One row per document of the contract (none when it has no documents)."""


LIST_FILTERS = ("org_unit_id", "layer", "category", "position", "state", "year",
                "manager_id", "ends_before")
"""The filters of `GET /contracts` (schemas.ContractQuery), each a bind parameter here."""

_filter_units = _units.alias("filter_unit")
_list_scope_units = _units.alias("list_scope_unit")
# A list row is its body (schemas.ContractOut's order, no unit path, no documents), then the
# page position (the cursor) and the head: `list_item_body` only takes those off the end.
_LIST_TAIL_COLUMNS: list[ColumnElement[Any]] = [
    cast(_c[name], Text).label(name) if name in _JSON_TEXT else _c[name]
    for name in _CONTRACT_TAIL
]
LIST_TRAILER = ("created_at", "total", "filter_unit_path", "list_scope_path")
"""The columns of a `contracts_list` row after the contract's body (those of its shape)."""
_UNIT_FILTERS = frozenset({"scope_unit_id", "org_unit_id", "layer", "category"})


def _list_conditions(shape: frozenset[str]) -> list[ColumnElement[bool]]:
    """Conditions over tenure_contracts and org_units (the contract's unit) for a list.

    The caller's scope unit (`scope_unit_id`) and the filter unit (`org_unit_id`) are
    named by id; their paths are looked up inside the statement, so a subtree costs no
    round trip of its own. A scope unit that does not exist has no path, and its caller
    sees nothing (the condition is NULL). Conditions on the unit come first, in the order
    of _UNIT_FILTERS, then those on the contract (see `_split`).
    """
    conditions: list[ColumnElement[bool]] = []
    if "scope_unit_id" in shape:
        conditions.append(_u.path.startswith(
            select(_list_scope_units.c.path)
            .where(_list_scope_units.c.id == bindparam("scope_unit_id")).scalar_subquery()))
    if "org_unit_id" in shape:
        conditions.append(_u.path.startswith(
            select(_filter_units.c.path)
            .where(_filter_units.c.id == bindparam("org_unit_id")).scalar_subquery()))
    if "layer" in shape:
        conditions.append(_u.layer == bindparam("layer"))
    if "category" in shape:
        conditions.append(_u.category == bindparam("category"))
    if "position" in shape:
        conditions.append(_c.position == bindparam("position"))
    if "state" in shape:
        conditions.append(_c.state == bindparam("state"))
    if "year" in shape:
        conditions += [_c.start_date <= bindparam("year_end", type_=Date),
                       _c.end_date >= bindparam("year_start", type_=Date)]
    if "manager_id" in shape:
        conditions.append(_c.manager_id == bindparam("manager_id"))
    if "ends_before" in shape:
        conditions.append(_c.end_date < bindparam("ends_before", type_=Date))
    return conditions


def _split(shape: frozenset[str], conditions: list[ColumnElement[bool]]
           ) -> tuple[list[ColumnElement[bool]], list[ColumnElement[bool]]]:
    """The conditions on the unit, and those on the contract (`_list_conditions`'s order)."""
    on_units = len(shape & _UNIT_FILTERS)
    return conditions[:on_units], conditions[on_units:]


def _after_cursor() -> ColumnElement[bool]:
    """Rows after the cursor's (created_at, id): the list's order, so the index can seek."""
    return tuple_(_c.created_at, _c.id) > tuple_(
        bindparam("after_created_at", type_=DateTime(timezone=True)), bindparam("after_id"))


def _page_keys(shape: frozenset[str], per_unit: bool) -> Any:
    """The page's (key, created_at), sorted and cut to `limit` after `offset` rows.

    `per_unit` (see `keys_per_unit`): each unit of the subtree gives at most `limit` keys
    in the order of the unit-and-state index, and only those are sorted. Without it every
    match is sorted for a page: at 100,000 managers a second-level enterprise holds about
    4,000 active contracts, the page takes 50. The page is the same: the first n of a
    union are among the first n of each part.
    """
    conditions = _list_conditions(shape)
    after = [_after_cursor()] if "after" in shape else []
    order = (_c.created_at, _c.id)
    if not per_unit:
        return (
            select(_c.id.label("key"), _c.created_at.label("created_at"), _u.layer, _u.category)
            .select_from(_contracts)
            .join(_units, _c.org_unit_id == _u.id)
            .where(*conditions, *after)
            .order_by(*order)
            .limit(bindparam("limit", type_=Integer))
            .offset(bindparam("offset", type_=Integer))
            .subquery("page_keys")
        )
    on_units, on_contracts = _split(shape, conditions)
    unit_keys = (
        select(_c.id.label("key"), _c.created_at.label("created_at"))
        .where(_c.org_unit_id == _u.id, *on_contracts, *after)
        .order_by(*order)
        .limit(bindparam("limit", type_=Integer))
        .lateral("unit_keys")
    )
    return (
        select(unit_keys.c.key, unit_keys.c.created_at, _u.layer, _u.category)
        .select_from(_units)
        .join(unit_keys, true())
        .where(*on_units)
        .order_by(unit_keys.c.created_at, unit_keys.c.key)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
        .subquery("page_keys")
    )


def keys_per_unit(shape: frozenset[str], postgres: bool, offset: int) -> bool:
    """Whether a page's keys are best taken unit by unit (`_page_keys`): on PostgreSQL, for
    a subtree and a state (the unit-and-state index gives each unit's contracts in the
    list's order), on a page that skips nothing (the first, or one after a cursor). A page
    far down by number would take `offset` keys from every unit: sorting all matches once
    costs less there."""
    return postgres and offset == 0 and "state" in shape and bool(
        shape & {"org_unit_id", "scope_unit_id"})


@lru_cache(maxsize=2048)  # one per combination of filters and way to the keys: 2**11 at most
def contracts_list(shape: frozenset[str], per_unit: bool = False) -> Select[Any]:
    """A page of contracts and how many match, in ONE statement, for the filters in `shape`
    (names of LIST_FILTERS, "scope_unit_id" for a caller scoped to a subtree, and "after"
    for a page after a cursor).

    Bind parameters: one per filter (`year` as `year_start`/`year_end` dates), plus `limit`
    and `offset`, and for "after" `after_created_at` and `after_id`. The head row (the
    total, and the filter unit's and scope unit's paths for the visibility check) is
    left-joined to the page, so the statement always returns at least one row: a page past
    the end, or no match, is one row whose contract columns are NULL. A page after a
    cursor counts nothing (its total is NULL): the count reads every match, which is what
    a cursor spares deep pages. Each row is the contract's body and then LIST_TRAILER. The
    same statement object comes back for the same shape, so it is compiled once
    (shared.db.Database.fetch_rows). `per_unit`: see `keys_per_unit`.
    """
    conditions = _list_conditions(shape)
    head_columns: list[Any] = []
    if "after" in shape:
        head_columns.append(null().label("total"))
    else:
        head_columns.append(select(func.count()).select_from(_contracts)
                            .join(_units, _c.org_unit_id == _u.id).where(*conditions)
                            .scalar_subquery().label("total"))
    if "org_unit_id" in shape:
        head_columns.append(select(_filter_units.c.path)
                            .where(_filter_units.c.id == bindparam("org_unit_id"))
                            .scalar_subquery().label("filter_unit_path"))
    if "scope_unit_id" in shape:
        head_columns.append(select(_list_scope_units.c.path)
                            .where(_list_scope_units.c.id == bindparam("scope_unit_id"))
                            .scalar_subquery().label("list_scope_path"))
    head = select(*head_columns).subquery("head")
    # The page's keys first (from the unit-and-state index when it serves), then the wide
    # rows and their managers for those keys only, not for every match.
    keys = _page_keys(shape, per_unit)
    # The unit's layer and category come with the keys: no third lookup for each row.
    page = (
        select(_c.id, _c.manager_id, _m.employee_no, _m.name.label("manager_name"),
               _c.org_unit_id, keys.c.layer, keys.c.category, *_LIST_TAIL_COLUMNS,
               keys.c.created_at)
        .select_from(keys)
        .join(_contracts, _c.id == keys.c.key)
        .join(_managers, _c.manager_id == _m.id)
        .subquery("page")
    )
    return (
        select(*page.c, *head.c)
        .select_from(head.outerjoin(page, true()))
        .order_by(page.c.created_at, page.c.id)
    )


def list_item_body(row: dict[str, Any]) -> dict[str, Any]:
    """A row of `contracts_list` made the contract as the list sends it, in place.

    The row already holds the body's keys in schemas.ContractOut's order: the trailer comes
    off, stored JSON becomes fragments, timestamps go to UTC; dates stay date objects,
    which orjson writes as ISO dates, as `_iso_date` would.
    """
    for name in LIST_TRAILER:
        row.pop(name, None)
    for name in _JSON_TEXT:
        text = row[name]
        if text is not None:
            row[name] = Fragment(text)
    for name in _TIMESTAMPS:
        if row[name] is not None:
            row[name] = _iso_timestamp(row[name])
    return row


def encode_cursor(created_at: datetime, contract_id: str) -> str:
    """An opaque cursor for the list's position after this contract: its creation time (in
    microseconds since the epoch, UTC) and id, base64url without padding."""
    if created_at.tzinfo is None:  # SQLite hands timestamps back without a zone: UTC
        created_at = created_at.replace(tzinfo=UTC)
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return urlsafe_b64encode(f"{micros}.{contract_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str] | None:
    """The (created_at, id) an `encode_cursor` cursor names; None if it is not one."""
    if not cursor or len(cursor) > _MAX_CURSOR or not _CURSOR_TEXT.fullmatch(cursor):
        return None
    try:
        text = urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    micros, dot, contract_id = text.partition(".")
    if not dot or not contract_id or not _CURSOR_ID.fullmatch(contract_id) or not (
            micros.isdigit() and len(micros) <= 17):
        return None
    # At most 17 digits: up to the year 5138, so no overflow.
    return _EPOCH + timedelta(microseconds=int(micros)), contract_id


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_CURSOR = 200
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]+")
_CURSOR_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def _iso_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _iso_timestamp(value: datetime | None) -> str | None:
    """Every timestamp leaves in UTC; SQLite hands them back without a zone."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat()


def _stored_json(text: str | None) -> Fragment | None:
    """A JSON column's text, sent as it is stored (SQL NULL as null)."""
    return None if text is None else Fragment(text)


def contract_body(row: Mapping[str, Any], documents: list[dict[str, Any]] | None = None
                  ) -> dict[str, Any]:
    """A contract as the API sends it (schemas.ContractOut), from one row of these queries.

    Encode it with orjson (`shared.http.json_response`): it holds stored JSON as fragments.
    """
    body: dict[str, Any] = {name: row[name] for name in _CONTRACT_HEAD}
    body["employee_no"] = row["employee_no"]
    body["manager_name"] = row["manager_name"]
    body["org_unit_id"] = row["org_unit_id"]
    body["layer"] = row["layer"]
    body["category"] = row["category"]
    for name in _CONTRACT_TAIL:
        value = row[name]
        if name in _DATES:
            value = _iso_date(value)
        elif name in _TIMESTAMPS:
            value = _iso_timestamp(value)
        elif name in _JSON_TEXT:
            value = _stored_json(value)
        body[name] = value
    if documents is not None:
        body["documents"] = documents
    return body


def contract_json_of(c: TenureContract, m: Manager, unit: OrgUnit,
                     documents: list[ContractDocument]) -> bytes:
    """The JSON `GET /contracts/{id}` sends, from ORM objects a write has just committed.

    A write that holds the contract, its manager, its unit and every document (documents in
    ONE_CONTRACT's order: year, then kind) answers with what it wrote instead of reading
    it all back: the same keys in the same order and the same values. Stored JSON columns
    are encoded here from their values (a read sends the stored text: the same JSON, its
    spacing aside).
    """
    row: dict[str, Any] = {name: getattr(c, name)
                           for name in (*_CONTRACT_HEAD, "org_unit_id", *_CONTRACT_TAIL)}
    for name in _JSON_TEXT:
        row[name] = orjson.dumps(row[name])
    row.update(employee_no=m.employee_no, manager_name=m.name, layer=unit.layer,
               category=unit.category)
    return orjson.dumps(contract_body(row, [document_body({
        "doc_id": doc.id, "doc_kind": doc.kind, "doc_year": doc.year,
        "doc_signed_at": doc.signed_at, "doc_targets": orjson.dumps(doc.targets),
        "doc_row_version": doc.row_version, "doc_signing_state": doc.signing_state,
        "doc_amendment_version": doc.amendment_version,
        "doc_amendment_state": doc.amendment_state,
        "doc_amended_targets": orjson.dumps(doc.amended_targets),
    }) for doc in documents]))


def document_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """One of the contract's documents (schemas.DocumentOut) from a row of ONE_CONTRACT."""
    return {
        "id": row["doc_id"],
        "kind": row["doc_kind"],
        "year": row["doc_year"] or None,  # 0 marks a term-wide document
        "signed_at": _iso_timestamp(row["doc_signed_at"]),
        "targets": _stored_json(row["doc_targets"]),
        "row_version": row["doc_row_version"],
        "signing_state": row["doc_signing_state"],
        "amendment_version": row["doc_amendment_version"],
        "amendment_state": row["doc_amendment_state"],
        "amended_targets": _stored_json(row["doc_amended_targets"]),
    }


# --- the contracts awaiting the caller's countersignature -------------------------------------

COUNTERSIGNERS = ("countersigner_id", "signatory", "signatory_scope_id")
"""Who asks for the contracts awaiting their countersignature, in an `awaiting_list` shape:
"countersigner_id" (a manager token: the posts they hold), "signatory" (role
employer_signatory), "signatory_scope_id" (its scope, when a subtree)."""

_awaiting_docs = _documents.alias("awaiting_doc")
_holders = _managers.alias("holder")
_holder_units = _units.alias("holder_unit")
_signatory_scope_units = _units.alias("signatory_scope_unit")
_AWAITING_DOC_COLUMNS = _document_columns(_awaiting_docs.c)


def _word(value: str) -> ColumnElement[str]:
    """A constant of the statement, written into its SQL: Database.fetch_rows binds only
    the parameters the caller names."""
    assert value.replace("_", "").isalnum()
    return literal_column(f"'{value}'", String)


class _SignatoryKind(ColumnElement[str]):
    """The contract's signatory kind, read from its JSON column (no bind parameter)."""

    inherit_cache = True
    type = String()


@compiles(_SignatoryKind)
def _signatory_kind_pg(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "(tenure_contracts.signatory ->> 'kind')"


@compiles(_SignatoryKind, "sqlite")
def _signatory_kind_sqlite(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "json_extract(tenure_contracts.signatory, '$.kind')"


def _awaits_employer(doc: Any) -> ColumnElement[bool]:
    """What POST /contracts/{id}/sign (and the batch) countersigns now: while the contract
    awaits signature, its first documents once the manager has signed them; once active,
    an amendment the manager has signed."""
    return or_(
        and_(_c.state == _word("pending_signature"),
             doc.c.signing_state == _word("awaiting_employer")),
        and_(_c.state == _word("active"), doc.c.amendment_version.is_not(None),
             doc.c.amendment_state == _word("awaiting_employer")))


def _countersigned_by(shape: frozenset[str]) -> list[ColumnElement[bool]]:
    """Contracts awaiting the employer's countersignature that the caller gives.

    The rule of domain.signing.countersigner, in SQL: `board`, the chair of the contract's
    unit; `general_manager`, the general manager of the unit (of the enterprise above a
    department); `parent_enterprise`, the general manager of the parent unit; any other
    kind (the supervisor, an override, a parent enterprise with no parent), a token of role
    employer_signatory whose scope covers the unit. A post's holder is an active manager
    registered at that unit itself (repository.position_holders), never the contract's own
    manager. The holder's unit and the units below it narrow the contracts first, by index.
    """
    kind = _SignatoryKind()
    board, gm, chair, active = (_word(w) for w in ("board", "general_manager", "chair",
                                                   "active"))
    is_department = and_(_u.kind == _word("department"), _u.parent_id.is_not(None))
    who: list[ColumnElement[bool]] = []
    if "countersigner_id" in shape:
        me = bindparam("countersigner_id")
        # Only a chair or a general manager countersigns: anyone else's unit is NULL, and
        # their list costs one lookup of their own row.
        my_unit = (select(_holders.c.org_unit_id)
                   .where(_holders.c.id == me, _holders.c.employment_status == active,
                          or_(_holders.c.position == chair, _holders.c.position == gm))
                   .scalar_subquery())
        h = _holders.c
        who.append(and_(
            _c.org_unit_id.in_(select(_holder_units.c.id).where(or_(
                _holder_units.c.id == my_unit, _holder_units.c.parent_id == my_unit))),
            _c.manager_id != me,
            exists().where(h.id == me, h.employment_status == active, or_(
                and_(kind == board, h.position == chair, h.org_unit_id == _u.id),
                and_(kind == gm, h.position == gm,
                     or_(and_(~is_department, h.org_unit_id == _u.id),
                         and_(is_department, h.org_unit_id == _u.parent_id))),
                and_(kind == _word("parent_enterprise"), h.position == gm,
                     h.org_unit_id == _u.parent_id)))))
    if "signatory" in shape:
        by_role: list[ColumnElement[bool]] = [
            kind != board, kind != gm,
            or_(kind != _word("parent_enterprise"), _u.parent_id.is_(None))]
        if "signatory_scope_id" in shape:
            by_role.append(_u.path.startswith(
                select(_signatory_scope_units.c.path)
                .where(_signatory_scope_units.c.id == bindparam("signatory_scope_id"))
                .scalar_subquery()))
        who.append(and_(*by_role))
    return [or_(_c.state == _word("pending_signature"), _c.state == active),
            or_(*who) if who else false(),
            exists().where(_awaiting_docs.c.contract_id == _c.id,
                           _awaits_employer(_awaiting_docs))]


@lru_cache(maxsize=256)
def awaiting_list(shape: frozenset[str]) -> Select[Any]:
    """A page of the contracts awaiting the caller's countersignature, with how many there
    are, the unit's name and the documents awaiting the employer, in ONE statement.

    `shape`: who asks (COUNTERSIGNERS), other filters of LIST_FILTERS but `org_unit_id`, and
    "scope_unit_id" for a scoped caller. Bind parameters as `contracts_list`'s, plus
    `countersigner_id` and `signatory_scope_id`. One row per document awaiting the employer
    of each contract of the page, in the list's order; a page past the end, or no match, is
    one row whose contract columns are NULL (the head row holds the total).
    """
    conditions = [*_list_conditions(shape - set(COUNTERSIGNERS)), *_countersigned_by(shape)]
    # The matches are found once, for the count and for the page.
    matches = (select(_c.id.label("key"), _c.created_at.label("created_at"))
               .select_from(_contracts).join(_units, _c.org_unit_id == _u.id)
               .where(*conditions).cte("awaiting_matches"))
    count = select(func.count()).select_from(matches)
    head = select(count.scalar_subquery().label("total")).subquery("head")
    keys = (
        select(matches.c.key, matches.c.created_at)
        .order_by(matches.c.created_at, matches.c.key)
        .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))
        .subquery("page_keys")
    )
    page = (
        select(*(col for col in _ROW_COLUMNS if col.key != "unit_path"),
               _u.name.label("org_unit_name"), *_AWAITING_DOC_COLUMNS, keys.c.created_at)
        .select_from(keys)
        .join(_contracts, _c.id == keys.c.key)
        .join(_managers, _c.manager_id == _m.id)
        .join(_units, _c.org_unit_id == _u.id)
        .join(_awaiting_docs, and_(_awaiting_docs.c.contract_id == _c.id,
                                   _awaits_employer(_awaiting_docs)))
        .subquery("page")
    )
    return (
        select(*head.c, *(col for col in page.c if col.key != "created_at"))
        .select_from(head.outerjoin(page, true()))
        .order_by(page.c.created_at, page.c.id, page.c.doc_year, page.c.doc_kind)
    )


def awaiting_bodies(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The contracts of `awaiting_list`'s rows (one a document) as the API sends them:
    schemas.ContractOut with `org_unit_name` and the documents awaiting the employer."""
    bodies: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["id"] is None:
            continue
        body = bodies.get(r["id"])
        if body is None:
            body = bodies[r["id"]] = contract_body(r, [])
            body["org_unit_name"] = r["org_unit_name"]
        body["documents"].append(document_body(r))
    return list(bodies.values())
