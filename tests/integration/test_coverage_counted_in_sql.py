"""The coverage report counted by the database equals the report computed row by row.

`GET /reports/coverage` counts managers by unit and position in SQL and fetches only the
overdue signatures (service/coverage.py). Before, it read one row per manager and contract,
picked each manager's best contract in Python (active, then pending signature, then draft)
and handed those rows to `domain.compute_coverage`. That computation is kept here as the
reference: on a varied group (departments, departed managers, managers who changed
position, contracts in every state, deadlines before, on and after the day), both must
give the same JSON for every grouping, scope and day.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from services.contracts import domain as d
from services.contracts import repository as repo
from services.contracts.models import Manager, OrgUnit, TenureContract
from tests.conftest import auth
from tests.support.contracts_world import Client

RANK = {None: 0, "draft": 1, "pending_signature": 2, "active": 3}
POSITIONS = ("chair", "general_manager", "deputy_general_manager", "chief_financial_officer",
             "middle_manager")
CATEGORIES = ("commercial_competitive", "commercial_special_function", "public_welfare")
DAY = date(2026, 3, 1)


def report_row_by_row(app: Any, today: date, scope_path: str | None,
                      group_by: tuple[str, ...]) -> dict[str, Any]:
    """The report as computed before it was counted in SQL (the reference)."""
    m, u, c = Manager.__table__.c, OrgUnit.__table__.c, TenureContract.__table__.c
    stmt = (
        select(m.id, m.employee_no, m.name, m.position, u.id, u.layer, u.category,
               c.state, c.issued_on, c.signing_deadline)
        .select_from(Manager.__table__)
        .join(OrgUnit.__table__, m.org_unit_id == u.id)
        .outerjoin(TenureContract.__table__,
                   (c.manager_id == m.id) & (c.position == m.position)
                   & c.state.in_(("draft", "pending_signature", "active")))
        .where(m.employment_status == "active")
        .order_by(m.employee_no)
    )
    if scope_path:
        stmt = stmt.where(u.path.startswith(scope_path))
    with app.extensions["tenure_db"].sessions() as s:
        rows = s.execute(stmt).all()
        units = repo.coverage_units(s)
    best: dict[str, Any] = {}
    for row in rows:
        held = best.get(row[0])
        if held is None or RANK[row[7]] > RANK[held[7]]:
            best[row[0]] = row
    inputs = [
        d.CoverageInput(mid, employee_no, name, units[unit_id][0], layer, category,
                        position, d.ContractState(state) if state else None, issued_on,
                        deadline)
        for mid, employee_no, name, position, unit_id, layer, category, state, issued_on,
        deadline in best.values()
    ]
    return d.coverage_as_dict(d.compute_coverage(inputs, today, group_by))


def varied_group(api: Client, app: Any, seed: int = 13) -> dict[str, dict[str, Any]]:
    """A group of about 300 managers, loaded through the bulk imports; its units by code.

    Each manager has one of (written straight to the table): no contract, a draft, one
    contract awaiting signature (its deadline before, on or after DAY), an active one (some
    with an expired predecessor or a drafted successor), only ended ones, or contracts for
    a position they no longer hold; some managers have departed.
    No manager has two contracts awaiting signature, so the reference's pick is unambiguous.
    """
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    tree = [("HQ", "group", None, CATEGORIES[0])]
    tree += [(f"S{i}", "enterprise", "HQ", CATEGORIES[i % 3]) for i in range(3)]
    tree += [(f"T{i}", "enterprise", f"S{i % 3}", CATEGORIES[i % 3]) for i in range(6)]
    tree += [(f"D{i}", "department", f"T{i}", CATEGORIES[i % 3]) for i in range(3)]
    tree += [("DD0", "department", "D0", CATEGORIES[0])]
    loaded = api.post("/api/v1/org-units/bulk", [
        {"code": code, "name": f"Unit {code}", "kind": kind, "category": category,
         "has_board": kind != "department", "parent_code": parent}
        for code, kind, parent, category in tree], expect=200).get_json()
    assert loaded["created"] == len(tree), loaded
    codes = [code for code, *_ in tree]
    loaded = api.post("/api/v1/managers/bulk", [
        {"employee_no": f"E{rnd.randrange(10**6):06d}-{n}", "name": f"Manager {n}",
         "email": f"m{n}@example.com", "org_unit_code": codes[n % len(codes)],
         "position": rnd.choice(POSITIONS)} for n in range(300)], expect=200).get_json()
    assert loaded["created"] == 300, loaded
    db = app.extensions["tenure_db"]
    with db.engine.begin() as conn:
        units = {row.code: dict(row._mapping) for row in conn.execute(
            select(OrgUnit.id, OrgUnit.code, OrgUnit.path))}
        managers = [dict(row._mapping) for row in conn.execute(
            select(Manager.id, Manager.employee_no, Manager.org_unit_id, Manager.position)
            .order_by(Manager.name))]
        departed = [m["id"] for n, m in enumerate(managers) if n % 23 == 0]
        conn.execute(update(Manager).where(Manager.id.in_(departed))
                     .values(employment_status="departed", departure_reason="retirement"))
    contracts: list[dict[str, Any]] = []

    def contract(m: dict[str, Any], state: str, position: str | None = None,
                 start: date = date(2026, 1, 1), deadline: date | None = None) -> None:
        contracts.append(dict(
            id=str(uuid.uuid4()), manager_id=m["id"], org_unit_id=m["org_unit_id"],
            position=position or m["position"], start_date=start,
            end_date=start + timedelta(days=1094), term_years=3, state=state, term_number=1,
            max_consecutive_terms=2, signatory={}, version=1, row_version=1,
            reminders_sent=[], signatures=[], created_by="test", created_at=now,
            updated_at=now,
            issued_on=None if state == "draft" else date(2025, 11, 1),
            signing_deadline=deadline or (None if state == "draft" else date(2025, 12, 1))))

    for m in managers:
        kind = rnd.randrange(10)
        if kind == 1:
            contract(m, "draft")
        elif kind == 2:
            contract(m, "pending_signature",
                     deadline=DAY + timedelta(days=rnd.choice((-40, -3, -1, 0, 1, 30))))
        elif kind in (3, 4, 5, 6):
            contract(m, "active")
            if kind == 4:
                contract(m, "expired", start=date(2023, 1, 1))
            if kind == 5:
                contract(m, "draft", start=date(2029, 1, 1))
            if kind == 6:  # an overdue one beside the active one: not overdue
                contract(m, "pending_signature", start=date(2029, 1, 1),
                         deadline=DAY - timedelta(days=9))
        elif kind == 7:
            contract(m, rnd.choice(("terminated", "withdrawn", "expired")))
        elif kind == 8:  # signed for a position they no longer hold
            contract(m, "active", position="middle_manager"
                     if m["position"] != "middle_manager" else "chair")
        elif kind == 9:  # two active terms for one position (the overlap rule forbids it;
            # the database does not): the manager still counts once
            contract(m, "active")
            contract(m, "active", start=date(2027, 1, 1))
        # kind 0: no contract
    with db.engine.begin() as conn:
        conn.execute(insert(TenureContract), contracts)
    return units


def test_coverage_counted_in_sql_equals_the_row_by_row_report(api: Client, app: Any) -> None:
    units = varied_group(api, app)
    checked = 0
    for group_by in (("layer", "category", "position"), ("layer",), ("position", "category")):
        for today in (DAY, DAY - timedelta(days=60), DAY + timedelta(days=400)):
            query = f"as_of={today.isoformat()}&group_by={','.join(group_by)}"
            got = api.get(f"/api/v1/reports/coverage?{query}").get_json()
            assert got == report_row_by_row(app, today, None, group_by)
            checked += 1
    body = api.get(f"/api/v1/reports/coverage?as_of={DAY}").get_json()
    assert body["overdue"] and body["totals"]["active"] < body["totals"]["managers"]
    assert body["totals"]["enterprises_in_force"] < body["totals"]["enterprises"]
    # By a filter unit, and as HR scoped to a second-level enterprise.
    for code in ("S0", "S1", "T2", "D0"):
        got = api.get(f"/api/v1/reports/coverage?as_of={DAY}&org_unit_id={units[code]['id']}"
                      ).get_json()
        assert got == report_row_by_row(app, DAY, units[code]["path"], d.GROUP_BY_FIELDS)
        scoped = api.as_(auth("hr_admin", subject="hr-s", org_scope=units[code]["id"]))
        assert scoped.get(f"/api/v1/reports/coverage?as_of={DAY}").get_json() == got
        checked += 1
    assert checked == 13


def test_a_manager_with_several_overdue_signatures_is_listed_once_by_the_longest(
        api: Client, app: Any) -> None:
    units = varied_group(api, app)
    now = datetime.now(UTC)
    m = dict(id=str(uuid.uuid4()), employee_no="LATE-1", name="Late", email="l@example.com",
             language="zh", org_unit_id=units["T0"]["id"], position="general_manager",
             management_level="enterprise_leadership", employment_status="active",
             row_version=1, created_at=now, updated_at=now)
    rows = [dict(id=str(uuid.uuid4()), manager_id=m["id"], org_unit_id=m["org_unit_id"],
                 position="general_manager", start_date=start, end_date=start + timedelta(
                     days=1094), term_years=3, state="pending_signature", term_number=1,
                 max_consecutive_terms=2, signatory={}, version=1, row_version=1,
                 reminders_sent=[], signatures=[], created_by="test", created_at=now,
                 updated_at=now, issued_on=date(2025, 11, 1), signing_deadline=deadline)
            for start, deadline in ((date(2026, 1, 1), DAY - timedelta(days=5)),
                                    (date(2029, 1, 1), DAY - timedelta(days=20)),
                                    (date(2032, 1, 1), DAY + timedelta(days=5)))]
    with app.extensions["tenure_db"].engine.begin() as conn:
        conn.execute(insert(Manager), [m])
        conn.execute(insert(TenureContract), rows)
    overdue = api.get(f"/api/v1/reports/coverage?as_of={DAY}").get_json()["overdue"]
    late = [o for o in overdue if o["employee_no"] == "LATE-1"]
    assert late == [{**late[0], "days_overdue": 20,
                     "signing_deadline": (DAY - timedelta(days=20)).isoformat()}]
