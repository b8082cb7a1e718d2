"""Bearer JWT authentication and role checks shared by every service."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jwt
from flask import current_app, g, request

from shared.errors import ApiProblem

HR_ADMIN = "hr_admin"
APPRAISER = "appraiser"
MANAGER = "manager"
SERVICE = "service"
ROLES = frozenset({HR_ADMIN, APPRAISER, MANAGER, SERVICE})
ALGORITHM = "HS256"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    """Who is calling: their roles, the org subtree they may act in, and who they are."""

    subject: str
    roles: frozenset[str]
    org_scope: str | None = None  # org unit id at the top of their subtree; None = whole group
    manager_id: str | None = None  # set for the manager role: the only manager they can read
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_group_wide(self) -> bool:
        """No org_scope claim at all. An empty org_scope ("") is a scope naming no unit: it
        sees nothing and writes nothing, in every service, so an identity provider that
        sends an unset attribute as "" never grants the whole group."""
        return self.org_scope is None and self.has(HR_ADMIN, SERVICE, APPRAISER)

    @property
    def writes_group_wide(self) -> bool:
        """May change what the whole group shares (templates, the indicator library,
        appraisal schemes, notice templates): a group-wide HR admin or service."""
        return self.org_scope is None and self.has(HR_ADMIN, SERVICE)


def issue_token(
    secret: str,
    subject: str,
    roles: Iterable[str],
    *,
    org_scope: str | None = None,
    manager_id: str | None = None,
    ttl_seconds: int = 8 * 3600,
    issuer: str = "tenure",
    audience: str = "tenure",
) -> str:
    roles = sorted(set(roles))
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": roles,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "iss": issuer,
        "aud": audience,
        "jti": str(uuid.uuid4()),
    }
    if org_scope:
        claims["org_scope"] = org_scope
    if manager_id:
        claims["manager_id"] = manager_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str, *, issuer: str = "tenure", audience: str = "tenure"
                 ) -> Principal:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=issuer, audience=audience,
            options={"require": ["sub", "exp", "roles"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise ApiProblem(401, "Unauthorized", "The token has expired") from exc
    except jwt.PyJWTError as exc:
        raise ApiProblem(401, "Unauthorized", f"Invalid token: {exc}") from exc
    roles = claims.get("roles")
    if not isinstance(roles, list) or not set(roles) <= ROLES or not roles:
        raise ApiProblem(401, "Unauthorized", "The token carries no valid roles")
    return Principal(
        subject=str(claims["sub"]),
        roles=frozenset(roles),
        org_scope=claims.get("org_scope"),
        manager_id=claims.get("manager_id"),
        claims=claims,
    )


def authenticate() -> Principal:
    """Read the bearer token of the current request (cached per request)."""
    cached = getattr(g, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem(401, "Unauthorized", "A bearer token is required")
    settings = current_app.config["TENURE_SETTINGS"]
    token = token.strip()
    cached_entry = _VERIFIED.get((settings.jwt_secret, token))
    now = time.time()
    if cached_entry is not None and cached_entry[0] > now:
        principal = cached_entry[1]
    else:
        principal = decode_token(
            settings.jwt_secret, token, issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        # Verified once, trusted until it expires: the signature cannot change.
        _VERIFIED[(settings.jwt_secret, token)] = (float(principal.claims["exp"]), principal)
    g.principal = principal
    return principal


_VERIFIED: dict[tuple[str, str], tuple[float, Principal]] = {}
_VERIFIED_MAX = 10_000


def require(*roles: str) -> Callable[[F], F]:
    """Decorate a view: the caller must hold one of `roles` (any role when none given)."""

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate()
            if roles and not principal.has(*roles):
                raise ApiProblem(
                    403, "Forbidden", f"This needs one of the roles: {', '.join(roles)}"
                )
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def forbidden(detail: str) -> ApiProblem:
    return ApiProblem(403, "Forbidden", detail)


GROUP_WIDE_WRITERS = ("a group-wide HR administrator or service (a token with the hr_admin "
                      "or service role and no org_scope)")


def require_group_wide_writer(principal: Principal, what: str,
                              errors: dict[str, list[str]] | None = None) -> None:
    """Refuse (403) a change to something the whole group shares unless the caller writes
    group-wide; the answer says who may do it. See docs/authorization.md."""
    if not principal.writes_group_wide:
        raise ApiProblem(403, "Forbidden", f"Only {GROUP_WIDE_WRITERS} may {what}",
                         errors=errors)
