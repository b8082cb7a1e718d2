"""A signature costs a fixed, small number of SQL statements (services/contracts/service/
signing.py): signing is the busiest write of the year, two calls per contract.

On PostgreSQL, the production database: SQLite inserts the signature rows one by one, since
it cannot return their ids in order from one statement.
"""

from __future__ import annotations

from typing import Any

import pytest

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

# Manager's side: the contract locked with its manager and unit, the units above it, the
# holders of the signatory post, the documents with the overlap check, the indicators; then
# the documents' UPDATE, the signatures' INSERT, the contract's UPDATE, the events' INSERT
# and the audit records' INSERT. The employer's side checks no indicators. The response is
# rendered from these rows: no read after the commit.
MOST_STATEMENTS = 10


def statements_of_both_signatures(api: Client, app: Any, contract: dict[str, Any],
                                  gm: dict[str, Any], chair: dict[str, Any]) -> list[int]:
    counts = []
    for signer in (gm, chair):
        with sent_statements(app.extensions["tenure_db"].engine) as sent:
            as_manager(api, signer).post(f"/api/v1/contracts/{contract['id']}/sign", {},
                                         expect=200)
        counts.append(len(sent))
    return counts


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
