"""A signature costs a fixed, small number of SQL statements (services/contracts/service/
signing.py): signing is the busiest write of the year, two calls per contract.

On PostgreSQL, the production database: SQLite inserts the signature rows one by one, since
it cannot return their ids in order from one statement.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.test_contract_read_cache import heard
from tests.integration.test_contract_signing import as_manager, issued
from tests.support.contracts_world import (
    STANDARD_TARGETS,
    Client,
    manager,
    small_group,
    template,
)
from tests.support.statements import sent_statements

pytestmark = pytest.mark.postgres

# Manager's side: the contract locked with its manager, its unit and the units above it, the
# holders of the signatory post, the documents with the overlap check, the indicators (until
# the process keeps them); then the documents' UPDATE, the signatures' INSERT, the
# contract's UPDATE, and one INSERT of the audit records and the events. The employer's side
# checks no indicators. The response is rendered from these rows: no read after the commit.
MOST_STATEMENTS = 8


def reads_indicators(statement: str) -> bool:
    return "FROM indicators" in statement


def statements_of_both_signatures(api: Client, app: Any, contract: dict[str, Any],
                                  gm: dict[str, Any], chair: dict[str, Any]) -> list[int]:
    """Statements of each side, the indicators' read counted whether or not it was kept."""
    counts = []
    for signer in (gm, chair):
        with sent_statements(app.extensions["tenure_db"].engine) as sent:
            as_manager(api, signer).post(f"/api/v1/contracts/{contract['id']}/sign", {},
                                         expect=200)
        checked = signer is gm
        counts.append(len([s for s in sent if not reads_indicators(s)]) + checked)
    return counts


def sign_counting_indicator_reads(api: Client, app: Any, contract: dict[str, Any],
                                  signer: dict[str, Any], expect: int = 200) -> int:
    with sent_statements(app.extensions["tenure_db"].engine) as sent:
        as_manager(api, signer).post(f"/api/v1/contracts/{contract['id']}/sign", {},
                                     expect=expect)
    return len([s for s in sent if reads_indicators(s)])


def test_a_signature_takes_the_same_few_statements_whatever_its_documents_and_targets(
        pg_api: Client, pg_app: Any) -> None:
    api, app = pg_api, pg_app
    g = small_group(api)
    # Few: two targets, a three-year term, the tenure contract without targets (two
    # documents signed, three annual contracts).
    few = template(api, targets=[STANDARD_TARGETS[0], {**STANDARD_TARGETS[1], "weight": "60"}])
    gm_a = manager(api, "A001", g["sub_a"]["id"])
    chair_a = manager(api, "A002", g["sub_a"]["id"], position="chair")
    small = issued(api, gm_a, few)
    # Many: five targets, a five-year term, tenure targets set (three documents signed).
    many = template(api, name="Five years", term_years=5)
    gm_b = manager(api, "A003", g["sub_a"]["id"])
    large = issued(api, gm_b, many)
    tenure = next(doc for doc in large["documents"]
                  if doc["kind"] == "tenure_performance_contract")
    api.put(f"/api/v1/contracts/{large['id']}/documents/{tenure['id']}/targets",
            {"indicators": STANDARD_TARGETS}, expect=200,
            headers={"If-Match": f'"v{tenure["row_version"]}"'})
    assert len(large["documents"]) > len(small["documents"])

    small_counts = statements_of_both_signatures(api, app, small, gm_a, chair_a)
    large_counts = statements_of_both_signatures(api, app, large, gm_b, chair_a)

    assert small_counts == large_counts
    assert all(n <= MOST_STATEMENTS for n in small_counts), small_counts
    signed = api.get(f"/api/v1/contracts/{large['id']}").get_json()
    assert signed["state"] == "active"
    assert len(signed["signatures"]) == 6  # three documents, both sides


def test_a_later_contract_is_not_signed_while_the_manager_holds_an_active_one_for_the_post(
        pg_api: Client) -> None:
    api = pg_api
    g = small_group(api)
    t = template(api)
    gm = manager(api, "A001", g["sub_a"]["id"])
    chair = manager(api, "A002", g["sub_a"]["id"], position="chair")
    first = issued(api, gm, t)
    for signer in (gm, chair):
        as_manager(api, signer).post(f"/api/v1/contracts/{first['id']}/sign", {}, expect=200)
    later = api.post("/api/v1/contracts", {"manager_id": gm["id"], "start_date": "2029-01-01",
                                           "template_id": t["id"]}, expect=201).get_json()
    api.post(f"/api/v1/contracts/{later['id']}/issue", expect=200)
    refused = as_manager(api, gm).post(f"/api/v1/contracts/{later['id']}/sign", {},
                                       expect=409).get_json()
    assert refused["detail"] == (f"Manager already has active contract {first['id']} for this "
                                 "position; it must end before this one can be signed")
    assert api.get(f"/api/v1/contracts/{later['id']}").get_json()["signatures"] == []


def test_a_process_reads_the_indicator_library_once_until_a_notice_says_it_changed(
        pg_api: Client, pg_app: Any) -> None:
    """Every manager's signature checks its targets against the library; a process keeps
    the definitions it read (the service never changes one), and a change made in SQL
    reaches it by its notice (migration 0013)."""
    api, app = pg_api, pg_app
    cache = app.extensions["tenure_db"].read_cache
    g = small_group(api)
    t = template(api)
    gms = [manager(api, f"A00{n}", g["sub_a"]["id"]) for n in range(1, 4)]
    manager(api, "A009", g["sub_a"]["id"], position="chair")
    first, second, third = (issued(api, gm, t) for gm in gms)

    heard(app)  # every notice so far is in: none refuses what the first signature reads
    assert sign_counting_indicator_reads(api, app, first, gms[0]) == 1
    assert sign_counting_indicator_reads(api, app, second, gms[1]) == 0  # kept

    # Removed by hand in SQL: the notice drops what the process kept, and the next
    # signature reads the library again and refuses the target it no longer finds.
    with app.extensions["tenure_db"].engine.begin() as conn:
        conn.execute(text("DELETE FROM indicators WHERE code = 'ROE'"))
    deadline = time.monotonic() + 10
    while cache.get_kept("indicators:PROFIT") is not None:
        assert time.monotonic() < deadline, "the indicators' notice never arrived"
        time.sleep(0.01)
    assert sign_counting_indicator_reads(api, app, third, gms[2], expect=422) == 1
    assert api.get(f"/api/v1/contracts/{third['id']}").get_json()["signatures"] == []
