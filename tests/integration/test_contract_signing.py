"""Two-sided signing through the API, on SQLite and PostgreSQL (docs/signing.md)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import text

from tests.conftest import auth
from tests.integration.test_contracts_api import outbox_types
from tests.support.contracts_world import (
    STANDARD_TARGETS,
    Client,
    manager,
    sign_as_manager,
    small_group,
    template,
)


def issued(api: Client, m: dict[str, Any], t: dict[str, Any]) -> dict[str, Any]:
    c = api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01",
                                       "template_id": t["id"]}, expect=201).get_json()
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    return c


def board_world(api: Client) -> dict[str, Any]:
    """SUB-A has a board: its chair countersigns the general manager's contract."""
    g = small_group(api)
    t = template(api)
    gm = manager(api, "A001", g["sub_a"]["id"])
    chair = manager(api, "A002", g["sub_a"]["id"], position="chair")
    return {"g": g, "t": t, "gm": gm, "chair": chair, "c": issued(api, gm, t)}


def as_manager(api: Client, m: dict[str, Any]) -> Client:
    return api.as_(auth("manager", subject=f"sso-{m['employee_no']}", manager_id=m["id"]))


def signature_rows(app: Any, contract_id: str) -> list[tuple[Any, ...]]:
    with app.extensions["tenure_db"].engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT party, method, signed_by, recorded_by, paper_reference FROM "
            "contract_signatures WHERE contract_id = :c ORDER BY id"), {"c": contract_id}))


def test_hr_token_cannot_sign_as_the_manager_and_is_told_who_must(api: Client, app: Any
                                                                   ) -> None:
    w = board_world(api)
    resp = api.post(f"/api/v1/contracts/{w['c']['id']}/sign", {}, expect=403)
    body = resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert "Manager A001" in body["detail"] and "the chair of Unit SUB-A" in body["detail"]
    assert "Manager A002" in body["detail"]  # who holds the post now
    assert signature_rows(app, w["c"]["id"]) == []
    assert api.get(f"/api/v1/contracts/{w['c']['id']}").get_json()["state"] == \
        "pending_signature"


def test_contract_is_active_only_when_manager_and_chair_have_both_signed(api: Client,
                                                                         app: Any) -> None:
    w = board_world(api)
    cid = w["c"]["id"]
    half = as_manager(api, w["gm"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    body = half.get_json()
    assert body["state"] == "pending_signature" and body["signed_at"] is None
    # The tenure performance contract without targets waits for them; the rest are signed.
    first = [doc for doc in body["documents"] if doc["year"] in (None, 2026)
             and (doc["targets"] or doc["kind"] == "appointment_agreement")]
    assert {doc["signing_state"] for doc in first} == {"awaiting_employer"}
    assert all(doc["signed_at"] is None for doc in first)
    requested = outbox_types(app)[-1]
    assert requested == "contract.countersignature_requested"

    done = as_manager(api, w["chair"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    signed = done.get_json()  # the chair sees what they signed
    assert signed["state"] == "active" and signed["signed_at"] is not None
    assert signed["signed_by"] == "manager: sso-A001; employer: sso-A002"
    sigs = signed["signatures"]
    assert [(s["party"], s["person_manager_id"], s["method"]) for s in sigs] == \
        [("manager", w["gm"]["id"], "electronic")] * 2 + \
        [("employer", w["chair"]["id"], "electronic")] * 2
    assert all(s["recorded_by"] is None and s["paper_reference"] is None for s in sigs)
    assert outbox_types(app)[-1] == "contract.signed"
    # The list shows the same signatures.
    listed = api.get("/api/v1/contracts").get_json()["items"]
    assert next(c for c in listed if c["id"] == cid)["signatures"] == sigs


def test_the_chair_cannot_countersign_before_the_manager_signs(api: Client, app: Any) -> None:
    w = board_world(api)
    resp = as_manager(api, w["chair"]).post(f"/api/v1/contracts/{w['c']['id']}/sign", {},
                                            expect=409)
    assert "the manager signs first" in resp.get_json()["detail"]
    assert signature_rows(app, w["c"]["id"]) == []


def test_no_one_signs_twice_and_another_manager_signs_nothing(api: Client) -> None:
    w = board_world(api)
    cid = w["c"]["id"]
    deputy = manager(api, "A003", w["g"]["sub_a"]["id"], position="deputy_general_manager")
    # Not theirs to sign: for them the contract does not exist.
    as_manager(api, deputy).post(f"/api/v1/contracts/{cid}/sign", {}, expect=404)
    as_manager(api, w["gm"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    again = as_manager(api, w["gm"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=409)
    assert "already signed" in again.get_json()["detail"]
    # Claiming the other side does not help.
    as_manager(api, w["gm"]).post(f"/api/v1/contracts/{cid}/sign", {"party": "employer"},
                                  expect=403)


def test_paper_signature_is_recorded_by_hr_with_date_and_reference(api: Client,
                                                                    app: Any) -> None:
    w = board_world(api)
    cid = w["c"]["id"]
    path = f"/api/v1/contracts/{cid}/sign"
    # Paper without its party, date or reference: 422 naming each field, nothing recorded.
    bad = api.post(path, {"method": "paper"}, expect=422).get_json()
    assert set(bad["errors"]) == {"party", "signed_on", "paper_reference"}
    future = (date.today() + timedelta(days=1)).isoformat()
    api.post(path, {"method": "paper", "party": "manager", "signed_on": future,
                    "paper_reference": "X"}, expect=422)
    # A manager cannot record paper; the date and reference belong to paper only.
    as_manager(api, w["gm"]).post(path, {"method": "paper", "party": "manager",
                                         "signed_on": "2026-01-02", "paper_reference": "X"},
                                  expect=403)
    as_manager(api, w["gm"]).post(path, {"paper_reference": "X"}, expect=422)
    assert signature_rows(app, cid) == []

    api.post(path, {"method": "paper", "party": "manager", "signed_on": "2026-01-02",
                    "paper_reference": "HR-2026-0042"}, expect=200)
    signed = as_manager(api, w["chair"]).post(path, {}, expect=200).get_json()
    assert signed["state"] == "active"
    manager_side = [s for s in signed["signatures"] if s["party"] == "manager"]
    assert {(s["method"], s["signed_by"], s["recorded_by"], s["paper_signed_on"],
             s["paper_reference"], s["person_manager_id"]) for s in manager_side} == {
        ("paper", None, "hr-1", "2026-01-02", "HR-2026-0042", w["gm"]["id"])}
    assert signed["signed_by"].startswith("manager: on paper (HR-2026-0042)")
    assert ("manager", "paper", None, "hr-1", "HR-2026-0042") in signature_rows(app, cid)


def test_supervisor_countersigns_with_an_employer_signatory_token_scoped_over_the_unit(
        api: Client) -> None:
    g = small_group(api)
    t = template(api, layer=None, position=None, category=None)
    hq_chair = manager(api, "H001", g["hq"]["id"], position="chair")
    c = issued(api, hq_chair, t)  # the group's chair signs with the supervisor
    signers = api.get(f"/api/v1/contracts/{c['id']}/signers").get_json()
    assert signers["employer"]["role"] == "employer_signatory"
    sign_as_manager(api, c)
    path = f"/api/v1/contracts/{c['id']}/sign"
    elsewhere = auth("employer_signatory", subject="sasac", org_scope=g["sub_b"]["id"])
    api.as_(elsewhere).post(path, {}, expect=404)  # outside its scope: not there
    sasac = auth("employer_signatory", subject="sasac", org_scope=g["hq"]["id"])
    assert api.as_(sasac).post(path, {}, expect=200).get_json()["state"] == "active"


def test_general_manager_of_the_parent_countersigns_for_a_subsidiary_head(api: Client
                                                                           ) -> None:
    g = small_group(api)
    t = template(api, layer=None, position=None, category=None)
    head = manager(api, "C001", g["third"]["id"])  # no board: signs with the parent
    parent_gm = manager(api, "A001", g["sub_a"]["id"])
    c = issued(api, head, t)
    signers = api.get(f"/api/v1/contracts/{c['id']}/signers").get_json()
    assert signers["employer"]["manager_ids"] == [parent_gm["id"]]
    sign_as_manager(api, c)
    done = as_manager(api, parent_gm).post(f"/api/v1/contracts/{c['id']}/sign", {},
                                           expect=200).get_json()
    assert done["state"] == "active"


def test_amended_targets_are_signed_again_and_the_old_ones_stay_in_force_meanwhile(
        api: Client, app: Any) -> None:
    w = board_world(api)
    cid = w["c"]["id"]
    as_manager(api, w["gm"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    as_manager(api, w["chair"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    changed = [dict(x) for x in STANDARD_TARGETS]
    changed[0]["target"] = "1100"
    etag = api.get(f"/api/v1/contracts/{cid}").headers["ETag"]
    # Invalid amended targets: 422 naming the line; nothing staged.
    wrong = [dict(x) for x in STANDARD_TARGETS]
    wrong[0]["weight"] = "50"
    bad = api.post(f"/api/v1/contracts/{cid}/amendments", {
        "reason": "New strategy", "approved_by": "Board 2026-9",
        "annual_targets": [{"year": 2026, "indicators": wrong}]},
        headers={"If-Match": etag}, expect=422).get_json()
    assert "annual_targets[0].indicators" in bad["errors"]
    amended = api.post(f"/api/v1/contracts/{cid}/amendments", {
        "reason": "New strategy", "approved_by": "Board 2026-9",
        "annual_targets": [{"year": 2026, "indicators": changed}]},
        headers={"If-Match": etag}, expect=200).get_json()
    doc = next(d for d in amended["documents"] if d["year"] == 2026)
    assert doc["amendment_version"] == 2 and doc["amendment_state"] == "awaiting_manager"
    assert doc["targets"][0]["target"] == "1000.0000" or doc["targets"][0]["target"] == "1000"
    assert doc["amended_targets"][0]["target"] in ("1100", "1100.0000")
    # A second amendment of the same document waits for the first to be signed.
    api.post(f"/api/v1/contracts/{cid}/amendments", {
        "reason": "Again", "approved_by": "Board", "annual_targets": [
            {"year": 2026, "indicators": changed}]},
        headers={"If-Match": f'"v{amended["row_version"]}"'}, expect=409)

    as_manager(api, w["gm"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    still = api.get(f"/api/v1/contracts/{cid}").get_json()
    doc = next(d for d in still["documents"] if d["year"] == 2026)
    assert doc["amendment_state"] == "awaiting_employer"
    assert doc["targets"][0]["target"] in ("1000", "1000.0000")  # the old version in force
    as_manager(api, w["chair"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    final = api.get(f"/api/v1/contracts/{cid}").get_json()
    doc = next(d for d in final["documents"] if d["year"] == 2026)
    assert doc["targets"][0]["target"] in ("1100", "1100.0000")
    assert doc["amendment_version"] is None and doc["amended_targets"] is None
    amendment_sigs = [s for s in final["signatures"] if s["amendment_version"] == 2]
    assert [s["party"] for s in amendment_sigs] == ["manager", "employer"]
    assert outbox_types(app)[-1] == "targets.set"
    # Nothing else awaits signatures now.
    as_manager(api, w["gm"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=409)


def test_targets_of_an_unsigned_contract_are_not_amended(api: Client) -> None:
    w = board_world(api)
    cid = w["c"]["id"]
    etag = api.get(f"/api/v1/contracts/{cid}").headers["ETag"]
    resp = api.post(f"/api/v1/contracts/{cid}/amendments", {
        "reason": "x", "approved_by": "y", "tenure_targets": STANDARD_TARGETS},
        headers={"If-Match": etag}, expect=409).get_json()
    assert "PUT /contracts/{id}/documents/{document_id}/targets" in resp["detail"]


def test_the_countersigner_reads_the_contract_and_other_managers_do_not(api: Client) -> None:
    w = board_world(api)
    cid = w["c"]["id"]
    assert as_manager(api, w["chair"]).get(f"/api/v1/contracts/{cid}").get_json()["id"] == cid
    deputy = manager(api, "A003", w["g"]["sub_a"]["id"], position="deputy_general_manager")
    as_manager(api, deputy).get(f"/api/v1/contracts/{cid}", expect=404)
    # The chair's own list still holds only the chair's own contracts.
    assert as_manager(api, w["chair"]).get("/api/v1/contracts").get_json()["items"] == []


def test_signing_a_draft_says_to_issue_it_first(api: Client) -> None:
    g = small_group(api)
    m = manager(api, "A001", g["sub_a"]["id"])
    c = api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01"},
                 expect=201).get_json()
    body = sign_as_manager(api, c, expect=409).get_json()
    assert "allowed actions: issue, withdraw" in body["detail"]


def test_signed_tenure_targets_name_the_tenure_contract_and_an_amendment_changes_them(
        api: Client) -> None:
    w = board_world(api)
    cid = w["c"]["id"]
    tenure = next(doc for doc in w["c"]["documents"]
                  if doc["kind"] == "tenure_performance_contract")
    api.put(f"/api/v1/contracts/{cid}/documents/{tenure['id']}/targets",
            {"indicators": STANDARD_TARGETS}, expect=200,
            headers={"If-Match": f'"v{tenure["row_version"]}"'})
    as_manager(api, w["gm"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    as_manager(api, w["chair"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    signed = api.get(f"/api/v1/contracts/{cid}").get_json()
    tenure = next(doc for doc in signed["documents"]
                  if doc["kind"] == "tenure_performance_contract")
    locked = api.put(f"/api/v1/contracts/{cid}/documents/{tenure['id']}/targets",
                     {"indicators": STANDARD_TARGETS}, expect=409,
                     headers={"If-Match": f'"v{tenure["row_version"]}"'}).get_json()
    assert locked["detail"].startswith("The tenure performance contract is signed")
    assert "tenure_targets" in locked["detail"]
    changed = [dict(x) for x in STANDARD_TARGETS]
    changed[1]["target"] = "9"
    api.post(f"/api/v1/contracts/{cid}/amendments", {
        "reason": "Term review", "approved_by": "Board 2026-11", "tenure_targets": changed},
        headers={"If-Match": f'"v{signed["row_version"]}"'}, expect=200)
    as_manager(api, w["gm"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    as_manager(api, w["chair"]).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    final = api.get(f"/api/v1/contracts/{cid}").get_json()
    tenure = next(doc for doc in final["documents"]
                  if doc["kind"] == "tenure_performance_contract")
    assert tenure["targets"][1]["target"] in ("9", "9.0000")
    assert tenure["amendment_state"] is None


def test_each_signature_answers_with_the_contract_exactly_as_it_is_read_afterwards(
        api: Client) -> None:
    """The sign response is rendered from what the signature wrote, not read back: it must
    equal a read of the contract, key for key and in order, ETag included, at every step
    (each side, the contract coming into force, an amendment signed again and in force)."""
    w = board_world(api)
    cid = w["c"]["id"]

    def signs(signer: dict[str, Any]) -> None:
        resp = as_manager(api, signer).post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
        read = api.get(f"/api/v1/contracts/{cid}")
        assert list(resp.get_json().items()) == list(read.get_json().items())
        assert [list(doc) for doc in resp.get_json()["documents"]] == \
            [list(doc) for doc in read.get_json()["documents"]]
        assert resp.headers["ETag"] == read.headers["ETag"]

    signs(w["gm"])
    signs(w["chair"])
    changed = [dict(x) for x in STANDARD_TARGETS]
    changed[0]["target"] = "1100"
    api.post(f"/api/v1/contracts/{cid}/amendments", {
        "reason": "New strategy", "approved_by": "Board 2026-9",
        "annual_targets": [{"year": 2026, "indicators": changed}]},
        headers={"If-Match": api.get(f"/api/v1/contracts/{cid}").headers["ETag"]},
        expect=200)
    signs(w["gm"])
    signs(w["chair"])
