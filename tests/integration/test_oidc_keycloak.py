"""The contracts API taking a real Keycloak's tokens (realm deploy/keycloak/tenure-realm.json).

Roles come from Keycloak realm roles (`realm_access.roles`); org_scope and manager_id from
user attributes through protocol mappers, for a person and for a client's service account.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from services.contracts import create_app
from shared.config import OidcSettings
from tests.conftest import service_settings
from tests.support.contracts_world import Client, manager, unit

REALM = "tenure"
AUDIENCE = "tenure-api"
HR_SYSTEM = {"client_id": "tenure-hr-system", "client_secret": "tenure-hr-system-local-only-secret"}
HR_SYSTEM_ACCOUNT = "service-account-tenure-hr-system"
KEY_PROVIDER = "org.keycloak.keys.KeyProvider"

pytestmark = pytest.mark.keycloak


def header_of(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


def hr_system_token(keycloak: Any) -> str:
    return keycloak.token(grant_type="client_credentials", **HR_SYSTEM)["access_token"]


def login(keycloak: Any, username: str, password: str) -> str:
    return keycloak.token(grant_type="password", client_id="tenure-portal", username=username,
                          password=password, scope="openid")["access_token"]


def rows(page: Any) -> list[dict[str, Any]]:
    return page["items"] if isinstance(page, dict) else page


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def realm_mappers(audience: str = AUDIENCE) -> list[dict[str, Any]]:
    """The protocol mappers the realm file gives its clients, for another audience if asked."""
    from local_keycloak import DEFAULT_REALM_FILE

    realm = json.loads(DEFAULT_REALM_FILE.read_text())
    mappers = copy.deepcopy(realm["clients"][0]["protocolMappers"])
    for mapper in mappers:
        if mapper["protocolMapper"] == "oidc-audience-mapper":
            mapper["config"]["included.custom.audience"] = audience
    return mappers


def service_client(keycloak: Any, realm: str, client_id: str, mappers: list[dict[str, Any]],
                   role: str = "hr_admin") -> dict[str, str]:
    """A confidential client whose service account holds `role`; its credentials."""
    admin = keycloak.admin()
    secret = f"{client_id}-local-only-secret"
    admin.call("POST", f"/realms/{realm}/clients", {
        "clientId": client_id, "enabled": True, "publicClient": False,
        "secret": secret, "serviceAccountsEnabled": True, "standardFlowEnabled": False,
        "protocolMappers": mappers})
    client = admin.client(realm, client_id)
    account = admin.call("GET", f"/realms/{realm}/clients/{client['id']}/service-account-user")
    role_rep = admin.call("GET", f"/realms/{realm}/roles/{role}")
    admin.call("POST", f"/realms/{realm}/users/{account['id']}/role-mappings/realm", [role_rep])
    return {"client_id": client_id, "client_secret": secret}


@pytest.fixture(scope="module")
def oidc(keycloak: Any) -> OidcSettings:
    # Keys are re-read every second here, so a withdrawn key is seen within the test.
    return OidcSettings(issuer=keycloak.issuer(REALM), audience=AUDIENCE,
                        roles_claim="realm_access.roles", jwks_cache_seconds=1.0,
                        jwks_min_refresh_seconds=0.0)


@pytest.fixture
def app(oidc: OidcSettings, sqlite_databases: Any) -> Iterator[Any]:
    settings = service_settings("contracts", sqlite_databases.fresh("contracts"))
    application = create_app(replace(settings, oidc=oidc, jwt_secret=None))
    yield application
    application.extensions["tenure_db"].dispose()


@pytest.fixture
def hr_system(app: Any, keycloak: Any) -> Client:
    return Client(app.test_client(), bearer(hr_system_token(keycloak)))


@pytest.fixture
def group(hr_system: Client) -> dict[str, Any]:
    root = unit(hr_system, "ROOT", "group")
    s1 = unit(hr_system, "S1", "enterprise", root["id"])
    s2 = unit(hr_system, "S2", "enterprise", root["id"])
    return {"root": root, "s1": s1, "s2": s2,
            "m1": manager(hr_system, "M1", s1["id"]), "m2": manager(hr_system, "M2", s2["id"])}


def test_hr_system_with_client_credentials_writes_group_wide(hr_system: Client,
                                                             group: dict[str, Any]) -> None:
    codes = {u["code"] for u in rows(hr_system.get("/api/v1/org-units").get_json())}
    assert {"ROOT", "S1", "S2"} <= codes


def test_hr_system_scoped_by_its_service_account_attribute_sees_only_its_subtree(
        app: Any, keycloak: Any, group: dict[str, Any]) -> None:
    admin = keycloak.admin()
    admin.set_user_attributes(REALM, HR_SYSTEM_ACCOUNT, org_scope=group["s1"]["id"])
    try:
        token = hr_system_token(keycloak)
    finally:
        admin.set_user_attributes(REALM, HR_SYSTEM_ACCOUNT, org_scope=None)
    scoped = Client(app.test_client(), bearer(token))
    assert {m["employee_no"] for m in rows(scoped.get("/api/v1/managers").get_json())} == {"M1"}
    other = scoped.get(f"/api/v1/managers/{group['m2']['id']}", expect=None)
    assert other.status_code in (403, 404)


def test_a_manager_logs_in_with_a_password_and_reads_only_their_own_record(
        app: Any, keycloak: Any, group: dict[str, Any]) -> None:
    admin = keycloak.admin()
    admin.set_user_attributes(REALM, "m1.manager", manager_id=group["m1"]["id"])
    try:
        token = login(keycloak, "m1.manager", "manager-local-only")
    finally:
        admin.set_user_attributes(REALM, "m1.manager", manager_id=None)
    person = Client(app.test_client(), bearer(token))
    assert person.get(f"/api/v1/managers/{group['m1']['id']}").get_json()["employee_no"] == "M1"
    other = person.get(f"/api/v1/managers/{group['m2']['id']}", expect=None)
    assert other.status_code in (403, 404)
    person.post("/api/v1/org-units", {"code": "X", "name": "X", "kind": "group",
                                      "category": "commercial_competitive"}, expect=403)


def test_a_token_for_another_audience_is_refused(app: Any, keycloak: Any) -> None:
    credentials = service_client(keycloak, REALM, "reporting-system",
                                 realm_mappers(audience="reporting-api"))
    token = keycloak.token(grant_type="client_credentials", **credentials)["access_token"]
    resp = app.test_client().get("/api/v1/org-units", headers=bearer(token))
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"
    assert "audience" in resp.get_json()["detail"].lower()


def test_a_token_from_another_realm_is_refused(app: Any, keycloak: Any) -> None:
    keycloak.admin().import_realm({"realm": "other", "enabled": True,
                                   "roles": {"realm": [{"name": "hr_admin"}]}})
    credentials = service_client(keycloak, "other", "other-hr-system", realm_mappers())
    token = keycloak.token("other", grant_type="client_credentials",
                           **credentials)["access_token"]
    resp = app.test_client().get("/api/v1/org-units", headers=bearer(token))
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"


def test_a_claim_of_the_wrong_type_from_a_mapper_gets_401(app: Any, keycloak: Any) -> None:
    mappers = [*realm_mappers(), {
        "name": "org_scope as a list", "protocol": "openid-connect",
        "protocolMapper": "oidc-hardcoded-claim-mapper",
        "config": {"claim.name": "org_scope", "claim.value": '["S1", "S2"]',
                   "jsonType.label": "JSON", "access.token.claim": "true"}}]
    mappers = [m for m in mappers if m["name"] != "org_scope (user attribute)"]
    credentials = service_client(keycloak, REALM, "misconfigured-system", mappers)
    token = keycloak.token(grant_type="client_credentials", **credentials)["access_token"]
    resp = app.test_client().get("/api/v1/org-units", headers=bearer(token))
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"


def test_es256_tokens_of_an_ec_key_are_taken(app: Any, keycloak: Any) -> None:
    admin = keycloak.admin()
    realm_id = admin.realm_id(REALM)
    admin.call("POST", f"/realms/{REALM}/components", {
        "name": "ec-p256", "providerId": "ecdsa-generated", "providerType": KEY_PROVIDER,
        "parentId": realm_id, "config": {"priority": ["100"], "ecdsaEllipticCurveKey": ["P-256"],
                                         "active": ["true"], "enabled": ["true"]}})
    client = admin.client(REALM, "tenure-hr-system")
    client["attributes"]["access.token.signed.response.alg"] = "ES256"
    admin.call("PUT", f"/realms/{REALM}/clients/{client['id']}", client)
    try:
        token = hr_system_token(keycloak)
    finally:
        client["attributes"]["access.token.signed.response.alg"] = ""
        admin.call("PUT", f"/realms/{REALM}/clients/{client['id']}", client)
    assert header_of(token)["alg"] == "ES256"
    assert app.test_client().get("/api/v1/org-units", headers=bearer(token)).status_code == 200


def test_key_rotation_new_key_taken_and_tokens_of_the_removed_key_refused(
        app: Any, keycloak: Any) -> None:
    admin = keycloak.admin()
    client = app.test_client()
    before = hr_system_token(keycloak)
    assert client.get("/api/v1/org-units", headers=bearer(before)).status_code == 200
    old_kid = header_of(before)["kid"]
    old_providers = [p for p in admin.key_providers(REALM) if p["providerId"] == "rsa-generated"]
    admin.call("POST", f"/realms/{REALM}/components", {
        "name": "rotated-rsa", "providerId": "rsa-generated", "providerType": KEY_PROVIDER,
        "parentId": admin.realm_id(REALM),
        "config": {"priority": ["500"], "keySize": ["2048"], "algorithm": ["RS256"],
                   "active": ["true"], "enabled": ["true"]}})
    after = hr_system_token(keycloak)
    assert header_of(after)["kid"] != old_kid
    # A kid not seen yet: the service reads the JWKS again and takes the token.
    assert client.get("/api/v1/org-units", headers=bearer(after)).status_code == 200
    # The old key is still published, so its tokens still work until it is removed.
    assert client.get("/api/v1/org-units", headers=bearer(before)).status_code == 200
    for provider in old_providers:
        admin.call("DELETE", f"/realms/{REALM}/components/{provider['id']}")
    time.sleep(1.2)  # the service's key cache (1 s here; 300 s by default) runs out
    refused = client.get("/api/v1/org-units", headers=bearer(before))
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert client.get("/api/v1/org-units", headers=bearer(after)).status_code == 200
