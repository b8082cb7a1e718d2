"""The portal in front of the three services, each on a real socket, and a real Chromium.

The services run on SQLite; what their relays would publish (the outbox rows) is handed to
the other services' event handlers by `sync()`, so contracts, appraisal and notifications
agree as they would behind Kafka. The browser is Debian's chromium driven by Playwright.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from services.appraisal import create_app as create_appraisal_app
from services.appraisal.events import handle_contract_event
from services.contracts import create_app as create_contracts_app
from services.contracts.events import handle_appraisal_outcome
from services.notifications import create_app as create_notifications_app
from services.notifications.config import NotificationConfig
from services.notifications.events import apply_event
from services.portal import create_app as create_portal_app
from services.portal.config import PortalSettings
from shared.events.envelope import decode_envelope
from tests.conftest import SECRET, auth, service_settings
from tests.support.contracts_world import STANDARD_INDICATORS, STANDARD_TARGETS
from tests.support.served import served

AXE = Path(__file__).resolve().parents[2] / "browser" / "node_modules" / "axe-core" / "axe.min.js"
YEAR = 2026


class Http:
    """The services' APIs over HTTP as group HR, with status checks."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base, self.headers = base, headers

    def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        resp = requests.request(method, self.base + path, headers=self.headers, timeout=30,
                                **kw)
        assert resp.status_code == expect, (method, path, resp.status_code, resp.text)
        return resp.json() if resp.content else None


@dataclass
class PortalWorld:
    urls: dict[str, str]
    apps: dict[str, Any]
    ids: dict[str, str] = field(default_factory=dict)
    synced: dict[str, int] = field(default_factory=dict)

    def api(self, service: str, roles: tuple[str, ...] = ("hr_admin",), **token: Any) -> Http:
        return Http(self.urls[service], auth(*roles, **token))

    def sync(self) -> None:
        """Deliver every new outbox event to the services that consume it."""
        config = NotificationConfig(portal_url=self.urls["portal"])
        for source in ("contracts", "appraisal"):
            table = self.apps[source].extensions["tenure_tables"]["outbox"]
            db = self.apps[source].extensions["tenure_db"]
            with db.engine.connect() as conn:
                rows = conn.execute(select(table.c.id, table.c.payload).where(
                    table.c.id > self.synced.get(source, 0)).order_by(table.c.id)).all()
            for row_id, payload in rows:
                envelope = decode_envelope(payload)
                if source == "contracts":
                    with self.apps["appraisal"].extensions["tenure_db"].unit_of_work() as s:
                        handle_contract_event(s, envelope)
                elif envelope["type"] in ("exit.triggered", "tenure.concluded"):
                    with self.apps["contracts"].extensions["tenure_db"].unit_of_work() as s:
                        handle_appraisal_outcome(s, envelope)
                with self.apps["notifications"].extensions["tenure_db"].unit_of_work() as s:
                    apply_event(s, envelope, config)
                self.synced[source] = row_id


def _seed(world: PortalWorld) -> None:
    hr = world.api("contracts")
    units = {}
    units["HQ"] = hr.call("POST", "/api/v1/org-units", 201, json={
        "code": "HQ", "name": "集团总部 Group HQ", "kind": "group", "category":
        "commercial_competitive", "has_board": True})
    units["S1"] = hr.call("POST", "/api/v1/org-units", 201, json={
        "code": "S1", "name": "Alpha Energy", "kind": "enterprise", "parent_id":
        units["HQ"]["id"], "category": "commercial_competitive", "has_board": True})
    units["S2"] = hr.call("POST", "/api/v1/org-units", 201, json={
        "code": "S2", "name": "Beta Water", "kind": "enterprise", "parent_id":
        units["HQ"]["id"], "category": "commercial_competitive", "has_board": False})
    for indicator in STANDARD_INDICATORS:
        hr.call("POST", "/api/v1/indicators", 201, json=indicator)
    template = hr.call("POST", "/api/v1/templates", 201, json={
        "name": "GM, layer 2", "layer": 2, "category": "commercial_competitive",
        "position": "general_manager", "term_years": 3, "targets": STANDARD_TARGETS})
    people = {}
    for key, no, name, unit, position in (
            ("m1", "A001", "Zhang Wei", "S1", "general_manager"),
            ("m2", "B001", "Li Na", "S2", "general_manager"),
            ("chair", "A000", "Chen Jie", "S1", "chair")):
        people[key] = hr.call("POST", "/api/v1/managers", 201, json={
            "employee_no": no, "name": name, "email": f"{no.lower()}@example.com",
            "org_unit_id": units[unit]["id"], "position": position, "language": "zh"})
    world.ids.update({"hq": units["HQ"]["id"], "s1": units["S1"]["id"],
                      "s2": units["S2"]["id"], "template": template["id"],
                      "m1": people["m1"]["id"], "m2": people["m2"]["id"],
                      "chair": people["chair"]["id"]})
    # Li Na (S2) already has a signed contract: bulk issue must skip her.
    c = hr.call("POST", "/api/v1/contracts", 201, json={
        "manager_id": people["m2"]["id"], "template_id": template["id"],
        "start_date": f"{YEAR}-01-01"})
    hr.call("POST", f"/api/v1/contracts/{c['id']}/issue")
    own = world.api("contracts", roles=("manager",), subject="m2",
                    manager_id=people["m2"]["id"])
    own.call("POST", f"/api/v1/contracts/{c['id']}/sign", json={})
    # Nobody holds the parent's general manager post here: HR records the paper signature.
    hr.call("POST", f"/api/v1/contracts/{c['id']}/sign", json={
        "method": "paper", "party": "employer", "signed_on": f"{YEAR}-01-02",
        "paper_reference": "HQ-2026-001"})
    world.ids["c2"] = c["id"]
    world.sync()


@contextmanager
def seeded_portal_world(folder: Path) -> Iterator[PortalWorld]:
    """The three services on SQLite files in `folder` and the portal, each on a socket,
    with the seed above (used by the browser tests and bench/bench_portal.py)."""
    from tests.support.databases import SqliteDatabases

    dbs = SqliteDatabases(folder)
    apps = {"contracts": create_contracts_app(service_settings("contracts",
                                                              dbs.fresh("contracts"))),
            "appraisal": create_appraisal_app(service_settings("appraisal",
                                                              dbs.fresh("appraisal"))),
            "notifications": create_notifications_app(service_settings(
                "notifications", dbs.fresh("notifications")))}
    with ExitStack() as stack:
        urls = {name: stack.enter_context(served(app)) for name, app in apps.items()}
        portal = create_portal_app(PortalSettings(
            contracts_url=urls["contracts"], appraisal_url=urls["appraisal"],
            notifications_url=urls["notifications"], secret_key="p" * 48,
            development=True, jwt_secret=SECRET, testing=True))
        urls["portal"] = stack.enter_context(served(portal))
        world = PortalWorld(urls, apps)
        _seed(world)
        yield world


@pytest.fixture(scope="module")
def portal_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalWorld]:
    with seeded_portal_world(tmp_path_factory.mktemp("portal-dbs")) as world:
        yield world


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed (deploy/local/install-system-deps.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, portal_world: PortalWorld) -> Iterator[Any]:
    """A fresh browser context (no cookies) that may reach the portal only."""
    context = browser.new_context(locale="zh-CN", accept_downloads=True)
    elsewhere: list[str] = []

    def only_portal(route: Any) -> None:
        if route.request.url.startswith(portal_world.urls["portal"]):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_portal)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()
    assert elsewhere == [], f"pages asked other hosts: {elsewhere}"


def login(page: Any, world: PortalWorld, person_key: str) -> None:
    page.goto(world.urls["portal"] + "/login")
    page.check(f"input[name=person][value='{person_key}']")
    page.click("form[action='/login/dev'] button[type=submit]")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical accessibility violations on the page, per axe-core."""
    assert AXE.exists(), f"axe-core is installed by `make test` (npm ci in {AXE.parents[2]})"
    page.evaluate(AXE.read_text())  # evaluated by the driver: the page's CSP stays on
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]
