"""The audit trail of an appraisal (docs/audit.md): who did what, when, for which appraisal,
and what each step changed; the scoring trace is kept once, on the appraisal, where the run
produced it, not copied into the record of every review, approval and publication."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from shared.migrations import alembic_config, upgrade
from tests.support.contracts_world import Client
from tests.support.databases import migrations_dir
from tests.support.statements import sent_statements

from .conftest import post_actuals, run_cohort, standard_actuals
from .test_appraisals import by_manager, cohort_actuals
from .world import YEAR, World

NOTES = {"review": "figures checked against the ledger", "approve": "committee of 3 June",
         "publish": "announced to the board"}


def trail(api: Client, **query: str) -> list[dict[str, Any]]:
    """Oldest first."""
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return api.get(f"/api/v1/audit?page_size=200&{qs}").get_json()["items"][::-1]


@pytest.fixture
def published(api: Client, world: World) -> dict[str, Any]:
    cohort_actuals(api, world)
    run = run_cohort(api, layer=2, category="commercial_competitive")
    for action in ("review", "approve", "publish"):
        api.post(f"/api/v1/appraisal-runs/{run['id']}/{action}", {"note": NOTES[action]},
                 expect=200)
    return run


def test_each_step_of_a_run_is_recorded_with_who_when_and_only_what_it_changed(
        api: Client, world: World, published: dict[str, Any]) -> None:
    a = by_manager(api)[world.gms[0]]
    scored, reviewed, approved, done = trail(api, object_type="appraisals",
                                             object_id=a["id"])
    # The run's own record: which run scored it, with what grade and outcome.
    assert scored["action"] == "scored" and scored["after"]["run_id"] == published["id"]
    assert (scored["after"]["grade"], scored["after"]["outcome"]) == (a["grade"], a["outcome"])
    steps = [("scored", "reviewed", "reviewed_by"), ("reviewed", "approved", "approved_by"),
             ("approved", "published", "published_by")]
    for record, (was, now, by) in zip((reviewed, approved, done), steps, strict=True):
        assert record["action"] == "updated" and record["actor"] == "hr-1"
        assert record["occurred_at"] and record["org_unit_id"] == a["org_unit_id"]
        assert record["before"]["state"] == was and record["after"]["state"] == now
        assert record["after"][by] == "hr-1"
        assert record["after"]["row_version"] == record["before"]["row_version"] + 1
        # What the step left alone is not copied: no trace, no score, no grade.
        assert not {"result", "total", "grade", "manager_id"} & (
            set(record["before"]) | set(record["after"]))
    assert done["after"]["published_at"]
    # Why: each step's log entry, recorded with its note, names the appraisal.
    logged = [r["after"] for r in trail(api, object_type="appraisal_log")
              if r["after"]["appraisal_id"] == a["id"]]
    assert [(e["action"], e["from_state"], e["to_state"], e["actor"], e["reason"])
            for e in logged] == [(action, was, now, "hr-1", NOTES[action]) for action, (
                was, now, _) in zip(("review", "approve", "publish"), steps, strict=True)]
    # The trace is read where the run wrote it, on the appraisal.
    full = api.get(f"/api/v1/appraisals/{a['id']}").get_json()
    assert full["state"] == "published" and full["result"]["grade"] == a["grade"]


def test_a_whole_runs_log_entries_are_recorded_as_a_single_steps_are(
        app: Any, api: Client, world: World) -> None:
    """A whole run writes its log entries at once (by COPY, ids drawn from the sequence,
    on PostgreSQL); each is still recorded as one appraisal's step records its entry: the
    whole entry, its id, in column order, and the entry is in the log as recorded."""
    cohort_actuals(api, world)
    run = run_cohort(api, layer=2, category="commercial_competitive")
    alone = by_manager(api)[world.gms[0]]["id"]
    api.post(f"/api/v1/appraisals/{alone}/review", {"note": "checked alone"}, expect=200)
    out = api.post(f"/api/v1/appraisal-runs/{run['id']}/review", {"note": NOTES["review"]},
                   expect=200).get_json()
    assert out["done"] == 8  # the one reviewed alone is no longer "scored"
    records = [r for r in trail(api, object_type="appraisal_log")
               if r["after"]["action"] == "review"]
    with app.extensions["tenure_db"].engine.connect() as conn:
        entries = {row.id: row for row in conn.execute(text(
            "SELECT * FROM appraisal_log WHERE action = 'review'"))}
    assert len(records) == len(entries) == 9
    single = next(r for r in records if r["after"]["appraisal_id"] == alone)
    for record in records:
        after = record["after"]
        assert (record["action"], record["before"], record["org_unit_id"], record["actor"]) \
            == ("created", None, None, "hr-1")
        assert list(after) == list(single["after"]) == [
            "id", "appraisal_id", "action", "from_state", "to_state", "actor", "reason", "at"]
        assert record["object_id"] == str(after["id"])
        entry = entries[after["id"]]
        assert (entry.appraisal_id, entry.from_state, entry.to_state, entry.actor,
                entry.reason) == (after["appraisal_id"], "scored", "reviewed", "hr-1",
                                  "checked alone" if record is single else NOTES["review"])
        assert datetime.fromisoformat(after["at"]).utcoffset() is not None


def test_a_whole_runs_steps_record_each_appraisals_move_as_a_lone_step_does(
        app: Any, api: Client, world: World) -> None:
    """A whole run's review, approval and publication write each chunk's appraisals with
    one UPDATE (the ORM is told the values as committed); each appraisal's record is still
    the one a lone step's flush writes: the columns it changed, in column order, both sides."""
    cohort_actuals(api, world)
    run = run_cohort(api, layer=2, category="commercial_competitive")
    scored = by_manager(api)
    alone = scored[world.gms[0]]["id"]
    for action in ("review", "approve", "publish"):
        api.post(f"/api/v1/appraisals/{alone}/{action}", {"note": "alone"}, expect=200)
        with sent_statements(app.extensions["tenure_db"].engine) as sent:
            out = api.post(f"/api/v1/appraisal-runs/{run['id']}/{action}",
                           {"note": NOTES[action]}, expect=200).get_json()
        assert (out["done"], out["refused"]) == (8, [])
        # One UPDATE for the eight, not one each.
        assert sum(sql.lstrip().upper().startswith("UPDATE APPRAISALS ") for sql in sent) == 1
    final = by_manager(api)
    by = {"review": "reviewed_by", "approve": "approved_by", "publish": "published_by"}
    moves = {}
    for manager_id, a in scored.items():
        records = [r for r in trail(api, object_type="appraisals", object_id=a["id"])
                   if r["action"] == "updated"]
        assert len(records) == 3, records
        moves[manager_id] = records
        # The rows hold what the records say they were given.
        assert final[manager_id]["state"] == records[-1]["after"]["state"] == "published"
        assert final[manager_id]["row_version"] == records[-1]["after"]["row_version"] \
            == a["row_version"] + 3
    for manager_id, records in moves.items():
        for record, lone, action in zip(records, moves[world.gms[0]], by, strict=True):
            assert (record["actor"], record["org_unit_id"]) == (
                "hr-1", scored[manager_id]["org_unit_id"])
            assert list(record["before"]) == list(lone["before"])
            assert list(record["after"]) == list(lone["after"])
            assert record["after"][by[action]] == "hr-1"
            assert record["after"]["row_version"] == record["before"]["row_version"] + 1
            assert record["before"]["state"] == lone["before"]["state"]
            assert record["after"]["state"] == lone["after"]["state"]
            assert record["before"]["updated_at"] < record["after"]["updated_at"]
            if action == "review":
                assert record["after"]["self_report"] == lone["after"]["self_report"]
            if action == "publish":
                assert record["after"]["published_at"] == record["after"]["updated_at"]
    assert [list(r["after"]) for r in moves[world.gms[0]]] == [
        ["state", "row_version", "updated_at", "reviewed_by", "self_report"],
        ["state", "row_version", "updated_at", "approved_by"],
        ["state", "row_version", "updated_at", "published_at", "published_by"]]


def test_a_whole_runs_exit_decisions_are_written_and_recorded_as_a_lone_publications_are(
        app: Any, api: Client, world: World) -> None:
    """A whole run's publication writes a chunk's exit decisions in one statement, outside
    the ORM's unit of work (`lifecycle.record_decisions`); each decision's row and record
    are still those a lone publication's flush writes: `created`, the columns set, in
    column order, and the row holds what the record says."""
    cohort_actuals(api, world)
    run = run_cohort(api, layer=2, category="commercial_competitive")
    scored = by_manager(api)
    alone = scored[world.gms[6]]  # both the last two leave: grade not competent
    for action in ("review", "approve", "publish"):
        api.post(f"/api/v1/appraisals/{alone['id']}/{action}", {"note": "alone"}, expect=200)
    for action in ("review", "approve", "publish"):
        with sent_statements(app.extensions["tenure_db"].engine) as sent:
            out = api.post(f"/api/v1/appraisal-runs/{run['id']}/{action}",
                           {"note": NOTES[action]}, expect=200).get_json()
        assert out["done"] == 8
    assert out["events"]["exit.triggered"] == 1
    assert sum("exit_decisions" in sql.split("(")[0] for sql in sent
               if sql.lstrip().upper().startswith(("INSERT", "COPY"))) == 1
    records = {r["after"]["manager_id"]: r for r in trail(api, object_type="exit_decisions")}
    assert set(records) == {world.gms[6], world.gms[7]}
    lone, whole = records[world.gms[6]], records[world.gms[7]]
    with app.extensions["tenure_db"].engine.connect() as conn:
        rows = {row.manager_id: row._mapping for row in conn.execute(text(
            "SELECT * FROM exit_decisions"))}
    for record, manager_id in ((lone, world.gms[6]), (whole, world.gms[7])):
        row = rows[manager_id]
        assert (record["action"], record["before"], record["actor"], record["org_unit_id"]) \
            == ("created", None, "hr-1", scored[manager_id]["org_unit_id"])
        assert record["object_id"] == record["after"]["id"] == row["id"]
        after = record["after"]
        assert (after["state"], after["rule"], after["row_version"]) == (
            row["state"], row["rule"], row["row_version"]) == (
            "pending", scored[manager_id]["exit_rule"], 1)
        assert after["appraisal_id"] == row["appraisal_id"] == scored[manager_id]["id"]
        assert after["triggers"] and all(t["rule"] for t in after["triggers"])
        assert [e["type"] for e in after["events"]] == ["exit.triggered"]
        assert after["last_day"] == str(row["last_day"])
    assert list(whole["after"]) == list(lone["after"])
    assert list(whole["after"])[:3] == ["id", "appraisal_id", "manager_id"]


def test_an_upload_that_completes_the_actuals_records_the_move_as_a_lone_submit_does(
        api: Client, world: World) -> None:
    """An upload moves the appraisals it completes to actuals_submitted in one UPDATE and
    writes their log entries at once; each move and entry has the record a lone submit
    writes: the appraisal's changed columns on both sides, the whole entry."""
    api.post("/api/v1/appraisals/open", {"year": YEAR}, expect=200)
    opened = by_manager(api)
    alone, uploaded = opened[world.gms[1]], opened[world.gms[0]]
    api.post(f"/api/v1/appraisals/{alone['id']}/submit", {}, expect=200)
    post_actuals(api, standard_actuals(world.gms[0], "1000", "8"))
    assert by_manager(api)[world.gms[0]]["state"] == "actuals_submitted"

    def move(a: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        records = [r for r in trail(api, object_type="appraisals", object_id=a["id"])
                   if r["action"] == "updated"]
        entries = [r for r in trail(api, object_type="appraisal_log")
                   if r["after"]["appraisal_id"] == a["id"] and r["after"]["action"] == "submit"]
        assert len(records) == len(entries) == 1
        return records[0], entries[0]

    (lone, lone_entry), (bulk, bulk_entry) = move(alone), move(uploaded)
    for record, a in ((lone, alone), (bulk, uploaded)):
        assert (record["actor"], record["org_unit_id"]) == ("hr-1", a["org_unit_id"])
        assert list(record["before"]) == list(record["after"]) == [
            "state", "row_version", "updated_at"]
        assert (record["before"]["state"], record["after"]["state"]) == (
            "open", "actuals_submitted")
        assert record["before"]["row_version"] == a["row_version"]
        assert record["after"]["row_version"] == a["row_version"] + 1
        assert datetime.fromisoformat(record["after"]["updated_at"]).utcoffset() is not None
    assert bulk["after"]["updated_at"] > bulk["before"]["updated_at"]
    assert list(bulk_entry["after"]) == list(lone_entry["after"])
    assert (bulk_entry["after"]["from_state"], bulk_entry["after"]["to_state"],
            bulk_entry["after"]["actor"], bulk_entry["after"]["reason"]) == (
        "open", "actuals_submitted", "hr-1", "every line has its actual")
    assert bulk_entry["object_id"] == str(bulk_entry["after"]["id"])


def test_review_approve_and_publish_write_row_versions_beside_the_old_ones(
        app: Any, api: Client, world: World, published: dict[str, Any]) -> None:
    """HOT updates on PostgreSQL (migration 0007): the steps change no indexed column and
    the pages keep room, so their row versions add no index entries (before: none was)."""
    engine = app.extensions["tenure_db"].engine
    if engine.dialect.name != "postgresql":
        pytest.skip("HOT updates are PostgreSQL's")
    steps = 3 * len(by_manager(api))
    counted = (0, 0)
    for _ in range(200):  # each backend reports its counts shortly after its transactions
        with engine.connect() as conn:
            counted = conn.execute(text(
                "SELECT pg_stat_get_tuples_updated('appraisals'::regclass), "
                "pg_stat_get_tuples_hot_updated('appraisals'::regclass)")).one()
        if counted[0] >= steps:
            break
        time.sleep(0.05)
    updated, hot = counted
    assert updated >= steps and hot >= steps // 3, counted


def test_a_rescore_records_the_grade_it_changed_and_the_trace_it_produced(
        api: Client, world: World) -> None:
    cohort_actuals(api, world)
    run_cohort(api, layer=2, category="commercial_competitive")
    low = by_manager(api)[world.gms[7]]
    post_actuals(api, standard_actuals(world.gms[7], "1000", "8"))
    api.post(f"/api/v1/appraisals/{low['id']}/score", expect=200)
    rescored = trail(api, object_type="appraisals", object_id=low["id"])[-1]
    assert rescored["action"] == "updated" and rescored["actor"] == "hr-1"
    assert rescored["before"]["grade"] == "not_competent"
    assert rescored["after"]["grade"] == by_manager(api)[world.gms[7]]["grade"] != \
        "not_competent"
    assert rescored["before"]["total"] == "38.57" and rescored["after"]["total"] != "38.57"
    # A new score is a new trace: recorded where it is produced, with the one it replaced.
    assert rescored["before"]["result"] != rescored["after"]["result"]
    assert "state" not in rescored["after"]  # scored before and after


@pytest.mark.postgres
def test_the_lean_storage_migration_reverses_and_reapplies_on_postgresql(
        postgres_databases: Any) -> None:
    url = postgres_databases.fresh("appraisal")
    engine = create_engine(url)

    def storage() -> tuple[Any, set[str]]:
        with engine.connect() as conn:
            options = conn.scalar(text(
                "SELECT reloptions FROM pg_class WHERE relname = 'appraisals'"))
        return options, {i["name"] for i in inspect(engine).get_indexes("appraisals")}

    try:
        options, indexes = storage()
        lean = (["toast_tuple_target=128", "fillfactor=70"], indexes)
        assert "ix_appraisals_year_kind" in indexes and not {
            "ix_appraisals_manager_id", "ix_appraisals_year_kind_state"} & indexes
        assert options == lean[0]
        command.downgrade(alembic_config(migrations_dir("appraisal"), url), "0006")
        engine.dispose()
        options, indexes = storage()
        assert options is None and indexes == lean[1] - {"ix_appraisals_year_kind"} | {
            "ix_appraisals_manager_id", "ix_appraisals_year_kind_state"}
        upgrade(migrations_dir("appraisal"), url)
        engine.dispose()
        assert storage() == lean
    finally:
        engine.dispose()


def test_the_lean_storage_migration_reverses_and_reapplies_on_sqlite(
        sqlite_databases: Any) -> None:
    url = sqlite_databases.fresh("appraisal")
    command.downgrade(alembic_config(migrations_dir("appraisal"), url), "0006")
    engine = create_engine(url)
    try:
        assert {"ix_appraisals_manager_id", "ix_appraisals_year_kind_state"} <= {
            i["name"] for i in inspect(engine).get_indexes("appraisals")}
        upgrade(migrations_dir("appraisal"), url)
        engine.dispose()
        indexes = {i["name"] for i in inspect(engine).get_indexes("appraisals")}
        assert "ix_appraisals_year_kind" in indexes and not {
            "ix_appraisals_manager_id", "ix_appraisals_year_kind_state"} & indexes
    finally:
        engine.dispose()
