"""The audit trail of the contracts service: every write recorded with who, for whom, what,
when and the versions before and after; read by HR within scope; append-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from shared import audit
from shared.tables import AUDIT_TABLE
from tests.conftest import auth
from tests.integration.test_contracts_api import wait_for_job
from tests.support.contracts_world import (
    STANDARD_TARGETS,
    Client,
    manager,
    small_group,
    template,
)


def trail(api: Client, **query: str) -> list[dict[str, Any]]:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return api.get(f"/api/v1/audit?page_size=200&{qs}").get_json()["items"]


def test_a_template_change_is_recorded_with_who_and_both_versions(api: Client) -> None:
    small_group(api)
    t = template(api)
    api.put(f"/api/v1/templates/{t['id']}", {"name": "Renamed", "targets": STANDARD_TARGETS},
            headers={"If-Match": '"v1"'}, expect=200)
    updated, created = trail(api, object_type="contract_templates", object_id=t["id"])
    assert (created["action"], updated["action"]) == ("created", "updated")
    assert created["before"] is None and created["after"]["name"] == t["name"]
    assert updated["before"]["name"] == t["name"] and updated["after"]["name"] == "Renamed"
    assert (updated["before"]["row_version"], updated["after"]["row_version"]) == (1, 2)
    # The update holds the columns it changed, on both sides; the creation the whole row,
    # so each version of the template can be told from its records.
    assert updated["before"].keys() == updated["after"].keys()
    assert {"name", "row_version"} <= updated["after"].keys()
    assert all(updated["before"][k] != updated["after"][k] for k in updated["after"])
    assert "id" in created["after"] and "id" not in updated["after"]  # unchanged
    assert {**created["after"], **updated["after"]}["name"] == "Renamed"
    assert updated["actor"] == "hr-1" and updated["on_behalf_of"] is None
    assert updated["request_id"]
    assert datetime.fromisoformat(updated["occurred_at"]) > datetime.now(UTC) - timedelta(
        minutes=1)


def test_a_service_acting_for_a_person_is_recorded_with_both(api: Client) -> None:
    service = api.as_(auth("service", subject="hr-system"))
    unit = service.post("/api/v1/org-units", {"code": "HQ", "name": "HQ", "kind": "group",
                                              "category": "commercial_competitive"},
                        headers={"X-On-Behalf-Of": "li.na"}, expect=201).get_json()
    (record,) = trail(api, object_type="org_units", object_id=unit["id"])
    assert (record["actor"], record["on_behalf_of"]) == ("hr-system", "li.na")
    assert trail(api, actor="li.na") == [record]  # by actor finds either side
    assert trail(api, actor="hr-system")[0]["id"] == record["id"]


def test_a_rejected_write_leaves_no_record(api: Client) -> None:
    small_group(api)
    before = len(trail(api))
    api.post("/api/v1/templates", {"name": "bad", "targets": [{"indicator_code": "NOPE"}]},
             expect=422)
    assert len(trail(api)) == before


def test_since_and_paging_narrow_the_trail(api: Client) -> None:
    small_group(api)
    later = datetime.now(UTC) + timedelta(hours=1)
    assert trail(api, since=later.isoformat().replace("+00:00", "Z")) == []
    page = api.get("/api/v1/audit?page=1&page_size=2").get_json()
    assert len(page["items"]) == 2 and page["page"]["total"] >= 8


def test_a_bulk_issue_records_every_contract_it_writes_by_copy(api: Client) -> None:
    g = small_group(api)
    t = template(api)
    people = [manager(api, f"A{i:03}", g["sub_a"]["id"]) for i in range(3)]
    job = api.post("/api/v1/bulk-issues", {"template_id": t["id"], "start_date": "2026-01-01",
                                           "filter": {"layer": 2}}, expect=202).get_json()
    assert wait_for_job(api, job["id"])["issued"] == 3
    issued = [r for r in trail(api, object_type="tenure_contracts") if r["action"] == "created"]
    assert sorted(r["after"]["manager_id"] for r in issued) == sorted(p["id"] for p in people)
    assert {r["actor"] for r in issued} == {"hr-1"}  # the requester, not the thread
    assert {r["org_unit_id"] for r in issued} == {g["sub_a"]["id"]}


def test_hr_reads_the_trail_of_their_subtree_only_and_nobody_else_reads_it(
        api: Client) -> None:
    g = small_group(api)
    s1 = api.as_(auth("hr_admin", subject="hr-s1", org_scope=g["sub_a"]["id"]))
    s2 = api.as_(auth("hr_admin", subject="hr-s2", org_scope=g["sub_b"]["id"]))
    mine = s1.post("/api/v1/templates", {"name": "S1's", "org_unit_id": g["third"]["id"],
                                         "targets": STANDARD_TARGETS}, expect=201).get_json()
    s2.post("/api/v1/templates", {"name": "S2's", "org_unit_id": g["sub_b"]["id"],
                                  "targets": STANDARD_TARGETS}, expect=201)
    seen = trail(s1)
    assert {r["object_id"] for r in seen} >= {mine["id"], g["sub_a"]["id"], g["third"]["id"]}
    assert all(r["org_unit_id"] in (g["sub_a"]["id"], g["third"]["id"]) for r in seen)
    leaked = [r for r in seen if "S2's" in str(r) or g["sub_b"]["id"] in str(r)]
    assert leaked == []
    for role, extra in (("manager", {"manager_id": "m-1"}), ("appraiser", {}),
                        ("service", {})):
        resp = api.as_(auth(role, **extra)).get("/api/v1/audit", expect=403)
        assert resp.content_type == "application/problem+json"


def test_the_trail_has_no_path_to_change_it(app: Any) -> None:
    spec = app.test_client().get("/openapi.json").get_json()
    assert set(spec["paths"]["/api/v1/audit"]) == {"get"}


def test_the_database_refuses_to_change_or_delete_a_record_except_by_purge(
        api: Client, app: Any) -> None:
    small_group(api)
    db = app.extensions["tenure_db"]
    if not db.is_postgres:
        pytest.skip("the append-only trigger is PostgreSQL's")
    for statement in (f"UPDATE {AUDIT_TABLE} SET actor = 'someone-else'",
                      f"DELETE FROM {AUDIT_TABLE}", f"TRUNCATE {AUDIT_TABLE}"):
        with pytest.raises(DBAPIError, match="append-only"), db.unit_of_work() as s:
            s.execute(text(statement))
    with db.read() as s:
        total = s.scalar(select(func.count()).select_from(audit.AUDIT))
        assert total and s.scalar(select(func.count()).select_from(audit.AUDIT).where(
            audit.AUDIT.c.actor == "someone-else")) == 0
    with db.unit_of_work() as s:
        assert audit.purge(s, datetime.now(UTC) - timedelta(days=1)) == 0
    with db.unit_of_work() as s:
        assert audit.purge(s, datetime.now(UTC) + timedelta(seconds=1)) == total
    # The purge's permission ended with its transaction.
    with pytest.raises(DBAPIError, match="append-only"), db.unit_of_work() as s:
        audit.record(s, "x", "1", "created")
        s.execute(text(f"DELETE FROM {AUDIT_TABLE}"))


def test_the_purge_command_removes_only_records_past_the_retention(api: Client, app: Any) -> None:
    small_group(api)
    db = app.extensions["tenure_db"]
    with db.unit_of_work() as s:
        s.execute(audit.AUDIT.insert().values(
            occurred_at=datetime.now(UTC) - timedelta(days=4000), actor="hr-old",
            object_type="org_units", object_id="old", action="created"))
        kept = s.scalar(select(func.count()).select_from(audit.AUDIT)) - 1
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit-purge", "--older-than-days", "30"]).exit_code != 0
    result = runner.invoke(args=["audit-purge"])
    assert result.exit_code == 0 and "removed 1 audit records" in result.output
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(audit.AUDIT)) == kept
        assert s.scalar(select(audit.AUDIT.c.id).where(audit.AUDIT.c.actor == "hr-old")) is None


def test_hr_recording_a_managers_signature_is_recorded_on_their_behalf(api: Client) -> None:
    g = small_group(api)
    m = manager(api, "A001", g["sub_a"]["id"])
    c = api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01",
                                       "template_id": template(api)["id"]},
                 expect=201).get_json()
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    api.post(f"/api/v1/contracts/{c['id']}/sign", {
        "method": "paper", "party": "manager", "signed_on": "2026-01-05",
        "paper_reference": "SCAN-0042"}, expect=200)
    recorded = [r for r in trail(api, object_type="contract_signatures")
                if (r["after"] or {}).get("paper_reference") == "SCAN-0042"]
    assert recorded and {(r["actor"], r["on_behalf_of"]) for r in recorded} == {
        ("hr-1", m["id"])}


def test_a_commit_of_many_records_writes_each_as_a_lone_write_would(
        database_url_factory: Any) -> None:
    """A consumer's poll or a chunk of a run's review commits hundreds of records at once
    (by COPY on PostgreSQL from `shared.db.COPY_FROM` records on, one INSERT below it): each
    holds what a write of its own would, JSON values, decimals and the redacted secret
    included, in the order written, and a rollback takes them all back."""
    from decimal import Decimal

    from sqlalchemy import Column, Numeric
    from sqlalchemy.orm import Session

    from shared.db import COPY_FROM, make_engine
    from tests.support.audited_letters import letter_model

    Letter = letter_model(amount=Column(Numeric(12, 2)))
    engine = make_engine(database_url_factory("contracts"))
    Letter.metadata.create_all(engine)
    audit.track(Letter.metadata)
    many = COPY_FROM + 25
    letters = range(1, many + 1)

    def written(*numbers: int) -> None:
        with Session(engine) as s, s.begin():
            for i in numbers:
                s.add(Letter(id=i, title=f"Offer {i}", secret="s", amount=Decimal("1.10"),
                             body={"lines": [{"weight": "60", "note": "利润 \"A\""}]}))

    def signed(*numbers: int, rollback: bool = False) -> None:
        with Session(engine) as s:
            s.begin()
            for i in numbers:
                s.get(Letter, i).title = f"Signed {i}"
            s.commit() if not rollback else s.rollback()

    written(*letters)  # many rows in one INSERT
    written(many + 1)  # one row
    signed(*letters, rollback=True)
    signed(*letters)
    with engine.connect() as conn:
        rows = conn.execute(select(audit.AUDIT.c.object_id, audit.AUDIT.c.action,
                                   audit.AUDIT.c.before, audit.AUDIT.c.after)
                            .where(audit.AUDIT.c.object_type == "letters")
                            .order_by(audit.AUDIT.c.id)).all()
    engine.dispose()

    def version(i: int, title: str) -> dict[str, Any]:
        return {"id": i, "title": title, "secret": "[redacted]", "amount": "1.10",
                "body": {"lines": [{"weight": "60", "note": "利润 \"A\""}]}}

    assert [tuple(r) for r in rows] == [
        *((str(i), "created", None, version(i, f"Offer {i}")) for i in (*letters, many + 1)),
        *((str(i), "updated", version(i, f"Offer {i}"), version(i, f"Signed {i}"))
          for i in letters)]


@pytest.mark.parametrize("service", ["contracts", "appraisal", "notifications"])
def test_a_persons_trail_is_found_through_indexes_on_both_sides(
        database_url_factory: Any, service: str) -> None:
    """`?actor=X` asks for what X wrote or what was written for X. On a trail of 20,000
    records PostgreSQL finds both sides through an index each (the count every page sends
    included), instead of reading every record; SQLite has the same indexes."""
    from sqlalchemy import create_engine, inspect

    engine = create_engine(database_url_factory(service))
    try:
        indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes(AUDIT_TABLE)}
        assert indexes["ix_audit_log_actor"] == ["actor", "id"]
        assert indexes["ix_audit_log_on_behalf_of"] == ["on_behalf_of", "id"]
        if engine.dialect.name != "postgresql":
            return
        with engine.begin() as conn:
            # 200 writers; one record in ten written for one of 500 managers.
            conn.execute(text(
                f"INSERT INTO {AUDIT_TABLE} (occurred_at, actor, on_behalf_of, object_type, "
                "object_id, action) SELECT now(), 'user-' || (n % 200), CASE WHEN n % 10 = 0 "
                "THEN 'manager-' || (n % 500) END, 'contracts', n::text, 'updated' "
                "FROM generate_series(1, 20000) AS n"))
            conn.execute(text(  # and one the manager wrote themselves
                f"INSERT INTO {AUDIT_TABLE} (occurred_at, actor, object_type, object_id, "
                "action) VALUES (now(), 'manager-30', 'contract_signatures', 'x', 'created')"))
            conn.execute(text(f"ANALYZE {AUDIT_TABLE}"))
            stmt = audit.audit_query({"actor": "manager-30"}, None)
            counted = select(func.count()).select_from(stmt.subquery())
            for query in (counted, stmt.order_by(audit.AUDIT.c.id.desc()).limit(50)):
                sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
                plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))
                assert f"Seq Scan on {AUDIT_TABLE}" not in plan, plan
                assert "ix_audit_log_on_behalf_of" in plan and "ix_audit_log_actor" in plan, plan
            # Written for them: n = 30, 530, 1030, ... (40 of 20,000); by them: one.
            assert conn.execute(counted).scalar() == 41
    finally:
        engine.dispose()
