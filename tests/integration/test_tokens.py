"""Bearer tokens: our HS256 ones and an OIDC provider's (RS256/ES256 through discovery + JWKS).

The provider here is tests/support/oidc_issuer.py, a real HTTP server on 127.0.0.1, because
it must sign what no real provider would: claims of the wrong type. Keycloak itself is in
test_oidc_keycloak.py.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import jwt
import pytest

from services.contracts import create_app
from shared.auth import issue_token
from shared.config import OidcSettings, Settings
from tests.conftest import SECRET, service_settings
from tests.support.oidc_issuer import LocalIssuer, local_issuer

AUDIENCE = "tenure-api"
LIST = "/api/v1/org-units"

# Each makes a correctly signed token that must be refused with 401, never a 500.
WRONG_TYPED_CLAIMS: dict[str, dict[str, Any]] = {
    "roles_nested_list": {"roles": [["hr_admin"]]},
    "roles_list_of_numbers": {"roles": [1, 2]},
    "roles_object": {"roles": {"hr_admin": True}},
    "roles_empty": {"roles": []},
    "roles_unknown_only": {"roles": ["root"]},
    "org_scope_list": {"org_scope": ["S1", "S2"]},
    "org_scope_object": {"org_scope": {"id": "S1"}},
    "org_scope_number": {"org_scope": 7},
    "org_scope_with_nul": {"org_scope": "S1\u0000"},
    "org_scope_lone_surrogate": {"org_scope": "\ud800"},
    "manager_id_list": {"manager_id": ["M1"]},
    "manager_id_number": {"manager_id": 42},
    "manager_id_too_long": {"manager_id": "M" * 5000},
    "sub_number": {"sub": 12345},
    "sub_list": {"sub": ["hr-1"]},
    "sub_empty": {"sub": ""},
    "sub_control_character": {"sub": "hr\n1"},
    "exp_text": {"exp": "tomorrow"},
}


def _hs256(claims: dict[str, Any]) -> str:
    now = int(time.time())
    body = {"sub": "hr-1", "roles": ["hr_admin"], "iss": "tenure", "aud": "tenure",
            "iat": now, "exp": now + 300, **claims}
    return jwt.encode(body, SECRET, algorithm="HS256")


def _assert_refused(client: Any, token: str, status: int = 401) -> dict[str, Any]:
    resp = client.get(LIST, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()


@pytest.fixture
def hs256_client(sqlite_databases: Any) -> Iterator[Any]:
    app = create_app(service_settings("contracts", sqlite_databases.fresh("contracts")))
    yield app.test_client()
    app.extensions["tenure_db"].dispose()


def _oidc_settings(issuer: LocalIssuer, **changes: Any) -> OidcSettings:
    values: dict[str, Any] = {"issuer": issuer.url, "audience": AUDIENCE,
                              "jwks_min_refresh_seconds": 0.0, **changes}
    return OidcSettings(**values)


def _oidc_app(sqlite_databases: Any, oidc: OidcSettings, secret: str | None = None) -> Any:
    settings = service_settings("contracts", sqlite_databases.fresh("contracts"))
    return create_app(replace(settings, oidc=oidc, jwt_secret=secret))


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with local_issuer("RS256", "ES256") as provider:
        yield provider


@pytest.fixture
def oidc_client(sqlite_databases: Any, issuer: LocalIssuer) -> Iterator[Any]:
    app = _oidc_app(sqlite_databases, _oidc_settings(issuer))
    yield app.test_client()
    app.extensions["tenure_db"].dispose()


# -- HS256 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(WRONG_TYPED_CLAIMS))
def test_hs256_token_with_claims_of_the_wrong_type_gets_401(hs256_client: Any, case: str
                                                           ) -> None:
    body = _assert_refused(hs256_client, _hs256(WRONG_TYPED_CLAIMS[case]))
    assert body["status"] == 401


def test_hs256_token_with_well_typed_claims_is_taken(hs256_client: Any) -> None:
    token = _hs256({"org_scope": None, "manager_id": None})
    resp = hs256_client.get(LIST, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_hs256_token_is_refused_where_only_oidc_is_configured(sqlite_databases: Any,
                                                              issuer: LocalIssuer) -> None:
    app = _oidc_app(sqlite_databases, _oidc_settings(issuer), secret=None)
    body = _assert_refused(app.test_client(), issue_token(SECRET, "hr-1", ["hr_admin"]))
    assert "HS256" in body["detail"]


# -- OIDC: keys, issuer, audience ---------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_provider_token_is_taken_with_keys_found_through_discovery(
        oidc_client: Any, issuer: LocalIssuer, algorithm: str) -> None:
    key = next(k for k in issuer.keys if k.algorithm == algorithm)
    token = issuer.sign({"sub": "hr-1", "roles": ["hr_admin"]}, key)
    resp = oidc_client.get(LIST, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert "/.well-known/openid-configuration" in issuer.requests


@pytest.mark.parametrize("case", sorted(WRONG_TYPED_CLAIMS))
def test_provider_token_with_claims_of_the_wrong_type_gets_401(
        oidc_client: Any, issuer: LocalIssuer, case: str) -> None:
    claims = {"sub": "hr-1", "roles": ["hr_admin"], **WRONG_TYPED_CLAIMS[case]}
    _assert_refused(oidc_client, issuer.sign(claims))


def test_provider_roles_come_from_a_configured_nested_claim_and_unknown_ones_are_ignored(
        sqlite_databases: Any, issuer: LocalIssuer) -> None:
    oidc = _oidc_settings(issuer, roles_claim="realm_access.roles", scope_claim="tenure.scope")
    client = _oidc_app(sqlite_databases, oidc).test_client()
    token = issuer.sign({"sub": "kc-user", "realm_access": {
        "roles": ["offline_access", "default-roles-tenure", "hr_admin"]}})
    assert client.get(LIST, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # Only roles Tenure does not know: no role at all.
    token = issuer.sign({"sub": "kc-user", "realm_access": {"roles": ["offline_access"]}})
    _assert_refused(client, token)
    # The same nested path with the wrong type is still a 401.
    token = issuer.sign({"sub": "kc-user", "realm_access": {"roles": [["hr_admin"]]}})
    _assert_refused(client, token)


def test_provider_roles_are_renamed_through_the_role_map(sqlite_databases: Any,
                                                         issuer: LocalIssuer) -> None:
    oidc = _oidc_settings(issuer, role_map=(("HR.Admin", "hr_admin"),))
    client = _oidc_app(sqlite_databases, oidc).test_client()
    token = issuer.sign({"sub": "azure-user", "roles": ["HR.Admin"]})
    assert client.get(LIST, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_lone_role_sent_as_a_string_is_one_role(oidc_client: Any, issuer: LocalIssuer) -> None:
    token = issuer.sign({"sub": "adfs-user", "roles": "hr_admin"})
    assert oidc_client.get(LIST, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_provider_token_for_another_audience_is_refused(oidc_client: Any,
                                                        issuer: LocalIssuer) -> None:
    token = issuer.sign({"sub": "hr-1", "roles": ["hr_admin"]}, audience="reporting-api")
    assert "audience" in _assert_refused(oidc_client, token)["detail"].lower()


def test_provider_token_from_another_issuer_is_refused(oidc_client: Any, issuer: LocalIssuer
                                                       ) -> None:
    with local_issuer("RS256") as other:
        # The other provider's key carries a kid ours does not publish.
        _assert_refused(oidc_client, other.sign({"sub": "hr-1", "roles": ["hr_admin"]}))
        # Same kid as ours, signed by the other provider's key: the signature fails.
        other.keys[0].kid = issuer.keys[0].kid
        _assert_refused(oidc_client, other.sign({"sub": "hr-1", "roles": ["hr_admin"]}))
    # Our key, but the token says another issuer.
    token = issuer.sign({"sub": "hr-1", "roles": ["hr_admin"], "iss": "https://evil.example"})
    assert "issuer" in _assert_refused(oidc_client, token)["detail"].lower()


def test_expired_provider_token_is_refused(oidc_client: Any, issuer: LocalIssuer) -> None:
    _assert_refused(oidc_client, issuer.sign({"sub": "hr-1", "roles": ["hr_admin"]}, ttl=-120))


@pytest.mark.parametrize("alg", ["none", "HS256", "RS384"])
def test_provider_path_takes_only_the_configured_asymmetric_algorithms(
        oidc_client: Any, issuer: LocalIssuer, alg: str) -> None:
    claims = {"sub": "hr-1", "roles": ["hr_admin"], "iss": issuer.url, "aud": AUDIENCE,
              "exp": int(time.time()) + 300}
    if alg == "RS384":
        token = jwt.encode(claims, issuer.keys[0].private, algorithm="RS384",
                           headers={"kid": issuer.keys[0].kid})
    elif alg == "HS256":
        # The classic confusion: the provider's public key used as an HMAC secret.
        # (pyjwt will not sign that, so by hand.)
        def part(value: dict[str, Any]) -> bytes:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")

        signing_input = part({"alg": "HS256", "typ": "JWT", "kid": issuer.keys[0].kid}) + \
            b"." + part(claims)
        mac = hmac.new(json.dumps(issuer.keys[0].jwk).encode(), signing_input, "sha256")
        token = (signing_input + b"." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")
                 ).decode()
    else:
        token = jwt.encode(claims, None, algorithm="none")
    _assert_refused(oidc_client, token)


def test_rotated_key_is_fetched_once_and_then_taken(oidc_client: Any, issuer: LocalIssuer
                                                    ) -> None:
    first = issuer.sign({"sub": "hr-1", "roles": ["hr_admin"]})
    assert oidc_client.get(LIST, headers={"Authorization": f"Bearer {first}"}).status_code == 200
    fetched = issuer.jwks_fetches()
    new_key = issuer.add_key("RS256")  # the provider rotates
    for _ in range(3):
        token = issuer.sign({"sub": "hr-1", "roles": ["hr_admin"]}, new_key)
        resp = oidc_client.get(LIST, headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, resp.get_data(as_text=True)
    assert issuer.jwks_fetches() == fetched + 1


def test_unknown_key_ids_refetch_the_jwks_at_most_once_per_interval(
        sqlite_databases: Any, issuer: LocalIssuer) -> None:
    oidc = _oidc_settings(issuer, jwks_min_refresh_seconds=60.0)
    client = _oidc_app(sqlite_databases, oidc).test_client()
    good = issuer.sign({"sub": "hr-1", "roles": ["hr_admin"]})
    assert client.get(LIST, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    fetched = issuer.jwks_fetches()
    for n in range(20):
        token = issuer.sign({"sub": "hr-1", "roles": ["hr_admin"]}, kid=f"made-up-{n}")
        _assert_refused(client, token)
    assert issuer.jwks_fetches() == fetched  # the first fetch was just now: no refetch at all


def test_withdrawn_key_stops_working_once_the_cached_keys_expire(
        sqlite_databases: Any, issuer: LocalIssuer) -> None:
    oidc = _oidc_settings(issuer, jwks_cache_seconds=0.5)
    client = _oidc_app(sqlite_databases, oidc).test_client()
    old_key = issuer.keys[0]
    token = issuer.sign({"sub": "hr-1", "roles": ["hr_admin"]}, old_key)
    assert client.get(LIST, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    issuer.keys.remove(old_key)
    time.sleep(0.6)
    _assert_refused(client, token)  # even though this very token was verified before


def test_provider_unreachable_at_first_use_answers_503_then_recovers(
        sqlite_databases: Any, issuer: LocalIssuer) -> None:
    client = _oidc_app(sqlite_databases, _oidc_settings(issuer)).test_client()
    token = issuer.sign({"sub": "hr-1", "roles": ["hr_admin"]})
    issuer.down = True
    body = _assert_refused(client, token, status=503)
    assert "identity provider" in body["detail"]
    issuer.down = False
    assert client.get(LIST, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_keys_already_read_keep_working_while_the_provider_is_down(
        sqlite_databases: Any, issuer: LocalIssuer) -> None:
    oidc = _oidc_settings(issuer, jwks_cache_seconds=0.0)
    client = _oidc_app(sqlite_databases, oidc).test_client()
    headers = {"Authorization": f"Bearer {issuer.sign({'sub': 'a', 'roles': ['hr_admin']})}"}
    assert client.get(LIST, headers=headers).status_code == 200
    issuer.down = True
    again = {"Authorization": f"Bearer {issuer.sign({'sub': 'b', 'roles': ['hr_admin']})}"}
    assert client.get(LIST, headers=again).status_code == 200


def test_discovery_document_naming_another_issuer_is_not_trusted(
        sqlite_databases: Any, issuer: LocalIssuer) -> None:
    oidc = OidcSettings(issuer=issuer.url + "/", audience=AUDIENCE,
                        discovery_url=issuer.url + "/.well-known/openid-configuration")
    client = _oidc_app(sqlite_databases, oidc).test_client()
    token = issuer.sign({"sub": "hr-1", "roles": ["hr_admin"], "iss": issuer.url + "/"})
    _assert_refused(client, token, status=503)


# -- the settings -------------------------------------------------------------------------------


def test_oidc_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_ISSUER", "https://login.example/realms/hr")
    monkeypatch.setenv("OIDC_AUDIENCE", "tenure-api")
    monkeypatch.setenv("OIDC_ROLES_CLAIM", "realm_access.roles")
    monkeypatch.setenv("OIDC_SCOPE_CLAIM", "tenure_org")
    monkeypatch.setenv("OIDC_MANAGER_CLAIM", "employee")
    monkeypatch.setenv("OIDC_ROLE_MAP", "HR.Admin=hr_admin, Mgr=manager")
    monkeypatch.setenv("CONTRACTS_OIDC_ALGORITHMS", "ES256")
    oidc = Settings.from_env("contracts").oidc
    assert oidc is not None
    assert oidc.discovery_document_url == \
        "https://login.example/realms/hr/.well-known/openid-configuration"
    assert (oidc.roles_claim, oidc.scope_claim, oidc.manager_claim) == \
        ("realm_access.roles", "tenure_org", "employee")
    assert oidc.role_map == (("HR.Admin", "hr_admin"), ("Mgr", "manager"))
    assert oidc.algorithms == ("ES256",)
    assert Settings.from_env("appraisal").oidc.algorithms == ("RS256", "ES256")  # type: ignore
