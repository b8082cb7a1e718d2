"""Service configuration read from environment variables, with safe local defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTS = {"contracts": 8001, "appraisal": 8002, "notifications": 8003}
DEV_JWT_SECRET = "tenure-dev-secret-change-me-in-production"
DEVELOPMENT = "development"
MIN_SECRET_BYTES = 32
# Secrets that were ever written down in this repository: refused outside development whatever
# their length, and so is anything that still says to change it.
PLACEHOLDER_SECRETS = frozenset({
    DEV_JWT_SECRET,
    "CHANGE-ME-local-compose-jwt-secret",
    "CHANGE-ME-at-least-32-random-bytes",
    "test-only-secret",
})
PLACEHOLDER_MARKERS = ("change-me", "changeme", "placeholder")


class UnsafeConfiguration(RuntimeError):
    """Raised at start when a process outside development has no safe way to check tokens."""


def _env(service: str, name: str, default: str | None = None) -> str | None:
    """A service-specific variable (CONTRACTS_DATABASE_URL) wins over the shared one."""
    specific = os.environ.get(f"{service.upper()}_{name}")
    if specific is not None:
        return specific
    return os.environ.get(name, default)


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def environment_name() -> str:
    """TENURE_ENV: `development` only where `make run` (or a test session) says so."""
    return (os.environ.get("TENURE_ENV") or "production").strip().lower()


def is_placeholder_secret(secret: str) -> bool:
    lowered = secret.lower()
    return secret in PLACEHOLDER_SECRETS or any(m in lowered for m in PLACEHOLDER_MARKERS)


@dataclass(frozen=True)
class OidcSettings:
    """Where an OpenID Connect provider's tokens come from and how their claims map to ours.

    Claim names are dotted paths into the token (`realm_access.roles` for Keycloak realm
    roles). `role_map` renames provider roles to Tenure roles (`HR.Admin` -> `hr_admin`).
    """

    issuer: str
    audience: str
    discovery_url: str = ""  # default: <issuer>/.well-known/openid-configuration
    jwks_url: str = ""  # default: the discovery document's jwks_uri
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    roles_claim: str = "roles"
    scope_claim: str = "org_scope"
    manager_claim: str = "manager_id"
    subject_claim: str = "sub"
    role_map: tuple[tuple[str, str], ...] = ()
    jwks_cache_seconds: float = 300.0  # keys are re-read at least this often
    jwks_min_refresh_seconds: float = 10.0  # an unknown kid refetches at most this often
    http_timeout_seconds: float = 5.0
    leeway_seconds: int = 30

    @property
    def discovery_document_url(self) -> str:
        return self.discovery_url or self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @classmethod
    def from_env(cls, service: str) -> OidcSettings | None:
        issuer = (_env(service, "OIDC_ISSUER") or "").strip()
        if not issuer:
            return None
        values: dict[str, object] = {"issuer": issuer,
                                     "audience": (_env(service, "OIDC_AUDIENCE") or "").strip()}
        for name, key in (("OIDC_DISCOVERY_URL", "discovery_url"), ("OIDC_JWKS_URL", "jwks_url"),
                          ("OIDC_ROLES_CLAIM", "roles_claim"),
                          ("OIDC_SCOPE_CLAIM", "scope_claim"),
                          ("OIDC_MANAGER_CLAIM", "manager_claim"),
                          ("OIDC_SUBJECT_CLAIM", "subject_claim")):
            value = _env(service, name)
            if value is not None and value.strip():
                values[key] = value.strip()
        algorithms = _env(service, "OIDC_ALGORITHMS")
        if algorithms:
            values["algorithms"] = tuple(a.strip() for a in algorithms.split(",") if a.strip())
        role_map = _env(service, "OIDC_ROLE_MAP")
        if role_map:
            pairs = [item.split("=", 1) for item in role_map.split(",") if "=" in item]
            values["role_map"] = tuple((k.strip(), v.strip()) for k, v in pairs)
        for name, key in (("OIDC_JWKS_CACHE_SECONDS", "jwks_cache_seconds"),
                          ("OIDC_JWKS_MIN_REFRESH_SECONDS", "jwks_min_refresh_seconds"),
                          ("OIDC_HTTP_TIMEOUT_SECONDS", "http_timeout_seconds")):
            value = _env(service, name)
            if value:
                values[key] = float(value)
        leeway = _env(service, "OIDC_LEEWAY_SECONDS")
        if leeway:
            values["leeway_seconds"] = int(leeway)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Settings:
    """Everything a service reads from its environment, resolved once at start."""

    service: str
    database_url: str
    port: int
    kafka_bootstrap: str | None
    jwt_secret: str | None  # HS256; None: only OIDC tokens are taken
    jwt_issuer: str = "tenure"
    jwt_audience: str = "tenure"
    log_level: str = "INFO"
    log_json: bool = True
    read_cache: bool = True  # serve hot reads from memory on PostgreSQL (READ_CACHE=off)
    access_log: bool = True  # one JSON line per request (ACCESS_LOG=off)
    trusted_proxies: int = 0  # proxies whose X-Forwarded-For/-Proto we believe (TRUSTED_PROXIES)
    metrics_port: int = 0  # /metrics on its own port, served by gunicorn's master (METRICS_PORT)
    testing: bool = False
    oidc: OidcSettings | None = None
    environment: str = "production"
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_development(self) -> bool:
        return self.environment == DEVELOPMENT

    def refuse_unsafe(self) -> None:
        """Outside development, stop a process that would take guessable tokens.

        It needs an HS256 secret of at least 32 bytes that is no known placeholder, or an
        OIDC issuer (with an audience); a secret that is set must be a safe one even beside
        OIDC. In development (TENURE_ENV=development) the embedded dev secret is fine.
        """
        if self.is_development:
            return
        where = f"{self.service} (TENURE_ENV={self.environment}) refuses to start"
        secret = self.jwt_secret
        if self.oidc is not None and not self.oidc.audience:
            raise UnsafeConfiguration(
                f"{where}: OIDC_ISSUER is set but OIDC_AUDIENCE is not; without an audience "
                "any token of the issuer would be taken. Set OIDC_AUDIENCE.")
        if secret is None:
            if self.oidc is None:
                raise UnsafeConfiguration(
                    f"{where}: it has no way to check tokens: set JWT_SECRET "
                    f"(at least {MIN_SECRET_BYTES} random bytes, e.g. `openssl rand -hex 32`) "
                    "or OIDC_ISSUER and OIDC_AUDIENCE; for local work set "
                    "TENURE_ENV=development.")
            return
        if is_placeholder_secret(secret):
            raise UnsafeConfiguration(
                f"{where}: JWT_SECRET is a published placeholder (anyone can sign tokens with "
                "it); set a random one, e.g. `openssl rand -hex 32`, or use OIDC_ISSUER.")
        if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise UnsafeConfiguration(
                f"{where}: JWT_SECRET is {len(secret.encode('utf-8'))} bytes; it needs at "
                f"least {MIN_SECRET_BYTES} random bytes (e.g. `openssl rand -hex 32`).")

    @classmethod
    def from_env(cls, service: str, **overrides: object) -> Settings:
        var_dir = Path(os.environ.get("TENURE_VAR_DIR", REPO_ROOT / "var"))
        default_db = f"sqlite:///{var_dir / (service + '.db')}"
        environment = environment_name()
        values: dict[str, object] = {
            "service": service,
            "environment": environment,
            "oidc": OidcSettings.from_env(service),
            "database_url": _env(service, "DATABASE_URL", default_db),
            "port": int(_env(service, "PORT", str(DEFAULT_PORTS.get(service, 8000))) or 0),
            "kafka_bootstrap": _env(service, "KAFKA_BOOTSTRAP_SERVERS") or None,
            "jwt_secret": _env(service, "JWT_SECRET") or (
                DEV_JWT_SECRET if environment == DEVELOPMENT else None),
            "log_level": _env(service, "LOG_LEVEL", "INFO"),
            "log_json": _bool(_env(service, "LOG_JSON"), True),
            "read_cache": _bool(_env(service, "READ_CACHE"), True),
            "access_log": _bool(_env(service, "ACCESS_LOG"), True),
            "trusted_proxies": int(_env(service, "TRUSTED_PROXIES", "0") or 0),
            "metrics_port": int(_env(service, "METRICS_PORT", "0") or 0),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
