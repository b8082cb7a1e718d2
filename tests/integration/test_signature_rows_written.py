"""A signature in its own request is written by Core statements, not by a flush of the ORM's
unit of work (services/contracts/service/signing.py, `_write_rows`): the rows and the audit
records must be exactly those the flush writes, which signatures inside a caller's
transaction still get. Both are run here on contracts alike in all but their ids, and
compared once the ids are named by what they are: the manager's side, and the employer's
that brings the contract into force (also in a batch of countersignatures, which writes all
its contracts' rows together by the same Core statements)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask import g
from sqlalchemy import select, text

from services.contracts.service.signing import sign_contract
from shared import audit
from shared.auth import Principal
from tests.integration.test_contract_signing import issued
from tests.support.contracts_world import Client, manager, small_group, template

_INSTANT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?")


def _as_manager(m: dict[str, Any]) -> Principal:
    return Principal(subject=f"sso-{m['employee_no']}", roles=frozenset({"manager"}),
                     manager_id=m["id"])


def _named(value: Any, names: dict[str, str]) -> Any:
    """`value` with every id and instant replaced by what it stands for."""
    if isinstance(value, dict):
        return {k: _named(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_named(v, names) for v in value)
    if isinstance(value, datetime):
        return "<instant>"
    if isinstance(value, str):
        for raw, name in names.items():
            value = value.replace(raw, name)
        return _INSTANT.sub("<instant>", value)
    return value


def _written(app: Any, contract_id: str, m: dict[str, Any], signer: str | None = None
             ) -> tuple[Any, ...]:
    """The contract's rows and the audit records of its signature by `signer` (the
    manager's own, unless named), ids named."""
    db = app.extensions["tenure_db"]
    with db.engine.connect() as conn:
        documents = conn.execute(text(
            "SELECT id, kind, year, signing_state, row_version, signed_at FROM "
            "contract_documents WHERE contract_id = :c ORDER BY kind, year"),
            {"c": contract_id}).all()
        signatures = conn.execute(text(
            "SELECT id, document_id, amendment_version, party, method, signed_by, "
            "person_manager_id, on_behalf_of, paper_signed_on, paper_reference, recorded_by "
            "FROM contract_signatures WHERE contract_id = :c ORDER BY id"),
            {"c": contract_id}).all()
        contract = conn.execute(text(
            "SELECT state, row_version, signatures, signed_at, signed_by FROM "
            "tenure_contracts WHERE id = :c"),
            {"c": contract_id}).one()
        names = {contract_id: "<contract>", m["id"]: "<manager>",
                 m["employee_no"]: "<employee_no>", m["name"]: "<name>"}
        doc_names = {row.id: f"<{row.kind} {row.year}>" for row in documents}
        names |= doc_names
        # Signature ids are small numbers: named where they stand, not inside other text.
        signature_names = {row.id: f"<signature of {doc_names[row.document_id]}>"
                           for row in signatures}
        records = conn.execute(
            select(audit.AUDIT.c.object_type, audit.AUDIT.c.object_id, audit.AUDIT.c.action,
                   audit.AUDIT.c.actor, audit.AUDIT.c.before, audit.AUDIT.c.after)
            .where(audit.AUDIT.c.object_id.in_([contract_id, *doc_names,
                                                *(str(r.id) for r in signatures)]))
            .where(audit.AUDIT.c.object_type.in_(
                ["tenure_contracts", "contract_documents", "contract_signatures"]))
            .where(audit.AUDIT.c.actor == (signer or _as_manager(m).subject))).all()
    rows = ([tuple(r) for r in documents],
            [(signature_names[r[0]], *r[1:]) for r in signatures], tuple(contract))
    trail = []
    for object_type, object_id, action, actor, before, after in records:
        if object_type == "contract_signatures":
            object_id = signature_names[int(object_id)]
            after = {**after, "id": signature_names[after["id"]]}
        trail.append(_named([object_type, object_id, action, actor, before, after], names))
    return _named(rows, names), sorted(trail, key=repr)


def test_a_managers_signature_writes_the_rows_and_records_a_flush_would(
        app: Any, api: Client) -> None:
    group = small_group(api)
    t = template(api)
    # Alike but for ids and employee numbers (which their names hold): one unit, one template.
    core_m = manager(api, "A001", group["sub_a"]["id"])
    flush_m = manager(api, "A002", group["sub_a"]["id"])
    manager(api, "A003", group["sub_a"]["id"], position="chair")
    core_c, flush_c = issued(api, core_m, t), issued(api, flush_m, t)
    db = app.extensions["tenure_db"]
    today = date(2026, 1, 5)

    with app.test_request_context():
        g.principal = _as_manager(core_m)  # whom the audit trail names, as in a request
        sign_contract(db, g.principal, core_c["id"], None, {}, None, today)
    with app.test_request_context(), db.unit_of_work() as s:
        g.principal = _as_manager(flush_m)
        # The caller's transaction: the ORM flushes the rows.
        sign_contract(s, g.principal, flush_c["id"], None, {}, None, today)

    core_rows, core_trail = _written(app, core_c["id"], core_m)
    flush_rows, flush_trail = _written(app, flush_c["id"], flush_m)
    documents, signatures, contract = core_rows
    # The appointment agreement and the first year's annual contract (the template's
    # tenure contract has no targets yet), signed by the manager: awaiting the employer.
    signed = [d for d in documents if d[3] == "awaiting_employer"]
    assert [(d[1], d[2]) for d in signed] == [("annual_performance_contract", 2026),
                                              ("appointment_agreement", 0)]
    assert len(signatures) == 2 and contract[0] == "pending_signature"
    # One record a row written: the contract, each document signed, each signature.
    assert sorted((r[0], r[2]) for r in core_trail) == sorted(
        [("tenure_contracts", "updated")] + [("contract_documents", "updated")] * 2
        + [("contract_signatures", "created")] * 2)
    assert core_rows == flush_rows
    assert core_trail == flush_trail


def test_a_countersignature_that_brings_the_contract_into_force_writes_what_a_flush_would(
        app: Any, api: Client) -> None:
    """The employer's side three ways: by its own call and in a batch of countersignatures
    (`POST /contracts/countersignatures`), both Core statements, against the same side
    inside a caller's transaction (one ORM flush). The contract comes into force (state,
    signed_at, signed_by), so do its documents."""
    group = small_group(api)
    t = template(api)
    core_m = manager(api, "A001", group["sub_a"]["id"])
    batch_m = manager(api, "A002", group["sub_a"]["id"])
    flush_m = manager(api, "A004", group["sub_a"]["id"])
    chair = manager(api, "A003", group["sub_a"]["id"], position="chair")
    core_c, batch_c, flush_c = (issued(api, m, t) for m in (core_m, batch_m, flush_m))
    for m, c in ((core_m, core_c), (batch_m, batch_c), (flush_m, flush_c)):
        api.as_(_token_of(m)).post(f"/api/v1/contracts/{c['id']}/sign", {}, expect=200)

    as_chair = api.as_(_token_of(chair))
    as_chair.post(f"/api/v1/contracts/{core_c['id']}/sign", {}, expect=200)
    body = as_chair.post("/api/v1/contracts/countersignatures", {
        "contracts": [{"contract_id": batch_c["id"]}]}, expect=200).get_json()
    assert body["countersigned"] == 1
    db = app.extensions["tenure_db"]
    signer = f"sso-{chair['employee_no']}"
    with app.test_request_context(), db.unit_of_work() as s:
        g.principal = Principal(subject=signer, roles=frozenset({"manager"}),
                                manager_id=chair["id"])
        sign_contract(s, g.principal, flush_c["id"], None, {}, None)  # the ORM flushes

    core_rows, core_trail = _written(app, core_c["id"], core_m, signer)
    documents, signatures, contract = core_rows
    assert contract[0] == "active" and contract[3] == "<instant>" and len(signatures) == 4
    assert [d[3] for d in documents].count("in_force") == 2
    assert sorted((r[0], r[2]) for r in core_trail) == sorted(
        [("tenure_contracts", "updated")] + [("contract_documents", "updated")] * 2
        + [("contract_signatures", "created")] * 2)
    for other_c, other_m in ((batch_c, batch_m), (flush_c, flush_m)):
        assert _written(app, other_c["id"], other_m, signer) == (core_rows, core_trail)


def _token_of(m: dict[str, Any]) -> dict[str, str]:
    from tests.conftest import auth

    return auth("manager", subject=f"sso-{m['employee_no']}", manager_id=m["id"])
