"""The audit trail: who changed what, for whom, when, and the versions before and after.

Every ORM write in a unit of work is captured by one session listener (after the flush, so
new rows have their ids and attribute history still holds the old values) and written to
`audit_log` in the same transaction: a write and its record commit or roll back together.
Core statements and COPY bypass the ORM, so their callers record explicitly with `record` /
`record_many`. Who is acting comes from the request's token, or from `acting_as` (consumers
acting for an event's source, workers, commands). Rules and retention: docs/audit.md.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import click
import marshmallow as ma
from flask import current_app, g, has_request_context, request
from flask.cli import with_appcontext
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import MetaData, Select, delete, event, func, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import NO_VALUE, PASSIVE_NO_INITIALIZE

from shared.auth import HR_ADMIN, SERVICE, Principal, authenticate, require
from shared.db import bulk_insert
from shared.fields import PageInfo, PageQuery, UtcDateTime, page_info
from shared.tables import AUDIT_TABLE, define_audit_table

AUDIT = define_audit_table(MetaData())
ON_BEHALF_HEADER = "X-On-Behalf-Of"
SYSTEM_ACTOR = "system"
# Tables that are plumbing, not records anyone changes: never audited.
ALWAYS_SKIPPED = frozenset({"outbox", "inbox", "idempotency_keys", AUDIT_TABLE})
# Columns whose values never enter the trail (a webhook's signing secret): the record says
# that they changed, not what they are.
REDACTED = frozenset({"secret", "password", "token"})


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who is writing (`actor`, the token's subject or an event's source) and, where they
    act for someone else, for whom (`on_behalf_of`)."""

    actor: str
    on_behalf_of: str | None = None
    request_id: str | None = None


_acting: ContextVar[Actor | None] = ContextVar("tenure_audit_actor", default=None)


@contextmanager
def acting_as(actor: str | Actor, on_behalf_of: str | None = None) -> Iterator[None]:
    """Writes in this block are recorded as `actor`'s (a consumer: the event's source; a
    background job: the `current_actor()` of the request that started it)."""
    who = actor if isinstance(actor, Actor) else Actor(actor, on_behalf_of)
    token = _acting.set(who)
    try:
        yield
    finally:
        _acting.reset(token)


def as_requester(work: Callable[..., Any], *args: Any) -> Callable[[], None]:
    """`work(*args)` for a background thread, its writes recorded as the current caller's
    (a bulk issue or an appraisal run is the doing of whoever started it)."""
    requester = current_actor()

    def run() -> None:
        with acting_as(requester):
            work(*args)

    return run


def subtree_units(org_unit: Any, path: str | None) -> Select[Any] | None:
    """The ids of the units under `path` (a materialised path), or None for the whole group:
    what `audit_blueprint` needs from a service's scope."""
    return None if path is None else select(org_unit.id).where(org_unit.path.startswith(path))


def on_behalf_of(person: str | None) -> None:
    """Within a request: this write is done for `person` (HR recording for a manager)."""
    if has_request_context() and person:
        g.audit_on_behalf_of = str(person)[:200]


def current_actor() -> Actor:
    explicit = _acting.get()
    if explicit is not None:
        return explicit
    if has_request_context():
        principal: Principal | None = getattr(g, "principal", None)
        request_id = getattr(g, "request_id", None)
        if principal is not None:
            behalf = getattr(g, "audit_on_behalf_of", None)
            if behalf is None and principal.has(SERVICE):
                # A service client acting for a person names them; recorded, never trusted
                # for access (the token's roles and scope decide that).
                behalf = (request.headers.get(ON_BEHALF_HEADER) or "").strip()[:200] or None
            return Actor(principal.subject, behalf, request_id)
        return Actor("anonymous", None, request_id)
    return Actor(SYSTEM_ACTOR)


# --- capture ----------------------------------------------------------------------------------

UnitOf = Callable[[Any], "str | None"]
# Per tracked metadata: the tables skipped, where a row sits, and whether an update records
# only the columns it changed.
_tracked: dict[int, tuple[frozenset[str], UnitOf, bool]] = {}


def tracks(metadata: MetaData) -> bool:
    return id(metadata) in _tracked


def default_unit_of(obj: Any) -> str | None:
    """Where a row sits in the org tree: its unit, an HR admin's scope, or a unit itself."""
    for name in ("org_unit_id", "org_scope"):
        value = getattr(obj, name, None)
        if isinstance(value, str) and value:
            return value
    if getattr(obj, "__tablename__", "") == "org_units":
        return str(obj.id)
    return None


def track(metadata: MetaData, *, skip: Iterable[str] = (), unit_of: UnitOf = default_unit_of,
          changes_only: bool = False) -> None:
    """Audit every ORM write to the tables of `metadata` except `skip` (high-churn work
    state such as delivery attempts, documented in docs/audit.md).

    With `changes_only`, an update's record holds in `before` and `after` only the columns
    whose value it changed: a row with a large column that a step leaves alone (an
    appraisal's scoring trace, written once by the run that produced it) is not copied into
    the trail twice at every step. Creations and deletions keep the whole row."""
    _tracked[id(metadata)] = (ALWAYS_SKIPPED | frozenset(skip), unit_of, changes_only)


def changed_columns(before: Mapping[str, Any], after: Mapping[str, Any],
                    written: Iterable[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """The columns whose value differs between two versions of a row, on each side, and
    those the flushes `written` (a JSON value changed in place and flagged modified has no
    older value to compare with)."""
    also = set(written)
    keys = [k for k in (*before, *(k for k in after if k not in before))
            if k in also or before.get(k) != after.get(k)]
    return ({k: before[k] for k in keys if k in before},
            {k: after[k] for k in keys if k in after})


_PLAIN = (str, int, bool, type(None), float)


def jsonable(value: Any) -> Any:
    """A value as JSON keeps it: decimals as strings (never floats), dates ISO 8601."""
    kind = type(value)
    # Exact types first: JSON columns come back as plain dicts and lists of plain values,
    # and every write audits them twice (before and after), so this path is the hot one.
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(k): v if type(v) in _PLAIN else jsonable(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _PLAIN else jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


_COLUMN_KEYS: dict[Any, tuple[tuple[str, ...], frozenset[str]]] = {}


def _column_keys(mapper: Any) -> tuple[tuple[str, ...], frozenset[str]]:
    """A mapper's column attribute keys, in order and as a set: asked once per mapper."""
    found = _COLUMN_KEYS.get(mapper)
    if found is None:
        keys = tuple(attr.key for attr in mapper.column_attrs)
        found = _COLUMN_KEYS[mapper] = (keys, frozenset(keys))
    return found


def _history(state: Any, key: str) -> Any:
    """An attribute's pre-flush history, as `state.attrs[key].history` gives it, without
    `state.attrs`: that builds an AttributeState for every attribute of the instance at
    its first use, which was a fifth of a whole run's review (100,000 appraisals, each
    loaded and audited once)."""
    return state.get_history(key, PASSIVE_NO_INITIALIZE)


def _shown(key: str, value: Any) -> Any:
    """A column's value as a record holds it: JSON, or hidden for a secret column."""
    return "[redacted]" if key in REDACTED else jsonable(value)


def _values(state: Any, *, old: bool, keys: set[str] | None = None) -> dict[str, Any]:
    """Loaded column values of an instance (only `keys`, if given); with `old`, as they
    were before this flush.

    Read from the instance's dict, as `AttributeState.loaded_value` does, without building
    an AttributeState per column: a signature audits five rows twice. Only an attribute
    in `committed_state` can have an earlier value (SQLAlchemy's scalar history is made
    from it), so only those ask for their history.
    """
    out: dict[str, Any] = {}
    loaded = state.dict
    committed = state.committed_state if old else None
    for key in _column_keys(state.mapper)[0]:  # in column order, as the trail shows them
        if keys is not None and key not in keys:
            continue
        if committed and key in committed:
            hist = _history(state, key)
            if hist.deleted:
                out[key] = _shown(key, hist.deleted[0])
                continue
        value = loaded.get(key, NO_VALUE)
        if value is not NO_VALUE:
            out[key] = _shown(key, value)
    return out


def _both_values(state: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """`_values` before and after this flush in one pass: a column that did not change is
    made JSON once for both sides (a contract's terms, documents and signatures are most of
    a signature's records)."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    loaded = state.dict
    committed = state.committed_state
    for key in _column_keys(state.mapper)[0]:
        value = loaded.get(key, NO_VALUE)
        shown = NO_VALUE if value is NO_VALUE else _shown(key, value)
        if committed and key in committed:
            hist = _history(state, key)
            if hist.deleted:
                before[key] = _shown(key, hist.deleted[0])
                if shown is not NO_VALUE:
                    after[key] = shown
                continue
        if shown is not NO_VALUE:
            before[key] = after[key] = shown
    return before, after


def changed(obj: Any) -> bool:
    """Whether a flush would write `obj` (and the listener record it): a new row, or a
    column whose value really changed since the load."""
    state = inspect(obj)
    return state.key is None or _changed(state)


def _changed(state: Any) -> bool:
    """Whether any column really changed: only attributes in `committed_state` can have."""
    columns = _column_keys(state.mapper)[1]
    return any(_history(state, key).has_changes()
               for key in list(state.committed_state) if key in columns)


def _written(state: Any) -> set[str]:
    """The columns this flush writes (REDACTED ones included: the record shows they changed).

    Only an attribute in `committed_state` has history to write (as in `_changed`); a
    column never touched since the load has none."""
    columns = _column_keys(state.mapper)[1]
    return {key for key in list(state.committed_state)
            if key in columns and _history(state, key).has_changes()}


def _changes(state: Any, written: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The written columns whose value changed, before and after, as JSON."""
    return changed_columns(_values(state, old=True, keys=written),
                           _values(state, old=False, keys=written), written)


def pending_entry(obj: Any, written: set[str] | None = None) -> dict[str, Any] | None:
    """The record the listener would write for `obj` at the next flush (a new row once it
    has its key, or a loaded one's update), for `record_many` by a caller that writes the
    row with a Core statement instead (a manager's signature, where the flush was a third of
    the call); None when nothing changed or the table is not audited. Its values are JSON
    already (`converted`). `written`: what `written_columns(obj)` answered, when the caller
    asked already (each column's history is then not worked out again)."""
    state = inspect(obj)
    table = state.mapper.local_table
    tracked = _tracked.get(id(table.metadata))
    if tracked is None or table.name in tracked[0]:
        return None
    if state.key is None:
        action, before, after = "created", None, _values(state, old=False)
    else:
        columns = _written(state) if written is None else written
        if not columns:
            return None
        action, (before, after) = "updated", (
            _changes(state, columns) if tracked[2] else _both_values(state))
    return {"object_type": table.name, "object_id": _object_id(state), "action": action,
            "org_unit_id": tracked[1](obj), "before": before, "after": after}


def written_columns(obj: Any) -> set[str]:
    """The columns a flush would write for a loaded `obj`: those whose value changed."""
    return _written(inspect(obj))


def _object_id(state: Any) -> str:
    key = state.mapper.primary_key_from_instance(state.obj())
    return ":".join("" if k is None else str(k) for k in key)


_PENDING = "tenure_audit_pending"


def _after_flush(session: Session, _context: Any) -> None:
    """Collect this flush's writes; a unit of work that flushes an object several times
    still gets one record per object: the version before the first flush, after the last."""
    pending: dict[tuple[str, str], dict[str, Any]] = session.info.setdefault(_PENDING, {})
    now = datetime.now(UTC)
    who = None
    for action, objects in (("created", session.new), ("updated", session.dirty),
                            ("deleted", session.deleted)):
        for obj in objects:
            state = inspect(obj)
            table = getattr(state.mapper, "local_table", None)
            tracked = _tracked.get(id(getattr(table, "metadata", None)))
            if tracked is None or table is None or table.name in tracked[0]:
                continue
            if action == "updated" and (not _changed(state) or state.deleted):
                continue
            who = who or current_actor()
            key = (table.name, _object_id(state))
            earlier = pending.get(key)
            written = _written(state) if tracked[2] else None
            as_changes = written is not None and action == "updated" and (
                earlier is None or (earlier["action"] == "updated" and "changes_only" in earlier))
            if as_changes:
                # Kept as changes from the first flush on: a transaction that updates
                # 100,000 rows (a whole run published) would otherwise hold two whole
                # versions of each row, traces and all, until it commits. Only the columns
                # written can differ (a column outside committed_state has no earlier
                # value), so only those are read and made JSON.
                before, after = _changes(state, written)
            elif action == "updated":
                before, after = _both_values(state)
            else:
                after = None if action == "deleted" else _values(state, old=False)
                before = None if action == "created" else _values(state, old=True)
            if earlier is None:
                # _values has made them JSON already: not converted a second time.
                pending[key] = _row(who, now, key[0], key[1], action, tracked[1](obj),
                                    before, after, converted=True)
                if written is not None:
                    pending[key]["changes_only"] = written
                continue
            if earlier["action"] == "created" and action == "deleted":
                del pending[key]  # never existed outside this transaction
                continue
            if as_changes:
                for column, value in before.items():  # its value before the transaction
                    earlier["before"].setdefault(column, value)
                earlier["after"].update(after)
            else:
                earlier["after"] = after
            if written is not None and "changes_only" in earlier:
                earlier["changes_only"] |= written
            if action == "deleted":
                earlier["action"] = "deleted"
            earlier["org_unit_id"] = earlier["org_unit_id"] or tracked[1](obj)


def _before_commit(session: Session) -> None:
    session.flush()  # the last changes first, so they are in the records written now
    write_pending(session)


def write_pending(session: Session) -> None:
    """Write the records collected so far, before the commit: for a long transaction that
    is done with the rows it flushed (a whole run reviewed a chunk at a time), so memory
    holds a chunk's records, not the run's. A row changed again after this gets a second
    record for the rest of the transaction."""
    pending = session.info.pop(_PENDING, None)
    if pending:
        rows = list(pending.values())
        for row in rows:
            # The first version before the transaction against the last after it: a column
            # changed and changed back is no change.
            written = row.pop("changes_only", None)
            if written is not None and row["action"] == "updated":
                row["before"], row["after"] = changed_columns(row["before"], row["after"],
                                                              written)
        # One statement however many: COPY for a chunk of a whole run's review, one
        # INSERT for a signature's five (shared.db.COPY_FROM).
        bulk_insert(session, AUDIT, rows)


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "before_commit", _before_commit)
event.listen(Session, "after_rollback", _forget)


def _row(who: Actor, now: datetime, object_type: str, object_id: str, action: str,
         org_unit_id: str | None, before: Any, after: Any, *, converted: bool = False
         ) -> dict[str, Any]:
    if not converted:
        before = None if before is None else jsonable(before)
        after = None if after is None else jsonable(after)
    return {
        "occurred_at": now, "actor": who.actor[:200], "on_behalf_of": who.on_behalf_of,
        "object_type": object_type[:64], "object_id": str(object_id)[:200],
        "action": action[:64], "org_unit_id": org_unit_id, "request_id": who.request_id,
        "before": before, "after": after,
    }


def record(session: Session, object_type: str, object_id: str, action: str, *,
           before: Any = None, after: Any = None, org_unit_id: str | None = None) -> None:
    """Record a write the listener cannot see (a Core statement) in the caller's transaction."""
    bulk_insert(session, AUDIT, [_row(
        current_actor(), datetime.now(UTC), object_type, object_id, action, org_unit_id,
        before, after)])


def update_entry(obj: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The record the listener writes when `obj` is flushed with `values`, for a caller that
    writes many such rows with one Core UPDATE instead (a whole run's review): only the
    columns whose value changes, in column order, as JSON; for `record_many`.

    Only for a table tracked with `changes_only`, whose updates record their changes; `obj`
    holds the values before the update."""
    state = inspect(obj)
    table = state.mapper.local_table
    skipped, unit_of, changes_only = _tracked[id(table.metadata)]
    if not changes_only or table.name in skipped:
        raise ValueError(f"{table.name} updates are not recorded as changes")
    loaded = state.dict
    if not loaded.keys() >= values.keys():
        raise ValueError(f"not loaded, so not comparable: {sorted(values.keys() - loaded)}")
    keys = [key for key in _column_keys(state.mapper)[0]
            if key in values and values[key] != loaded[key]]
    return {"object_type": table.name, "object_id": _object_id(state), "action": "updated",
            "org_unit_id": unit_of(obj),
            "before": {key: _shown(key, loaded[key]) for key in keys},
            "after": {key: _shown(key, values[key]) for key in keys}}


def record_many(session: Session, entries: Iterable[Mapping[str, Any]],
                actor: Actor | None = None, *, converted: bool = False) -> None:
    """Record many Core/COPY writes at once (COPY on PostgreSQL): each entry holds
    object_type, object_id, action and optionally before, after, org_unit_id; with
    `converted`, before and after are JSON already (`pending_entry`)."""
    who = actor or current_actor()
    record_each(session, ((who, e) for e in entries), converted=converted)


def record_each(session: Session, entries: Iterable[tuple[Actor, Mapping[str, Any]]], *,
                converted: bool = False) -> None:
    """`record_many` for entries each written by its own actor, in one statement: a batch
    of paper countersignatures HR records, each for the employer it was signed for."""
    bulk_insert(session, AUDIT, rows_each(entries, converted=converted))


def rows_each(entries: Iterable[tuple[Actor, Mapping[str, Any]]], *, converted: bool = False
              ) -> list[dict[str, Any]]:
    """The audit_log rows `record_each` writes, for a caller that writes them together
    with rows of other tables (`shared.db.bulk_insert_together`)."""
    now = datetime.now(UTC)
    return [_row(who, now, e["object_type"], e["object_id"], e["action"],
                 e.get("org_unit_id"), e.get("before"), e.get("after"), converted=converted)
            for who, e in entries]


# --- reading and keeping ----------------------------------------------------------------------

UnitsWithin = Callable[[Session, Principal], "Select[Any] | None"]


class AuditQuery(PageQuery):
    object_type = ma.fields.String(validate=ma.validate.Length(min=1, max=64))
    object_id = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    actor = ma.fields.String(validate=ma.validate.Length(min=1, max=200),
                             metadata={"description": "who wrote, or for whom they wrote"})
    since = UtcDateTime(metadata={"description": "records at or after this instant"})
    until = UtcDateTime(metadata={"description": "records before this instant"})


class AuditRecordOut(ma.Schema):
    id = ma.fields.Integer()
    occurred_at = UtcDateTime()
    actor = ma.fields.String()
    on_behalf_of = ma.fields.String(allow_none=True)
    object_type = ma.fields.String()
    object_id = ma.fields.String()
    action = ma.fields.String()
    org_unit_id = ma.fields.String(allow_none=True)
    request_id = ma.fields.String(allow_none=True)
    before = ma.fields.Raw(allow_none=True)
    after = ma.fields.Raw(allow_none=True)


class AuditPage(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AuditRecordOut))
    page = ma.fields.Nested(PageInfo)


def audit_query(query: Mapping[str, Any], units: Select[Any] | None) -> Select[Any]:
    """The records a query asks for, unordered. `units`: the ids of the caller's subtree, or
    None for the whole group; a scoped reader never sees group-level records (those with no
    unit). A person's records are those they wrote and those written for them: each side has
    its own index (`ix_audit_log_actor`, `ix_audit_log_on_behalf_of`)."""
    stmt = select(AUDIT)
    if query.get("object_type"):
        stmt = stmt.where(AUDIT.c.object_type == query["object_type"])
    if query.get("object_id"):
        stmt = stmt.where(AUDIT.c.object_id == query["object_id"])
    if query.get("actor"):
        stmt = stmt.where((AUDIT.c.actor == query["actor"])
                          | (AUDIT.c.on_behalf_of == query["actor"]))
    if query.get("since"):
        stmt = stmt.where(AUDIT.c.occurred_at >= query["since"])
    if query.get("until"):
        stmt = stmt.where(AUDIT.c.occurred_at < query["until"])
    if units is not None:
        stmt = stmt.where(AUDIT.c.org_unit_id.in_(units))
    return stmt


def audit_page(session: Session, query: Mapping[str, Any], units: Select[Any] | None
               ) -> tuple[list[dict[str, Any]], int]:
    """Newest first (`audit_query`'s records)."""
    stmt = audit_query(query, units)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page, size = query["page"], query["page_size"]
    rows = session.execute(stmt.order_by(AUDIT.c.id.desc()).limit(size)
                           .offset((page - 1) * size)).mappings()
    return [dict(r) for r in rows], int(total)


def audit_blueprint(units_within: UnitsWithin) -> Blueprint:
    """GET /api/v1/audit for one service: HR admins only, within their scope."""
    blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit",
                    description="Who changed what, for whom, when (append-only)")

    @blp.route("")
    class AuditTrail(MethodView):
        @require(HR_ADMIN)
        @blp.arguments(AuditQuery, location="query")
        @blp.response(200, AuditPage)
        def get(self, query: dict[str, Any]) -> Any:
            """The audit trail by object and by actor: HR admins, within their org scope."""
            from shared.http import db

            principal = authenticate()
            with db().read() as s:
                items, total = audit_page(s, query, units_within(s, principal))
            return {"items": items,
                    "page": page_info(query["page"], query["page_size"], total)}

    return blp


# How long the trail is kept: ten years, beyond three consecutive three-year terms and the
# appeals after the last (docs/audit.md). The purge refuses anything under one year.
DEFAULT_RETENTION_DAYS = 3653
MINIMUM_RETENTION_DAYS = 365


@click.command("audit-purge")
@click.option("--older-than-days", type=click.IntRange(min=MINIMUM_RETENTION_DAYS),
              default=DEFAULT_RETENTION_DAYS, show_default=True)
@with_appcontext
def purge_command(older_than_days: int) -> None:
    """Remove audit records past their retention (the only way any leave the trail)."""
    cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
    with current_app.extensions["tenure_db"].unit_of_work() as s:
        removed = purge(s, cutoff)
    click.echo(f"removed {removed} audit records older than {cutoff.date().isoformat()}")


def purge(session: Session, older_than: datetime) -> int:
    """Remove records older than the retention; the only delete the trigger lets through."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.set_config("tenure.audit_purge", "on", True)))
    result = session.execute(delete(AUDIT).where(AUDIT.c.occurred_at < older_than))
    return int(result.rowcount or 0)
