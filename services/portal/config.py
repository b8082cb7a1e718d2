"""What the portal reads from its environment: where the services are, and how people log in."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from shared.config import DEFAULT_PORTS, DEV_JWT_SECRET

PORTAL_PORT = 8004


def _url(service: str) -> str:
    explicit = os.environ.get(f"PORTAL_{service.upper()}_URL")
    if explicit:
        return explicit.rstrip("/")
    port = os.environ.get(f"{service.upper()}_PORT", str(DEFAULT_PORTS[service]))
    return f"http://127.0.0.1:{port}"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class PortalSettings:
    """The portal keeps no data of its own: only these settings and each person's session.

    `development` turns on the demo login, which mints tokens with the shared development
    secret for a person chosen from a list. Anywhere else people log in through the OIDC
    provider (authorization code flow with PKCE) and the services check its tokens.
    """

    contracts_url: str
    appraisal_url: str
    notifications_url: str
    secret_key: str
    development: bool
    jwt_secret: str | None = None
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid profile"
    #: Where the provider's access token carries roles, org scope and manager id (dotted
    #: paths, as the services read them: OIDC_ROLES_CLAIM, OIDC_SCOPE_CLAIM, ...).
    oidc_roles_claim: str = "roles"
    oidc_scope_claim: str = "org_scope"
    oidc_manager_claim: str = "manager_id"
    oidc_discovery_url: str | None = None
    secure_cookies: bool = False
    port: int = PORTAL_PORT
    timeout_seconds: float = 15.0
    testing: bool = False

    @classmethod
    def from_env(cls, **overrides: object) -> PortalSettings:
        development = _truthy(os.environ.get("TENURE_DEV")) or os.environ.get(
            "TENURE_ENV", "").lower() == "development"
        secret_key = os.environ.get("PORTAL_SECRET_KEY") or ""
        if not secret_key and development:
            secret_key = secrets.token_urlsafe(32)  # sessions last as long as the process
        values: dict[str, object] = {
            "contracts_url": _url("contracts"),
            "appraisal_url": _url("appraisal"),
            "notifications_url": _url("notifications"),
            "secret_key": secret_key,
            "development": development,
            "jwt_secret": os.environ.get("JWT_SECRET") or (DEV_JWT_SECRET if development
                                                            else None),
            "oidc_issuer": os.environ.get("OIDC_ISSUER") or None,
            "oidc_client_id": os.environ.get("PORTAL_OIDC_CLIENT_ID") or None,
            "oidc_client_secret": os.environ.get("PORTAL_OIDC_CLIENT_SECRET") or None,
            "oidc_roles_claim": os.environ.get("OIDC_ROLES_CLAIM") or "roles",
            "oidc_scope_claim": os.environ.get("OIDC_SCOPE_CLAIM") or "org_scope",
            "oidc_manager_claim": os.environ.get("OIDC_MANAGER_CLAIM") or "manager_id",
            "oidc_discovery_url": os.environ.get("OIDC_DISCOVERY_URL") or None,
            "secure_cookies": _truthy(os.environ.get("PORTAL_SECURE_COOKIES")),
            "port": int(os.environ.get("PORTAL_PORT", PORTAL_PORT)),
        }
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse to start where nobody could log in safely."""
        if not self.development and len(self.secret_key.encode()) < 32:
            raise RuntimeError("PORTAL_SECRET_KEY must be set to at least 32 bytes outside "
                               "development (it signs the session cookies)")
        if not self.development and not (self.oidc_issuer and self.oidc_client_id):
            raise RuntimeError("Outside development the portal logs people in through OIDC: "
                               "set OIDC_ISSUER and PORTAL_OIDC_CLIENT_ID")
