"""Service configuration read from environment variables, with safe local defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTS = {"contracts": 8001, "appraisal": 8002, "notifications": 8003}
DEV_JWT_SECRET = "tenure-dev-secret-change-me-in-production"


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


@dataclass(frozen=True)
class Settings:
    """Everything a service reads from its environment, resolved once at start."""

    service: str
    database_url: str
    port: int
    kafka_bootstrap: str | None
    jwt_secret: str
    jwt_issuer: str = "tenure"
    jwt_audience: str = "tenure"
    log_level: str = "INFO"
    log_json: bool = True
    read_cache: bool = True  # serve hot reads from memory on PostgreSQL (READ_CACHE=off)
    access_log: bool = True  # one JSON line per request (ACCESS_LOG=off)
    trusted_proxies: int = 0  # proxies whose X-Forwarded-For/-Proto we believe (TRUSTED_PROXIES)
    metrics_port: int = 0  # /metrics on its own port, served by gunicorn's master (METRICS_PORT)
    testing: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, service: str, **overrides: object) -> Settings:
        var_dir = Path(os.environ.get("TENURE_VAR_DIR", REPO_ROOT / "var"))
        default_db = f"sqlite:///{var_dir / (service + '.db')}"
        values: dict[str, object] = {
            "service": service,
            "database_url": _env(service, "DATABASE_URL", default_db),
            "port": int(_env(service, "PORT", str(DEFAULT_PORTS.get(service, 8000))) or 0),
            "kafka_bootstrap": _env(service, "KAFKA_BOOTSTRAP_SERVERS") or None,
            "jwt_secret": _env(service, "JWT_SECRET", DEV_JWT_SECRET),
            "log_level": _env(service, "LOG_LEVEL", "INFO"),
            "log_json": _bool(_env(service, "LOG_JSON"), True),
            "read_cache": _bool(_env(service, "READ_CACHE"), True),
            "access_log": _bool(_env(service, "ACCESS_LOG"), True),
            "trusted_proxies": int(_env(service, "TRUSTED_PROXIES", "0") or 0),
            "metrics_port": int(_env(service, "METRICS_PORT", "0") or 0),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
