"""The stored trace: compact on disk, the domain's full result when read back; and the COPY
text a run writes, read back exactly by the real PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from services.appraisal import domain as d
from services.appraisal.service.batch import copy_text
from services.appraisal.service.results import expand_trace, result_fields, trace_text

LINES: list[dict[str, Any]] = [
    {"code": "PROFIT", "name": 'Profit "core"\tnet', "kind": "quantitative", "weight": "40",
     "base": "800", "target": "1000", "challenge": "1200", "part": "organisational",
     "main": True},
    {"code": "COST", "kind": "quantitative", "direction": "lower_is_better", "weight": "20",
     "base": "70", "target": "65", "challenge": "60"},
    {"code": "PARTY", "kind": "qualitative", "weight": "10"},
    {"code": "PROJECT", "kind": "key_task", "weight": "30", "milestones": 4},
    {"code": "SAFETY", "kind": "qualitative", "role": "veto", "part": "organisational"},
    {"code": "AWARD", "kind": "qualitative", "role": "bonus", "max_points": "3"},
    {"code": "FINE", "kind": "qualitative", "role": "penalty"},
]


def appraise(**actuals: d.Actual) -> d.AppraisalResult:
    return d.appraise(d.DEFAULT_SCHEME, d.targets_from_dicts(LINES), list(actuals.values()),
                      manager_id="m-1", year=2026, position="deputy_general_manager",
                      base_pay=Decimal("100000"))


@pytest.mark.parametrize("actuals", [
    {"PROFIT": d.Actual("PROFIT", value=Decimal("950")),
     "COST": d.Actual("COST", value=Decimal("58")), "PARTY": d.Actual("PARTY", rating="B"),
     "PROJECT": d.Actual("PROJECT", milestones_met=3),
     "SAFETY": d.Actual("SAFETY", veto_hit=False),
     "AWARD": d.Actual("AWARD", points=Decimal("4")),
     "FINE": d.Actual("FINE", points=Decimal("1.5"))},
    {"PROFIT": d.Actual("PROFIT", value=Decimal("400")),
     "SAFETY": d.Actual("SAFETY", veto_hit=True)},
], ids=["every_line_kind", "missing_actuals_and_a_veto"])
def test_stored_trace_reads_back_as_the_domains_full_result(actuals: dict[str, Any]) -> None:
    result = appraise(**actuals)
    stored = json.loads(trace_text(result, kind="annual", complete=result.complete))
    assert "indicators" not in stored and len(stored["lines"]) == len(LINES)
    full = expand_trace(stored, d.targets_from_dicts(LINES))
    assert full == {"kind": "annual", "complete": result.complete, **d.to_dict(result)}


def test_result_columns_name_the_counted_exit_rule_and_every_rule_fired() -> None:
    fields = result_fields(appraise(PROFIT=d.Actual("PROFIT", value=Decimal("400")),
                                    SAFETY=d.Actual("SAFETY", veto_hit=True)))
    assert fields["exit_rule"] == "veto" and "veto" in fields["exit_triggers"]
    assert fields["complete"] is False and fields["grade"] == "not_competent"


def test_copy_text_round_trips_through_postgres(database_url_factory: Any) -> None:
    from sqlalchemy import create_engine

    url = database_url_factory("appraisal")
    if not url.startswith("postgresql"):
        pytest.skip("COPY is PostgreSQL's")
    tricky = 'tab\there, newline\nthere, back\\slash, quote " and 中文'
    now = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)
    rows = [(tricky, None, True, 7, now, ["a", 'b"c']), ("", "x", False, 0, now, [])]
    columns = ("t1", "t2", "b", "n", "ts", "exit_triggers")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            raw = conn.connection.driver_connection
            with raw.cursor() as cur:
                cur.execute("CREATE TEMP TABLE c (t1 text, t2 text, b boolean, n int, "
                            "ts timestamptz, exit_triggers json)")
                with cur.copy("COPY c FROM STDIN") as copy:
                    copy.write(copy_text(rows, columns))
            back = conn.execute(text("SELECT t1, t2, b, n, ts, exit_triggers::text FROM c "
                                     "ORDER BY n DESC")).all()
    finally:
        engine.dispose()
    assert [(*r[:5], json.loads(r[5])) for r in back] == [tuple(r) for r in rows]
