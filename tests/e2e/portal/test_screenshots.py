"""Screenshots of the main portal pages for the docs, taken on demand only.

`TENURE_SCREENSHOTS=1 python -m pytest tests/e2e/portal/test_screenshots.py` walks the
portal test world through an annual cycle (bulk issue, actuals, a run, signing) and saves
PNGs under docs/screenshots/. `make test` skips it: the pictures are documentation, and the
same steps are asserted by test_portal_pages.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.portal.conftest import YEAR, PortalWorld, login

pytestmark = pytest.mark.skipif(not os.environ.get("TENURE_SCREENSHOTS"),
                                reason="screenshots are taken on demand (TENURE_SCREENSHOTS=1)")

SHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


@pytest.fixture
def english_page(browser: Any, portal_world: PortalWorld) -> Iterator[Any]:
    """A 1200x800 English page: the size the docs show."""
    context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def _save(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size < 200_000, f"{path} is too large for the docs"


def _english(page: Any) -> None:
    if page.locator("a[lang=en]").count():
        page.locator("a[lang=en]").first.click()


def test_screenshots_of_the_annual_cycle(english_page: Any, portal_world: PortalWorld) -> None:
    page, portal = english_page, portal_world.urls["portal"]
    login(page, portal_world, "group_hr")
    _english(page)
    page.click("a[href='/hr/bulk']")
    page.select_option("select[name=template_id]", portal_world.ids["template"])
    page.fill("input[name=start_date]", f"{YEAR}-01-01")
    page.click("#bulk-form button[type=submit]")
    page.wait_for_url(re.compile(r"/hr/bulk/[^/]+$"))
    page.wait_for_selector(".status[data-status=done], .status[data-status=partial]")
    _save(page, "hr-bulk-issue")
    portal_world.sync()
    m1 = portal_world.ids["m1"]
    login(page, portal_world, f"manager:{m1}")
    page.click("table a")
    page.locator("button", has_text=re.compile("Sign", re.I)).first.click()
    page.wait_for_selector(".flash")
    portal_world.sync()
    page.goto(page.url)
    _save(page, "manager-contract")
    login(page, portal_world, "group_hr")
    page.goto(portal + "/hr")
    _save(page, "hr-overview")
    rows = [{"employee_no": no, "year": YEAR, "kind": "annual", "source": "docs",
             "indicator_code": code, **value}
            for no, profit in (("A001", "1150"), ("B001", "900"))
            for code, value in (("PROFIT", {"value": profit}), ("ROE", {"value": "8"}),
                                ("COST", {"value": "65"}), ("PARTY", {"rating": "B"}),
                                ("SAFETY", {"veto_hit": False}))]
    portal_world.api("appraisal").call("POST", "/api/v1/actuals/bulk", json={"items": rows})
    page.goto(portal + "/hr/runs")
    page.fill("input[name=year]", str(YEAR))
    page.click("#start-run button[type=submit]")
    page.wait_for_url(re.compile(r"/hr/runs/[^/]+$"))
    page.wait_for_selector(".status[data-status=done]")
    for action in ("review", "approve", "publish"):
        page.click(f"button[value={action}]")
        page.wait_for_selector(".flash.ok")
    portal_world.sync()
    page.goto(portal + f"/hr/results?year={YEAR}")
    _save(page, "hr-results")
    login(page, portal_world, f"manager:{portal_world.ids['m2']}")
    page.goto(portal + "/me/inbox")
    _save(page, "manager-inbox")
