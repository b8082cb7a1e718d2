"""The employer's signatory countersigns many contracts at once in the portal: the page lists
what awaits them (GET /contracts?awaiting=my_countersignature), sends the selection to
POST /contracts/countersignatures, and shows each contract's outcome.

Chen Jie chairs Alpha Energy (S1, with a board): the chair countersigns the contracts of
its general managers. Zhang Wei, Wang Fang and Liu Yang have signed theirs; Zhang Wei has
also signed his next term, which cannot come into force while the first is active.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import cssselect2
import pytest
import tinyhtml5

from services.portal import create_app as create_portal_app
from services.portal.config import PortalSettings
from tests.conftest import SECRET
from tests.e2e.portal.conftest import YEAR, PortalWorld, axe_violations, login

PAGE = "/me/countersign"


def _issued_and_signed(world: PortalWorld, manager_id: str, start: str) -> str:
    hr = world.api("contracts")
    c = hr.call("POST", "/api/v1/contracts", 201, json={
        "manager_id": manager_id, "template_id": world.ids["template"], "start_date": start})
    hr.call("POST", f"/api/v1/contracts/{c['id']}/issue")
    own = world.api("contracts", roles=("manager",), subject=f"m-{manager_id[:8]}",
                    manager_id=manager_id)
    own.call("POST", f"/api/v1/contracts/{c['id']}/sign", json={})
    return str(c["id"])


@pytest.fixture(scope="module")
def awaiting(portal_world: PortalWorld) -> dict[str, str]:
    """Four contracts awaiting the chair's countersignature, in the order they are listed."""
    hr = portal_world.api("contracts")
    made = {"zhang": _issued_and_signed(portal_world, portal_world.ids["m1"],
                                        f"{YEAR}-01-01")}
    for key, no, name in (("wang", "A002", "Wang Fang"), ("liu", "A003", "Liu Yang")):
        m = hr.call("POST", "/api/v1/managers", 201, json={
            "employee_no": no, "name": name, "email": f"{no.lower()}@example.com",
            "org_unit_id": portal_world.ids["s1"], "position": "general_manager"})
        made[key] = _issued_and_signed(portal_world, m["id"], f"{YEAR}-01-01")
    made["zhang_next"] = _issued_and_signed(portal_world, portal_world.ids["m1"],
                                            f"{YEAR + 3}-01-01")
    return made


@pytest.fixture(scope="module")
def portal_app(portal_world: PortalWorld) -> Any:
    """The portal's views in process, before the same services (forms without CSRF tokens,
    which the browser test below and test_portal_pages hold)."""
    app = create_portal_app(PortalSettings(
        contracts_url=portal_world.urls["contracts"], appraisal_url=portal_world.urls["appraisal"],
        notifications_url=portal_world.urls["notifications"], secret_key="q" * 48,
        development=True, jwt_secret=SECRET, testing=True))
    app.config["WTF_CSRF_ENABLED"] = False
    return app


@pytest.fixture
def as_person(portal_app: Any) -> Iterator[Any]:
    def logged_in(person: str) -> Any:
        client = portal_app.test_client()
        resp = client.post("/login/dev", data={"person": person, "next": "/"})
        assert resp.status_code == 302, resp.get_data(as_text=True)
        return client

    yield logged_in


class Html:
    """A page as parsed by an HTML5 parser, queried by CSS selectors."""

    def __init__(self, wrapper: Any) -> None:
        self.w = wrapper

    def select_one(self, selector: str) -> Html | None:
        found = self.w.query(selector)
        return Html(found) if found is not None else None

    def select(self, selector: str) -> list[Html]:
        return [Html(found) for found in self.w.query_all(selector)]

    def get_text(self, sep: str = "", strip: bool = False) -> str:
        parts = list(self.w.etree_element.itertext())
        if strip:
            return sep.join(" ".join(p.split()) for p in parts if p.strip())
        return sep.join(parts)

    def has_attr(self, name: str) -> bool:
        return name in self.w.etree_element.attrib

    def __getitem__(self, name: str) -> str:
        return str(self.w.etree_element.attrib[name])


def _html(resp: Any) -> Html:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    root = tinyhtml5.parse(resp.get_data(as_text=True))
    return Html(cssselect2.ElementWrapper.from_html_root(root))


def _contract(world: PortalWorld, contract_id: str) -> dict[str, Any]:
    return world.api("contracts").call("GET", f"/api/v1/contracts/{contract_id}")


def test_the_chairs_navigation_counts_the_contracts_awaiting_the_countersignature(
        as_person: Any, portal_world: PortalWorld, awaiting: dict[str, str]) -> None:
    chair = _html(as_person(f"manager:{portal_world.ids['chair']}").get("/me"))
    link = chair.select_one("nav a#nav-countersign")
    assert link is not None and link["href"] == PAGE
    assert link.select_one(".count").get_text() == "4"
    # A manager with nothing to countersign is not shown the link.
    li_na = _html(as_person(f"manager:{portal_world.ids['m2']}").get("/me"))
    assert li_na.select_one("nav a#nav-countersign") is None


def test_the_page_lists_each_contract_with_its_unit_post_term_documents_and_links(
        as_person: Any, portal_world: PortalWorld, awaiting: dict[str, str]) -> None:
    client = as_person(f"manager:{portal_world.ids['chair']}")
    page = _html(client.get(PAGE))
    rows = page.select("table.awaiting tbody tr")
    assert [r["data-contract-id"] for r in rows] == list(awaiting.values())
    first = [td.get_text(" ", strip=True) for td in rows[0].select("td")]
    assert first[1] == "Zhang Wei (A001)" and first[2] == "Alpha Energy"
    assert first[3] == "总经理" and first[4] == f"{YEAR}-01-01 \u2013 {YEAR + 2}-12-31"
    documents = rows[0].select("ul.documents a")
    assert len(documents) == 2  # the appointment agreement and the first annual contract
    pdf = client.get(documents[0]["href"])
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
    read = client.get(rows[0].select("td")[-1].select_one("a")["href"])
    assert read.status_code == 200 and "Zhang Wei" in read.get_data(as_text=True)
    # Li Na countersigns nothing: an empty page, not an error.
    empty = _html(as_person(f"manager:{portal_world.ids['m2']}").get(PAGE))
    assert empty.select_one("p.empty") is not None
    assert empty.select_one("#countersign-form") is None


def test_countersigning_with_nothing_selected_says_so_and_changes_nothing(
        as_person: Any, portal_world: PortalWorld, awaiting: dict[str, str]) -> None:
    page = _html(as_person(f"manager:{portal_world.ids['chair']}").post(PAGE, data={}))
    assert "请先勾选要会签的合同" in page.select_one(".problem").get_text()
    assert len(page.select("table.awaiting tbody tr")) == 4
    assert _contract(portal_world, awaiting["wang"])["state"] == "pending_signature"


def test_a_contract_changed_since_it_was_listed_is_refused_with_its_reason_and_stays_selected(
        as_person: Any, portal_world: PortalWorld, awaiting: dict[str, str]) -> None:
    wang = awaiting["wang"]
    stale = _contract(portal_world, wang)["row_version"] - 1
    client = as_person(f"manager:{portal_world.ids['chair']}")
    page = _html(client.post(PAGE, data={"contract": [wang], f"row_version-{wang}": stale}))
    outcome = page.select_one(f"table.outcomes tr[data-contract-id='{wang}']")
    assert outcome["class"] == "outcome-refused"
    reason = outcome.select_one(".reason").get_text(" ", strip=True)
    assert "合同在您阅读后已有变动" in reason and "row_version" in reason
    assert "未能会签\uff1a1" in page.select_one(".counts").get_text()
    box = page.select_one(f"#pick-{wang}")
    assert box.has_attr("checked")  # kept for another try, at the version read now
    assert page.select_one(f"input[name='row_version-{wang}']")["value"] == str(stale + 1)
    assert _contract(portal_world, wang)["state"] == "pending_signature"


def test_the_chair_selects_all_countersigns_and_reads_each_outcome_in_the_browser(
        page: Any, portal_world: PortalWorld, awaiting: dict[str, str]) -> None:
    login(page, portal_world, f"manager:{portal_world.ids['chair']}")
    page.click("nav a#nav-countersign")
    page.wait_for_url(re.compile(r"/me/countersign$"))
    assert page.locator("table.awaiting tbody tr").count() == 4
    assert axe_violations(page) == []
    page.check("#select-all")
    assert page.locator("#countersign-form input[name=contract]:checked").count() == 4
    page.uncheck(f"#pick-{awaiting['liu']}")  # Liu Yang's is left for later
    assert page.locator("#select-all").evaluate("b => b.indeterminate")
    page.click("#countersign-form button[type=submit]")
    page.wait_for_selector("table.outcomes")
    outcomes = {row.get_attribute("data-contract-id"): row.get_attribute("class")
                for row in page.locator("table.outcomes tbody tr").all()}
    assert outcomes == {awaiting["zhang"]: "outcome-countersigned",
                        awaiting["wang"]: "outcome-countersigned",
                        awaiting["zhang_next"]: "outcome-refused"}
    # The next term cannot come into force while the first is active: said in words.
    refused = page.locator(f"table.outcomes tr[data-contract-id='{awaiting['zhang_next']}']")
    reason = refused.locator(".reason").inner_text()
    assert "此合同现在不能会签" in reason and "active contract" in reason
    # Still awaiting, still selected, its reason beside it; Liu Yang's still unselected.
    assert page.locator(f"#pick-{awaiting['zhang_next']}").is_checked()
    assert not page.locator(f"#pick-{awaiting['liu']}").is_checked()
    assert page.locator("table.awaiting tbody tr").count() == 2
    assert page.locator("table.awaiting tr.refused .refusal").count() == 1
    assert page.locator("nav a#nav-countersign .count").inner_text() == "2"
    for key in ("zhang", "wang"):
        after = _contract(portal_world, awaiting[key])
        assert after["state"] == "active"
        assert ("employer", "electronic") in {(s["party"], s["method"])
                                              for s in after["signatures"]}
    for key in ("zhang_next", "liu"):
        assert _contract(portal_world, awaiting[key])["state"] == "pending_signature"
