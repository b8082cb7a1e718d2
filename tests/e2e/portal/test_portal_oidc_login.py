"""Outside development, a person logs in to the portal at the identity provider: a real
Keycloak, the authorization code flow with PKCE, in a real browser; the portal then calls
the services with that person's own token."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from services.contracts import create_app as create_contracts_app
from services.portal import create_app as create_portal_app
from services.portal.config import PortalSettings
from shared.config import OidcSettings
from tests.conftest import service_settings
from tests.support.served import served

pytestmark = pytest.mark.keycloak
REALM = "tenure"


@pytest.fixture
def oidc_portal(keycloak: Any, sqlite_databases: Any) -> Iterator[dict[str, Any]]:
    oidc = OidcSettings(issuer=keycloak.issuer(REALM), audience="tenure-api",
                        roles_claim="realm_access.roles")
    settings = service_settings("contracts", sqlite_databases.fresh("contracts"))
    contracts = create_contracts_app(replace(settings, oidc=oidc, jwt_secret=None))
    hr = {"Authorization": "Bearer " + keycloak.token(
        grant_type="client_credentials", client_id="tenure-hr-system",
        client_secret="tenure-hr-system-local-only-secret")["access_token"]}
    with ExitStack() as stack:
        contracts_url = stack.enter_context(served(contracts))
        made = requests.post(f"{contracts_url}/api/v1/org-units", headers=hr, timeout=30,
                             json={"code": "K1", "name": "Kilo Group", "kind": "group",
                                   "category": "commercial_competitive"})
        assert made.status_code == 201, made.text
        unit = made.json()
        made = requests.post(f"{contracts_url}/api/v1/managers", headers=hr, timeout=30,
                             json={"employee_no": "K001", "name": "Wang Fang",
                                   "email": "k001@example.com", "org_unit_id": unit["id"],
                                   "position": "general_manager", "language": "zh"})
        assert made.status_code == 201, made.text
        manager = made.json()
        keycloak.admin().set_user_attributes(REALM, "m1.manager", manager_id=manager["id"])
        stack.callback(keycloak.admin().set_user_attributes, REALM, "m1.manager",
                       manager_id=None)
        portal = create_portal_app(PortalSettings(
            contracts_url=contracts_url, appraisal_url="http://127.0.0.1:9",
            notifications_url="http://127.0.0.1:9", secret_key="k" * 48, development=False,
            oidc_issuer=keycloak.issuer(REALM), oidc_client_id="tenure-portal",
            oidc_roles_claim="realm_access.roles", testing=True))
        yield {"portal": stack.enter_context(served(portal)), "manager": manager}
        contracts.extensions["tenure_db"].dispose()


def test_a_manager_logs_in_at_the_identity_provider_with_pkce(oidc_portal: dict[str, Any],
                                                               keycloak: Any) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is installed by install-system-deps.sh"
    from playwright.sync_api import sync_playwright

    asked: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(locale="zh-CN")
            page.on("request", lambda r: asked.append(r.url))
            page.goto(oidc_portal["portal"] + "/me")
            page.wait_for_selector("#username", timeout=60_000)  # Keycloak's login form
            page.fill("#username", "m1.manager")
            page.fill("#password", "manager-local-only")
            page.click("#kc-login")
            page.wait_for_url(oidc_portal["portal"] + "/me", timeout=60_000)
            heading = page.locator("h1").inner_text()
            who = page.locator(".person").inner_text()
            cookies = page.context.cookies()
        finally:
            browser.close()
    assert heading == "我的合同"
    assert who  # the person's name from the provider
    authorize = next(u for u in asked if "/protocol/openid-connect/auth" in u)
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["response_type"] == ["code"] and query["client_id"] == ["tenure-portal"]
    session = next(c for c in cookies if c["name"] == "tenure_portal")
    assert session["httpOnly"] is True and session["sameSite"] == "Lax"


def test_outside_development_there_is_no_demo_login(oidc_portal: dict[str, Any]) -> None:
    resp = requests.post(oidc_portal["portal"] + "/login/dev", data={"person": "group_hr"},
                         timeout=30, allow_redirects=False)
    assert resp.status_code in (400, 404)  # no CSRF token, and no such door anyway
    assert "tenure_portal" not in resp.headers.get("Set-Cookie", "") or \
        "person" not in resp.headers.get("Set-Cookie", "")
