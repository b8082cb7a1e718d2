"""GET one contract and the contract list, served from rows (services/contracts/reads.py).

Those two responses are built without marshmallow, for speed; `schemas.ContractOut` still
documents them. These tests hold the two together: contracts in every state, read through the
API, must equal what ContractOut dumps from the ORM objects, key for key and in order. They
also hold the scope rules of the one-query read (the scope unit rides along in the query).
"""

from __future__ import annotations

from typing import Any

from services.contracts import repository as repo
from services.contracts import schemas as sc
from services.contracts.models import Manager, OrgUnit, TenureContract
from tests.conftest import auth
from tests.support.contracts_world import (
    STANDARD_TARGETS,
    Client,
    manager,
    sign_as_manager,
    sign_both_sides,
    small_group,
    template,
)

CONTRACT_COLUMNS = (
    "id", "manager_id", "org_unit_id", "position", "start_date", "end_date", "term_years",
    "term_number", "max_consecutive_terms", "state", "version", "signatory", "template_id",
    "previous_contract_id", "issued_on", "signing_deadline", "signed_at", "signed_by",
    "ended_at", "end_reason", "appraisable", "row_version", "signatures",
)


def dumped_by_schema(app: Any, contract_id: str, *, documents: bool = True) -> dict[str, Any]:
    """The documented shape: ContractOut dumping the ORM objects, as the API once did."""
    with app.extensions["tenure_db"].sessions() as s:
        c = s.get(TenureContract, contract_id)
        m = s.get(Manager, c.manager_id)
        unit = s.get(OrgUnit, c.org_unit_id)
        obj: dict[str, Any] = {col: getattr(c, col) for col in CONTRACT_COLUMNS}
        obj.update(employee_no=m.employee_no, manager_name=m.name, layer=unit.layer,
                   category=unit.category)
        if documents:
            obj["documents"] = repo.documents_of(s, c.id)
        return sc.ContractOut().dump(obj)


def contracts_in_every_state(api: Client) -> dict[str, dict[str, Any]]:
    g = small_group(api)
    t = template(api, max_consecutive_terms=3, term_years=1)
    people = {n: manager(api, n, g["sub_a"]["id"])
              for n in ("A1", "A2", "A3", "A4", "A5", "A6")}
    # SUB-A's chair countersigns its managers' contracts; elsewhere HR records paper.
    manager(api, "A0", g["sub_a"]["id"], position="chair")
    third = manager(api, "C1", g["third"]["id"])
    welfare = manager(api, "B1", g["sub_b"]["id"], position="chief_financial_officer")
    made: dict[str, dict[str, Any]] = {}

    def draft(m: dict[str, Any], **body: Any) -> dict[str, Any]:
        return api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01",
                                              **body}, expect=201).get_json()

    def sign(c: dict[str, Any]) -> dict[str, Any]:
        api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
        return sign_both_sides(api, c)

    made["draft_without_targets"] = draft(people["A1"])
    made["draft_from_template"] = draft(people["A2"], template_id=t["id"])
    issued = draft(third, template_id=t["id"])
    api.post(f"/api/v1/contracts/{issued['id']}/issue", expect=200)
    made["pending_signature"] = issued
    signed = sign(draft(people["A3"], template_id=t["id"]))
    amended = api.post(f"/api/v1/contracts/{signed['id']}/amendments", {
        "end_date": "2026-10-31", "reason": "Restructuring", "approved_by": "Board 2026-7"},
        expect=200, headers={"If-Match": f'"v{signed["row_version"]}"'}).get_json()
    made["active_amended"] = amended
    renewed_from = sign(draft(people["A4"], template_id=t["id"]))
    made["renewal"] = api.post(f"/api/v1/contracts/{renewed_from['id']}/renew", {},
                               expect=201).get_json()
    made["renewed"] = renewed_from
    ended = sign(draft(people["A5"], template_id=t["id"]))
    api.post(f"/api/v1/contracts/{ended['id']}/terminate", {"reason": "Appraisal exit"},
             expect=200)
    made["terminated"] = ended
    in_force = sign(draft(people["A6"], template_id=t["id"]))
    changed = [dict(line) for line in STANDARD_TARGETS]
    changed[0]["target"] = "1100"
    made["amendment_awaiting_signatures"] = api.post(
        f"/api/v1/contracts/{in_force['id']}/amendments", {
            "reason": "New strategy", "approved_by": "Board 2026-9",
            "annual_targets": [{"year": 2026, "indicators": changed}]},
        expect=200, headers={"If-Match": f'"v{in_force["row_version"]}"'}).get_json()
    sign_as_manager(api, in_force)
    # Both sides signed on paper, recorded by HR.
    paper = draft(manager(api, "C2", g["third"]["id"], position="deputy_general_manager"),
                  template_id=t["id"])
    api.post(f"/api/v1/contracts/{paper['id']}/issue", expect=200)
    for party in ("manager", "employer"):
        api.post(f"/api/v1/contracts/{paper['id']}/sign", {
            "method": "paper", "party": party, "signed_on": "2026-01-02",
            "paper_reference": f"HR-2026-{party}"}, expect=200)
    made["signed_on_paper"] = paper
    made["signatory_override"] = draft(welfare, signatory_override={
        "kind": "group_party_committee", "reason": "Appointed by the group, 集团任命"})
    # The manager's name changes after the contract was drafted: the read shows the new one.
    a1 = api.get(f"/api/v1/managers/{people['A1']['id']}")
    api.patch(f"/api/v1/managers/{people['A1']['id']}", {"name": "李娜"}, expect=200,
              headers={"If-Match": a1.headers["ETag"]})
    return made


def test_one_contract_reads_exactly_as_the_schema_documents_it(api: Client, app: Any) -> None:
    made = contracts_in_every_state(api)
    for state, contract in made.items():
        resp = api.get(f"/api/v1/contracts/{contract['id']}")
        body = resp.get_json()
        expected = dumped_by_schema(app, contract["id"])
        assert body == expected, state
        assert list(body) == list(expected), state  # same keys in the same order
        assert resp.headers["ETag"] == f'"v{expected["row_version"]}"'
        assert resp.mimetype == "application/json"
    assert api.get(f"/api/v1/contracts/{made['draft_without_targets']['id']}"
                   ).get_json()["manager_name"] == "李娜"
    methods = {(s["party"], s["method"]) for c in made.values()
               for s in api.get(f"/api/v1/contracts/{c['id']}").get_json()["signatures"]}
    assert methods == {("manager", "electronic"), ("employer", "electronic"),
                       ("manager", "paper"), ("employer", "paper")}
    states = {api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] for c in made.values()}
    assert states == {"draft", "pending_signature", "active", "renewed", "terminated"}


def test_contract_list_reads_exactly_as_the_schema_documents_it(api: Client, app: Any) -> None:
    made = contracts_in_every_state(api)
    page = api.get("/api/v1/contracts?page_size=500").get_json()
    assert page["page"] == {"page": 1, "page_size": 500, "total": len(made), "pages": 1}
    assert {c["id"] for c in page["items"]} == {c["id"] for c in made.values()}
    for item in page["items"]:
        expected = dumped_by_schema(app, item["id"], documents=False)
        assert item == expected
        assert list(item) == list(expected)


def test_pages_split_the_list_and_a_page_past_the_end_is_empty(api: Client) -> None:
    made = contracts_in_every_state(api)
    pages = [api.get(f"/api/v1/contracts?page_size=3&page={n}").get_json()
             for n in range(1, -(-len(made) // 3) + 1)]
    ids = [c["id"] for p in pages for c in p["items"]]
    assert len(ids) == len(set(ids)) == len(made)
    past = api.get("/api/v1/contracts?page_size=3&page=9").get_json()
    assert past["items"] == [] and past["page"]["total"] == len(made)


def test_one_contract_read_keeps_every_scope_rule(api: Client) -> None:
    g = small_group(api)
    in_a = manager(api, "A1", g["third"]["id"])  # third-level, under SUB-A
    in_b = manager(api, "B1", g["sub_b"]["id"])
    ca = api.post("/api/v1/contracts", {"manager_id": in_a["id"], "start_date": "2026-01-01"},
                  expect=201).get_json()
    cb = api.post("/api/v1/contracts", {"manager_id": in_b["id"], "start_date": "2026-01-01"},
                  expect=201).get_json()

    scoped = api.as_(auth("hr_admin", subject="hr-a", org_scope=g["sub_a"]["id"]))
    assert scoped.get(f"/api/v1/contracts/{ca['id']}").get_json()["id"] == ca["id"]
    scoped.get(f"/api/v1/contracts/{cb['id']}", expect=404)
    assert [c["id"] for c in scoped.get("/api/v1/contracts").get_json()["items"]] == [ca["id"]]

    # A scope naming a unit that does not exist sees nothing rather than everything.
    nowhere = api.as_(auth("hr_admin", subject="hr-x", org_scope="no-such-unit"))
    nowhere.get(f"/api/v1/contracts/{ca['id']}", expect=404)
    assert nowhere.get("/api/v1/contracts").get_json()["items"] == []

    appraiser = api.as_(auth("appraiser", subject="ap"))
    appraiser.get(f"/api/v1/contracts/{cb['id']}", expect=200)

    own = api.as_(auth("manager", subject="a1", manager_id=in_a["id"]))
    assert own.get(f"/api/v1/contracts/{ca['id']}").get_json()["manager_id"] == in_a["id"]
    resp = own.get(f"/api/v1/contracts/{cb['id']}", expect=404)
    assert resp.mimetype == "application/problem+json"

    unknown = api.get("/api/v1/contracts/no-such-contract", expect=404)
    assert unknown.mimetype == "application/problem+json"
    assert "no-such-contract" in unknown.get_json()["detail"]


def test_a_read_survives_the_server_dropping_the_connection_it_kept(api: Client,
                                                                    app: Any) -> None:
    g = small_group(api)
    m = manager(api, "A1", g["sub_a"]["id"])
    c = api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01"},
                 expect=201).get_json()
    before = api.get(f"/api/v1/contracts/{c['id']}").get_json()
    db = app.extensions["tenure_db"]
    if db.is_postgres:
        # As a server restart or an idle timeout would: every other session is cut off,
        # the connection this thread keeps for its reads included.
        with db.engine.connect() as conn:
            cut = conn.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()").scalar()
            conn.commit()
        assert cut >= 1
    assert api.get(f"/api/v1/contracts/{c['id']}").get_json() == before
