"""HR staff and managers use the portal in a real browser: every step a person takes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.portal.conftest import YEAR, PortalWorld, axe_violations, login


def test_group_hr_issues_in_bulk_and_sees_progress_and_each_managers_decision(
        page: Any, portal_world: PortalWorld) -> None:
    login(page, portal_world, "group_hr")
    page.click("a[href='/hr/bulk']")
    page.select_option("select[name=template_id]", portal_world.ids["template"])
    page.fill("input[name=start_date]", f"{YEAR}-01-01")
    page.click("#bulk-form button[type=submit]")
    page.wait_for_url(re.compile(r"/hr/bulk/[^/]+$"))
    page.wait_for_selector(".status[data-status=done], .status[data-status=partial]",
                           timeout=30_000)
    assert page.locator("progress").get_attribute("value") == "100.00"

    def rows() -> dict[str, str | None]:
        """Employee number -> the row's decision class, with each row's place checked."""
        found = page.locator("table tbody tr").all()
        places = [int(r.locator("td").nth(0).inner_text()) for r in found]
        assert places == sorted(places), places
        return {r.locator("td").nth(1).inner_text(): r.get_attribute("class") for r in found}

    everyone = rows()
    assert everyone["A001"] == "decision-issued"  # Zhang Wei gets a contract
    assert everyone["B001"] == "decision-skipped"  # Li Na already has one in force
    # Only the skipped, as HR looks for whom to follow up: the decisions are read a page at
    # a time from the API, one outcome at a time.
    page.click("nav.decision-filter a[href$='decision=skipped']")
    assert page.locator("nav.decision-filter a[aria-current=page]").get_attribute(
        "href").endswith("decision=skipped")
    skipped = rows()
    assert "B001" in skipped and "A001" not in skipped
    assert set(skipped.values()) == {"decision-skipped"}
    assert set(skipped) == {n for n, c in everyone.items() if c == "decision-skipped"}
    # A later page starts after the place it was asked from, and leads back to the first.
    page.goto(page.url.split("?")[0] + "?after=1")
    assert list(rows()) == list(everyone)[1:]
    assert page.locator(".pager a[rel=next]").count() == 0  # three decisions: one page
    page.click(".pager a:text-matches('.')")
    assert list(rows()) == list(everyone)
    portal_world.sync()


def test_actuals_upload_shows_the_bad_row_by_field_before_anything_is_kept(
        page: Any, portal_world: PortalWorld, tmp_path: Any) -> None:
    csv = tmp_path / "actuals.csv"
    csv.write_text("employee_no,year,kind,indicator_code,value,rating,veto_hit,source\n"
                   f"B001,{YEAR},annual,PROFIT,1100,,,portal-test\n"
                   f"B001,{YEAR},annual,NO_SUCH,5,,,portal-test\n", encoding="utf-8")
    login(page, portal_world, "group_hr")
    page.goto(portal_world.urls["portal"] + "/hr/actuals")
    page.set_input_files("input[name=file]", str(csv))
    page.click("#check-form button[type=submit]")
    errors = page.locator("table.row-errors tbody tr")
    assert errors.count() == 1
    assert errors.nth(0).locator("td").nth(0).inner_text() == "3"
    assert "indicator_code" in errors.nth(0).locator("td").nth(1).inner_text()
    kept = portal_world.api("appraisal").call("GET", "/api/v1/actuals",
                                              params={"year": YEAR})
    assert kept["page"]["total"] == 0  # checked only: nothing kept yet
    page.click("#commit-form button[type=submit]")
    page.wait_for_selector(".flash.ok")
    kept = portal_world.api("appraisal").call("GET", "/api/v1/actuals",
                                              params={"year": YEAR})
    assert kept["page"]["total"] == 1


def _actuals_for(world: PortalWorld, employee_no: str, profit: str) -> None:
    rows = [{"employee_no": employee_no, "year": YEAR, "kind": "annual", "source": "test",
             "indicator_code": code, **value}
            for code, value in (("PROFIT", {"value": profit}), ("ROE", {"value": "8"}),
                                ("COST", {"value": "65"}), ("PARTY", {"rating": "B"}),
                                ("SAFETY", {"veto_hit": False}))]
    world.api("appraisal").call("POST", "/api/v1/actuals/bulk", json={"items": rows})


def test_hr_runs_the_appraisal_and_reads_the_distribution_chart_with_its_quota(
        page: Any, portal_world: PortalWorld) -> None:
    _actuals_for(portal_world, "B001", "1100")
    login(page, portal_world, "group_hr")
    page.goto(portal_world.urls["portal"] + "/hr/runs")
    page.fill("input[name=year]", str(YEAR))
    page.click("#start-run button[type=submit]")
    page.wait_for_url(re.compile(r"/hr/runs/[^/]+$"))
    page.wait_for_selector(".status[data-status=done]", timeout=30_000)
    for action in ("review", "approve", "publish"):
        page.click(f"button[value={action}]")
        page.wait_for_selector(".flash.ok")
    portal_world.sync()
    page.goto(portal_world.urls["portal"] + f"/hr/results?year={YEAR}")
    chart = page.locator("figure.chart svg").first
    assert chart.locator("rect.bar").count() == 5  # one bar per grade
    assert chart.locator("line.quota").count() == 1
    assert page.locator("table.sr-data").first.locator("td").all_inner_texts().count("1") == 1
    download = page.locator("a[href$='.csv']").first
    with page.expect_download() as info:
        download.click()
    assert "grade" in info.value.path().read_text(encoding="utf-8").splitlines()[0].lower() \
        or info.value.path().stat().st_size > 0


def test_a_manager_signs_downloads_the_pdf_reads_the_result_and_appeals(
        page: Any, portal_world: PortalWorld) -> None:
    login(page, portal_world, f"manager:{portal_world.ids['m2']}")
    page.wait_for_url(re.compile(r"/me$"))
    page.click("table a")
    pdf = page.locator("a[href$='.pdf']").first
    response = page.request.get(portal_world.urls["portal"] + pdf.get_attribute("href"))
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF-")
    page.goto(portal_world.urls["portal"] + "/me/results")
    page.click("table a")
    assert page.locator("table.trace tbody tr").count() == 5
    page.fill("textarea[name=reason]", "The profit figure left out a disposal gain.")
    page.click("#appeal-form button[type=submit]")
    page.wait_for_selector(".flash.ok")
    appraisals = portal_world.api("appraisal").call(
        "GET", "/api/v1/appraisals", params={"manager_id": portal_world.ids["m2"]})
    assert appraisals["items"][0]["state"] == "open"  # reopened by the appeal


def test_a_manager_signs_the_contract_issued_to_them(page: Any,
                                                     portal_world: PortalWorld) -> None:
    login(page, portal_world, f"manager:{portal_world.ids['m1']}")
    page.click("table a")
    assert page.locator("button", has_text="签署").count() >= 1
    page.locator("button", has_text="签署").first.click()
    page.wait_for_selector(".flash")
    listed = portal_world.api("contracts").call(
        "GET", "/api/v1/contracts", params={"manager_id": portal_world.ids["m1"]})["items"][0]
    contract = portal_world.api("contracts").call("GET", f"/api/v1/contracts/{listed['id']}")
    mine = [(s["party"], s["method"]) for s in contract["signatures"]]
    assert mine and set(mine) == {("manager", "electronic")}, contract
    assert contract["state"] == "pending_signature"  # the employer countersigns next
    assert page.locator(".flash.ok").count() == 1
    assert page.locator(".signing-state[data-state=awaiting_employer]").count() >= 1


def test_the_inbox_shows_notices_and_marks_them_read(page: Any,
                                                     portal_world: PortalWorld) -> None:
    portal_world.sync()
    login(page, portal_world, f"manager:{portal_world.ids['m2']}")
    page.goto(portal_world.urls["portal"] + "/me/inbox")
    unread = page.locator("ul.inbox li.unread")
    before = unread.count()
    assert before >= 1
    unread.first.locator("button").click()
    assert page.locator("ul.inbox li.unread").count() == before - 1


def test_the_language_switch_changes_every_word_of_the_page(page: Any,
                                                             portal_world: PortalWorld) -> None:
    login(page, portal_world, "group_hr")
    page.goto(portal_world.urls["portal"] + "/hr")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "组织" in page.locator("h1").inner_text()
    page.click("a[lang=en]")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Org tree and contract coverage"
    page.click("a[lang=zh-CN]")
    assert "组织" in page.locator("h1").inner_text()


def test_hr_of_one_subsidiary_sees_nothing_of_another(page: Any,
                                                      portal_world: PortalWorld) -> None:
    login(page, portal_world, f"unit_hr:{portal_world.ids['s1']}")
    for path in ("/hr", "/hr/managers", "/hr/contracts", f"/hr/results?year={YEAR}"):
        page.goto(portal_world.urls["portal"] + path)
        body = page.locator("body").inner_text()
        assert "Beta Water" not in body and "Li Na" not in body and "B001" not in body, path
    resp = page.goto(portal_world.urls["portal"] + f"/hr/contracts/{portal_world.ids['c2']}")
    assert resp is not None and resp.status == 404


@pytest.mark.parametrize("who,paths", [
    ("group_hr", ["/hr", "/hr/managers", "/hr/contracts", "/hr/bulk", "/hr/expiring",
                  "/hr/actuals", "/hr/runs", f"/hr/results?year={YEAR}"]),
    ("manager:m2", ["/me", "/me/targets", "/me/results", "/me/inbox"]),
])
def test_pages_have_no_serious_or_critical_accessibility_violations(
        page: Any, portal_world: PortalWorld, who: str, paths: list[str]) -> None:
    if who.startswith("manager:"):
        who = f"manager:{portal_world.ids[who.split(':')[1]]}"
    login(page, portal_world, who)
    page.goto(portal_world.urls["portal"] + "/login")
    found = {}
    for path in [*paths, "/login"]:
        page.goto(portal_world.urls["portal"] + path)
        violations = axe_violations(page)
        if violations:
            found[path] = violations
    assert found == {}


def test_a_notice_that_asks_for_a_signature_links_to_the_page_to_sign(
        page: Any, portal_world: PortalWorld) -> None:
    portal_world.sync()
    login(page, portal_world, f"manager:{portal_world.ids['m1']}")
    page.goto(portal_world.urls["portal"] + "/me/inbox")
    link = page.locator(".notice-text a[href*='/me/contracts/']").first
    link.click()
    page.wait_for_url(re.compile(r"/me/contracts/[^/]+$"))
    assert page.locator("h1").inner_text() == "我的任期合同"


def test_the_employers_signatory_countersigns_in_the_portal(page: Any,
                                                            portal_world: PortalWorld) -> None:
    contract = portal_world.api("contracts").call(
        "GET", "/api/v1/contracts", params={"manager_id": portal_world.ids["m1"]})["items"][0]
    if contract["state"] != "pending_signature" or not contract["signatures"]:
        own = portal_world.api("contracts", roles=("manager",), subject="m1",
                               manager_id=portal_world.ids["m1"])
        own.call("POST", f"/api/v1/contracts/{contract['id']}/sign", json={})
    login(page, portal_world, f"manager:{portal_world.ids['chair']}")
    page.goto(portal_world.urls["portal"] + f"/me/contracts/{contract['id']}")
    page.click("#sign-contract button[type=submit]")
    page.wait_for_selector(".flash.ok")
    after = portal_world.api("contracts").call("GET", f"/api/v1/contracts/{contract['id']}")
    assert after["state"] == "active"
    assert ("employer", "electronic") in {(s["party"], s["method"])
                                          for s in after["signatures"]}


def test_a_manager_submits_the_self_report(page: Any, portal_world: PortalWorld) -> None:
    appraisal = portal_world.api("appraisal").call(
        "GET", "/api/v1/appraisals", params={"manager_id": portal_world.ids["m2"]})["items"][0]
    login(page, portal_world, f"manager:{portal_world.ids['m2']}")
    page.goto(portal_world.urls["portal"] + f"/me/results/{appraisal['id']}/self-report")
    page.fill("#sr-text", "利润超额完成、安全零事故。")
    page.fill("#sr-att", "年报 | AR-2026-01")
    page.click("#self-report-form button[type=submit]")
    page.wait_for_selector(".report-text")
    report = portal_world.api("appraisal").call(
        "GET", f"/api/v1/appraisals/{appraisal['id']}/self-report")
    latest = report["revisions"][-1]
    assert latest["text"] == "利润超额完成、安全零事故。"
    assert latest["attachments"] == [{"name": "年报", "reference": "AR-2026-01"}]


def test_hr_finds_a_manager_by_part_of_the_name_and_reads_the_contracts_audit_history(
        page: Any, portal_world: PortalWorld) -> None:
    login(page, portal_world, "group_hr")
    page.goto(portal_world.urls["portal"] + "/hr/managers")
    page.fill("#f-q", "li n")
    page.click("#manager-search button[type=submit]")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1 and "B001" in rows.first.inner_text()
    page.goto(portal_world.urls["portal"] + f"/hr/contracts/{portal_world.ids['c2']}")
    history = page.locator("table").filter(has_text="hr-1").first
    assert history.count() == 1  # the HR user who drafted and issued it, from the trail


def test_a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing(
        page: Any, portal_world: PortalWorld) -> None:
    login(page, portal_world, "group_hr")
    forged = page.request.post(portal_world.urls["portal"] + "/logout", form={})
    assert forged.status == 400
    still = page.goto(portal_world.urls["portal"] + "/hr")
    assert still is not None and still.status == 200  # the session was not ended
    assert page.locator(".person").inner_text() == "集团人力资源部"
