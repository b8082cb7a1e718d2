"""A group's org tree and managers written straight to the contracts tables (for ceilings and
for benches that need a large group quickly): 4 layers, 3 categories, ~2% of managers per
enterprise count."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

CATEGORIES = ("commercial_competitive", "commercial_special_function", "public_welfare")
POSITIONS = ("general_manager", "deputy_general_manager", "chief_financial_officer",
             "middle_manager", "chair")


def group_tree(managers: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(units, managers) as rows: HQ (layer 1) -> second-level (2) -> third-level (3) ->
    departments (4); about one enterprise per 50 managers (2,000 for 100,000)."""
    now = datetime.now(UTC)
    enterprises = max(3, managers // 50)
    seconds = max(2, enterprises // 20)
    units: list[dict[str, Any]] = []

    def add(code: str, kind: str, parent: dict[str, Any] | None, category: str) -> dict[str, Any]:
        uid = str(uuid.uuid4())
        row = dict(id=uid, parent_id=parent["id"] if parent else None, code=code,
                   name=f"Unit {code}", kind=kind, category=category,
                   has_board=kind != "department",
                   layer=parent["layer"] + 1 if parent else 1,
                   path=(parent["path"] if parent else "/") + uid + "/", row_version=1,
                   created_at=now, updated_at=now)
        units.append(row)
        return row

    hq = add("HQ", "group", None, CATEGORIES[0])
    second = [add(f"S{i}", "enterprise", hq, CATEGORIES[i % 3]) for i in range(seconds)]
    third = [add(f"T{i}", "enterprise", second[i % seconds], second[i % seconds]["category"])
             for i in range(enterprises - seconds)]
    departments = [add(f"D{i}", "department", t, t["category"]) for i, t in enumerate(third)]
    homes = second + third + departments
    people = []
    for n in range(managers):
        home = homes[n % len(homes)]
        people.append(dict(
            id=str(uuid.uuid4()), employee_no=f"E{n:07d}", name=f"Manager {n}",
            email=f"m{n}@example.com", language="zh" if n % 4 else "en", org_unit_id=home["id"],
            # A department's managers are middle managers: leadership sits in enterprises.
            position="middle_manager" if home["kind"] == "department"
            else POSITIONS[n % len(POSITIONS)], management_level="enterprise_leadership",
            employment_status="active", row_version=1, created_at=now, updated_at=now))
    return units, people


def seed_tree(engine: Any, managers: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from sqlalchemy import insert

    from services.contracts.models import Manager, OrgUnit

    units, people = group_tree(managers)
    with engine.begin() as conn:
        conn.execute(insert(OrgUnit), units)
        for k in range(0, len(people), 5000):
            conn.execute(insert(Manager), people[k:k + 5000])
    return units, people
