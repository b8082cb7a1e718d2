"""Batch countersignature, POST /api/v1/contracts/countersignatures (docs/signing-batch.md):
each contract countersigned as the single call would, or refused alone with its problem."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, text

from services.contracts import domain as d
from services.contracts.models import outbox
from services.contracts.service import signing
from shared.audit import AUDIT
from tests.integration.test_contract_signing import as_manager, issued, signature_rows
from tests.support.contracts_world import (
    Client,
    manager,
    sign_as_manager,
    small_group,
    template,
    unit,
)
from tests.support.statements import sent_statements

BATCH = "/api/v1/contracts/countersignatures"


def batch_world(api: Client, contracts: int = 3) -> dict[str, Any]:
    """SUB-A has a board: its chair countersigns each of its general managers' contracts,
    which those managers have signed. SUB-B's head is countersigned by someone else."""
    g = small_group(api)
    t = template(api)
    chair = manager(api, "A900", g["sub_a"]["id"], position="chair")
    gms = [manager(api, f"A{i:03d}", g["sub_a"]["id"]) for i in range(1, contracts + 1)]
    cs = [issued(api, gm, t) for gm in gms]
    for c in cs:
        sign_as_manager(api, c)
    other_gm = manager(api, "B001", g["sub_b"]["id"])
    other = issued(api, other_gm, template(api, name="B", category="public_welfare"))
    sign_as_manager(api, other)
    return {"g": g, "t": t, "chair": chair, "gms": gms, "contracts": cs, "other": other}


def rows(api: Client, *contracts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"contract_id": c["id"]} for c in contracts]


def outbox_since(app: Any, after: int) -> list[tuple[int, str, dict[str, Any]]]:
    with app.extensions["tenure_db"].engine.connect() as conn:
        found = conn.execute(select(outbox.c.id, outbox.c.event_type, outbox.c.payload)
                             .where(outbox.c.id > after).order_by(outbox.c.id))
        return [(r.id, r.event_type, json.loads(r.payload)["data"]) for r in found]


def last_outbox_id(app: Any) -> int:
    with app.extensions["tenure_db"].engine.connect() as conn:
        return conn.scalar(text("SELECT COALESCE(MAX(id), 0) FROM outbox"))


def audit_since(app: Any, after: int) -> list[dict[str, Any]]:
    with app.extensions["tenure_db"].engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(AUDIT).where(AUDIT.c.id > after)
                                              .order_by(AUDIT.c.id)).mappings()]


def last_audit_id(app: Any) -> int:
    with app.extensions["tenure_db"].engine.connect() as conn:
        return conn.scalar(select(AUDIT.c.id).order_by(AUDIT.c.id.desc()).limit(1)) or 0


def test_a_batch_countersigns_each_contract_and_brings_it_into_force(api: Client,
                                                                     app: Any) -> None:
    w = batch_world(api)
    body = as_manager(api, w["chair"]).post(BATCH, {"contracts": rows(api, *w["contracts"])},
                                            expect=200).get_json()
    assert (body["countersigned"], body["already_countersigned"], body["refused"]) == (3, 0, 0)
    assert [r["index"] for r in body["contracts"]] == [0, 1, 2]
    for c, result in zip(w["contracts"], body["contracts"], strict=True):
        assert result["contract_id"] == c["id"] and result["outcome"] == "countersigned"
        read = api.get(f"/api/v1/contracts/{c['id']}").get_json()
        assert read["state"] == result["state"] == "active"
        assert read["row_version"] == result["row_version"]
        assert read["signed_by"] == f"manager: m-{c['manager_id'][:8]}; employer: sso-A900"
        employer = [s for s in read["signatures"] if s["party"] == "employer"]
        assert employer == result["signatures"] and len(employer) == 2  # no tenure targets
        assert {s["signed_by"] for s in employer} == {"sso-A900"}
        assert ("employer", "electronic", "sso-A900", None, None) in signature_rows(app, c["id"])


def without_ids(data: dict[str, Any]) -> dict[str, Any]:
    """An event's data with what differs from one contract to another left out."""
    differ = {"contract_id", "manager_id", "employee_no", "manager_name", "manager_email",
              "document_id", "signed_at", "documents", "on_behalf_of", "person_manager_id"}
    return {k: v for k, v in data.items() if k not in differ}


def test_a_batch_records_the_same_events_and_audit_records_as_single_countersignatures(
        pg_api: Client, pg_app: Any) -> None:
    api, app = pg_api, pg_app
    w = batch_world(api)
    single, *batched = w["contracts"]
    chair = as_manager(api, w["chair"])
    events_from, audit_from = last_outbox_id(app), last_audit_id(app)
    chair.post(f"/api/v1/contracts/{single['id']}/sign", {}, expect=200)
    events_between, audit_between = last_outbox_id(app), last_audit_id(app)
    chair.post(BATCH, {"contracts": rows(api, *batched)}, expect=200)

    def per_contract(events: list[tuple[int, str, dict[str, Any]]]
                     ) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for _id, kind, data in events:
            out.setdefault(data["contract_id"], []).append((kind, without_ids(data)))
        return out

    by_single = per_contract([e for e in outbox_since(app, events_from)
                              if e[0] <= events_between])
    by_batch = per_contract(outbox_since(app, events_between))
    assert set(by_batch) == {c["id"] for c in batched}
    assert [k for k, _ in by_single[single["id"]]] == [
        "contract.signature_recorded"] * 2 + ["contract.signed"]
    for c in batched:
        assert by_batch[c["id"]] == by_single[single["id"]]

    def trail(records: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
        return Counter((r["object_type"], r["action"], r["actor"], r["on_behalf_of"])
                       for r in records)

    single_trail = trail([r for r in audit_since(app, audit_from) if r["id"] <= audit_between])
    batch_trail = trail(audit_since(app, audit_between))
    assert single_trail == Counter({
        ("contract_signatures", "created", "sso-A900", None): 2,
        ("contract_documents", "updated", "sso-A900", None): 2,
        ("tenure_contracts", "updated", "sso-A900", None): 1})
    assert batch_trail == Counter({k: 2 * n for k, n in single_trail.items()})


def test_a_contract_the_caller_may_not_countersign_is_refused_and_the_others_succeed(
        pg_api: Client) -> None:
    api = pg_api
    w = batch_world(api)
    first, second, _ = w["contracts"]
    body = as_manager(api, w["chair"]).post(
        BATCH, {"contracts": rows(api, first, w["other"], second)}, expect=200).get_json()
    assert (body["countersigned"], body["refused"]) == (2, 1)
    refused = body["contracts"][1]
    assert refused["outcome"] == "refused" and refused["contract_id"] == w["other"]["id"]
    # As the single call: someone with no part in a contract learns nothing of it.
    assert refused["problem"]["status"] == 404
    assert list(refused["problem"]["errors"]) == ["contracts.1.contract_id"]
    assert "state" not in refused and "signatures" not in refused
    other = api.get(f"/api/v1/contracts/{w['other']['id']}").get_json()
    assert other["state"] == "pending_signature"
    assert [s["party"] for s in other["signatures"]] == ["manager"] * 2
    for c in (first, second):
        assert api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == "active"


def test_a_stale_row_version_refuses_that_contract_only(pg_api: Client) -> None:
    api = pg_api
    w = batch_world(api)
    first, second, third = w["contracts"]
    now = api.get(f"/api/v1/contracts/{second['id']}").get_json()["row_version"]
    body = as_manager(api, w["chair"]).post(BATCH, {"contracts": [
        {"contract_id": first["id"]},
        {"contract_id": second["id"], "row_version": now - 1},
        {"contract_id": third["id"], "row_version": now}]}, expect=200).get_json()
    assert [r["outcome"] for r in body["contracts"]] == ["countersigned", "refused",
                                                          "countersigned"]
    problem = body["contracts"][1]["problem"]
    assert problem["status"] == 412 and problem["current_row_version"] == now
    assert list(problem["errors"]) == ["contracts.1.row_version"]
    assert api.get(f"/api/v1/contracts/{second['id']}").get_json()["state"] == \
        "pending_signature"


@pytest.mark.parametrize("request_body, field", [
    ({"contracts": []}, "contracts"),
    ({}, "contracts"),
    ({"contracts": [{"contract_id": "x"}] * 2}, "contracts.1.contract_id"),
    ({"contracts": [{"contract_id": f"c{i}"} for i in range(501)]}, "contracts"),
    ({"contracts": [{"contract_id": "x", "party": "employer"}]}, "contracts.0.party"),
    ({"contracts": [{"contract_id": "x"}], "party": "employer"}, "party"),
    ({"contracts": [{"contract_id": "x", "paper_reference": "P-1"}]},
     "contracts.0.paper_reference"),
    ({"method": "paper", "contracts": [{"contract_id": "x", "paper_reference": "P-1"}]},
     "contracts.0.signed_on"),
    ({"contracts": [{"contract_id": "x", "row_version": "v3"}]}, "contracts.0.row_version"),
])
def test_a_malformed_request_is_refused_whole_and_changes_nothing(
        pg_api: Client, pg_app: Any, request_body: dict[str, Any], field: str) -> None:
    api, app = pg_api, pg_app
    w = batch_world(api, contracts=2)
    body = dict(request_body)
    if body.get("contracts"):
        # The contracts are real, so a request that slipped through would sign them.
        ids = [c["id"] for c in w["contracts"]]
        body["contracts"] = [{**row, "contract_id": ids[0] if row["contract_id"] == "x"
                              else row["contract_id"]} for row in body["contracts"]]
        if len(body["contracts"]) == 501:
            body["contracts"][0]["contract_id"] = ids[1]
    events, trail = last_outbox_id(app), last_audit_id(app)
    resp = as_manager(api, w["chair"]).post(BATCH, body, expect=422)
    assert resp.mimetype == "application/problem+json"
    assert field in {p["name"] for p in resp.get_json()["invalid_params"]}
    assert (last_outbox_id(app), last_audit_id(app)) == (events, trail)
    for c in w["contracts"]:
        assert api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == \
            "pending_signature"


def test_a_manager_cannot_countersign_their_own_contract_through_a_batch(pg_api: Client,
                                                                          pg_app: Any) -> None:
    api, app = pg_api, pg_app
    g = small_group(api)
    gm = manager(api, "A001", g["sub_a"]["id"])
    manager(api, "A002", g["sub_a"]["id"], position="chair")
    own = issued(api, gm, template(api))  # not yet signed by anyone
    body = as_manager(api, gm).post(BATCH, {"contracts": [{"contract_id": own["id"]}]},
                                    expect=200).get_json()
    problem = body["contracts"][0]["problem"]
    assert body["refused"] == 1 and problem["status"] == 403
    assert list(problem["errors"]) == ["contracts.0.party"]
    assert "Manager A002" in problem["detail"]  # who must countersign, as the single call says
    assert signature_rows(app, own["id"]) == []
    # Signed by them first, it is still not theirs to countersign.
    sign_as_manager(api, own)
    again = as_manager(api, gm).post(BATCH, {"contracts": [{"contract_id": own["id"]}]},
                                     expect=200).get_json()
    assert again["contracts"][0]["problem"]["status"] == 403
    assert [r[0] for r in signature_rows(app, own["id"])] == ["manager"] * 2


def test_a_contract_not_awaiting_the_employer_is_refused_with_what_to_do(pg_api: Client
                                                                         ) -> None:
    api = pg_api
    w = batch_world(api, contracts=1)
    gm = manager(api, "A050", w["g"]["sub_a"]["id"])
    unsigned = issued(api, gm, w["t"])
    body = as_manager(api, w["chair"]).post(BATCH, {"contracts": rows(
        api, unsigned, w["contracts"][0])}, expect=200).get_json()
    problem = body["contracts"][0]["problem"]
    assert problem["status"] == 409 and "the manager signs first" in problem["detail"]
    assert list(problem["errors"]) == ["contracts.0.party"]
    assert body["contracts"][1]["outcome"] == "countersigned"


def test_a_resent_batch_reports_contracts_already_countersigned_and_adds_nothing(
        pg_api: Client, pg_app: Any) -> None:
    api, app = pg_api, pg_app
    w = batch_world(api)
    chair = as_manager(api, w["chair"])
    sent = {"contracts": [{"contract_id": c["id"], "row_version": api.get(
        f"/api/v1/contracts/{c['id']}").get_json()["row_version"]} for c in w["contracts"]]}
    first = chair.post(BATCH, sent, expect=200).get_json()
    assert first["countersigned"] == 3
    events, trail = last_outbox_id(app), last_audit_id(app)
    # The same request again (its row versions are now stale): reported, not refused.
    again = chair.post(BATCH, sent, expect=200).get_json()
    assert (again["countersigned"], again["already_countersigned"], again["refused"]) == \
        (0, 3, 0)
    for before, after in zip(first["contracts"], again["contracts"], strict=True):
        assert after["outcome"] == "already_countersigned"
        assert {k: after[k] for k in ("state", "row_version", "signed_at", "signatures")} == \
            {k: before[k] for k in ("state", "row_version", "signed_at", "signatures")}
    assert (last_outbox_id(app), last_audit_id(app)) == (events, trail)
    # Without row versions, too.
    plain = chair.post(BATCH, {"contracts": rows(api, *w["contracts"])}, expect=200).get_json()
    assert plain["already_countersigned"] == 3
    assert (last_outbox_id(app), last_audit_id(app)) == (events, trail)


def test_hr_records_paper_countersignatures_each_with_its_reference_and_for_its_employer(
        pg_api: Client, pg_app: Any) -> None:
    api, app = pg_api, pg_app
    w = batch_world(api, contracts=3)
    today = date.today().isoformat()
    # A countersigner's own token records no paper: that is HR's.
    by_chair = as_manager(api, w["chair"]).post(BATCH, {"method": "paper", "contracts": [
        {"contract_id": w["contracts"][2]["id"], "signed_on": today,
         "paper_reference": "P-X"}]}, expect=200).get_json()
    assert by_chair["contracts"][0]["problem"]["status"] == 403
    trail = last_audit_id(app)
    paper = [*w["contracts"][:2], w["other"]]  # the last one's employer is another
    body = api.post(BATCH, {"method": "paper", "contracts": [
        {"contract_id": c["id"], "signed_on": today, "paper_reference": f"P-{i}"}
        for i, c in enumerate(paper)]}, expect=200).get_json()
    assert body["countersigned"] == 3
    for i, c in enumerate(paper):
        assert ("employer", "paper", None, "hr-1", f"P-{i}") in signature_rows(app, c["id"])
        assert body["contracts"][i]["signatures"][0]["paper_reference"] == f"P-{i}"
    # Each contract's records say for whom HR wrote, as its single call would.
    behalf = {(r["after"]["contract_id"], r["on_behalf_of"])
              for r in audit_since(app, trail) if r["object_type"] == "contract_signatures"}
    employers = {c["id"]: api.get(f"/api/v1/contracts/{c['id']}/signers").get_json()
                 ["employer"]["description"] for c in paper}
    assert behalf == {(cid, f"the employer: {what}") for cid, what in employers.items()}
    assert len(set(employers.values())) == 2
    # So do the records of the contracts brought into force, written in the same statement.
    contracts = {(r["object_id"], r["on_behalf_of"]) for r in audit_since(app, trail)
                 if r["object_type"] == "tenure_contracts"}
    assert contracts == behalf
    assert [r[0] for r in signature_rows(app, w["contracts"][2]["id"])] == ["manager"] * 2


def test_a_refusal_after_a_signature_began_leaves_that_contract_untouched(
        pg_api: Client, pg_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api, app = pg_api, pg_app
    w = batch_world(api)
    first, failing, third = w["contracts"]
    brought = signing._bring_into_force

    def refuse_late(c: Any, *args: Any) -> None:
        brought(c, *args)  # the contract and its documents are in force in the session
        if c.id == failing["id"]:
            raise d.SigningConflict("refused after the rows changed")

    monkeypatch.setattr(signing, "_bring_into_force", refuse_late)
    body = as_manager(api, w["chair"]).post(BATCH, {"contracts": rows(api, *w["contracts"])},
                                            expect=200).get_json()
    assert [r["outcome"] for r in body["contracts"]] == ["countersigned", "refused",
                                                          "countersigned"]
    assert body["contracts"][1]["problem"]["detail"] == "refused after the rows changed"
    assert [r[0] for r in signature_rows(app, failing["id"])] == ["manager"] * 2
    assert api.get(f"/api/v1/contracts/{failing['id']}").get_json()["state"] == \
        "pending_signature"
    for c in (first, third):
        assert api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == "active"
    assert {data["contract_id"] for _, kind, data in outbox_since(app, 0)
            if kind == "contract.signed"} == {first["id"], third["id"]}


def statements_of_batch(api: Client, app: Any, chair: dict[str, Any],
                        contracts: list[dict[str, Any]]) -> int:
    with sent_statements(app.extensions["tenure_db"].engine) as sent:
        body = as_manager(api, chair).post(BATCH, {"contracts": rows(api, *contracts)},
                                           expect=200).get_json()
    assert body["countersigned"] == len(contracts)
    return len(sent)


# Nothing per contract. Once per batch, whatever its size: the reads of every contract
# listed (locked with its manager and unit; the documents; the managers' active contracts,
# the overlap check; the units above them; the holders of every signatory post), then
# the documents' UPDATE, the signatures' INSERT, the contracts' UPDATE, the audit records'
# INSERT and the events' INSERT. A single call reads four statements of its own, writes
# five and commits, for each contract (test_signing_statements.py).
PER_CONTRACT = 0
PER_BATCH = 10


def test_a_batch_reads_and_writes_its_contracts_together_in_ten_statements_whatever_its_size(
        pg_api: Client, pg_app: Any) -> None:
    api, app = pg_api, pg_app
    w = batch_world(api, contracts=6)
    two = statements_of_batch(api, app, w["chair"], w["contracts"][:2])
    four = statements_of_batch(api, app, w["chair"], w["contracts"][2:])
    assert (four - two) / 2 == PER_CONTRACT
    assert two == PER_BATCH + 2 * PER_CONTRACT


def test_a_batch_of_many_employers_reads_the_holders_of_all_their_posts_at_once(
        pg_api: Client, pg_app: Any) -> None:
    """Three enterprises' general managers, each countersigned for its board by its own
    chair: a batch reads the holders of all its posts together (HR's batch of two
    enterprises' paper countersignatures sends the statements of a batch of one post), and
    each contract is answered by its own post's holders (one chair countersigns hers, not
    the others)."""
    api, app = pg_api, pg_app
    g = small_group(api)
    t = template(api)
    chairs, contracts = [], []
    for k in range(3):
        firm = unit(api, f"SUB-C{k}", "enterprise", g["hq"]["id"], has_board=True)
        chairs.append(manager(api, f"C90{k}", firm["id"], position="chair"))
        contract = issued(api, manager(api, f"C00{k}", firm["id"]), t)
        sign_as_manager(api, contract)
        contracts.append(contract)
    body = as_manager(api, chairs[0]).post(BATCH, {"contracts": rows(api, *contracts)},
                                           expect=200).get_json()
    assert [x["outcome"] for x in body["contracts"]] == ["countersigned", "refused", "refused"]
    # Not her posts: as a single call would, she learns nothing of those contracts.
    assert [x["problem"]["status"] for x in body["contracts"][1:]] == [404, 404]
    with sent_statements(app.extensions["tenure_db"].engine) as sent:
        body = api.post(BATCH, {"method": "paper", "contracts": [
            {"contract_id": c["id"], "signed_on": date.today().isoformat(),
             "paper_reference": f"P-{c['id'][:8]}"} for c in contracts[1:]]},
            expect=200).get_json()
    assert body["countersigned"] == 2
    assert len(sent) == PER_BATCH


def test_two_terms_of_one_manager_for_one_post_are_not_both_brought_into_force_by_a_batch(
        pg_api: Client) -> None:
    api = pg_api
    w = batch_world(api, contracts=1)
    gm = w["gms"][0]
    later = api.post("/api/v1/contracts", {"manager_id": gm["id"], "start_date": "2029-01-01",
                                           "template_id": w["t"]["id"]}, expect=201).get_json()
    api.post(f"/api/v1/contracts/{later['id']}/issue", expect=200)
    sign_as_manager(api, later)
    body = as_manager(api, w["chair"]).post(BATCH, {"contracts": rows(
        api, w["contracts"][0], later)}, expect=200).get_json()
    first, second = body["contracts"]
    assert first["outcome"] == "countersigned" and first["state"] == "active"
    assert second["outcome"] == "refused" and second["problem"]["status"] == 409
    assert second["problem"]["detail"].startswith(
        f"Manager already has active contract {w['contracts'][0]['id']} for this position")
    assert api.get(f"/api/v1/contracts/{later['id']}").get_json()["state"] == \
        "pending_signature"


def test_paper_countersignatures_are_written_together_as_electronic_ones_are(
        pg_api: Client, pg_app: Any) -> None:
    api, app = pg_api, pg_app
    w = batch_world(api, contracts=6)
    counts = []
    for chunk in (w["contracts"][:2], w["contracts"][2:]):
        with sent_statements(app.extensions["tenure_db"].engine) as sent:
            body = api.post(BATCH, {"method": "paper", "contracts": [
                {"contract_id": c["id"], "signed_on": date.today().isoformat(),
                 "paper_reference": f"P-{c['id'][:8]}"} for c in chunk]},
                expect=200).get_json()
        assert body["countersigned"] == len(chunk)
        counts.append(len(sent))
    # Each paper signature's records name whom it was recorded for (the test above), and
    # its rows still go with the batch's: the same statements, whatever the batch's size.
    assert (counts[1] - counts[0]) / 2 == PER_CONTRACT
    assert counts[0] == PER_BATCH + 2 * PER_CONTRACT


def test_a_batch_read_at_once_answers_for_each_contract_as_its_own_reads_would(
        pg_api: Client, pg_app: Any) -> None:
    # An unknown id among known ones is not found; each known one is countersigned once,
    # for itself, and the chair's second batch finds them all countersigned.
    api, app = pg_api, pg_app
    w = batch_world(api)
    a, b, c = w["contracts"]
    chair = as_manager(api, w["chair"])
    body = chair.post(BATCH, {"contracts": [
        {"contract_id": a["id"]}, {"contract_id": str(uuid.uuid4())},
        {"contract_id": b["id"]}]}, expect=200).get_json()
    assert [x["outcome"] for x in body["contracts"]] == ["countersigned", "refused",
                                                        "countersigned"]
    assert body["contracts"][1]["problem"]["status"] == 404
    again = chair.post(BATCH, {"contracts": rows(api, c, b, a)}, expect=200).get_json()
    assert [x["outcome"] for x in again["contracts"]] == [
        "countersigned", "already_countersigned", "already_countersigned"]
    for x in (a, b, c):
        assert sorted(r[0] for r in signature_rows(app, x["id"])) == \
            ["employer"] * 2 + ["manager"] * 2
        assert api.get(f"/api/v1/contracts/{x['id']}").get_json()["state"] == "active"
