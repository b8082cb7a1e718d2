"""Bearer JWT authentication and role checks shared by every service."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jwt
from flask import current_app, g, request

from shared.config import OidcSettings, Settings
from shared.errors import ApiProblem

HR_ADMIN = "hr_admin"
APPRAISER = "appraiser"
MANAGER = "manager"
SERVICE = "service"
# Signs for the employer where the signatory is no manager of the group (the supervisor, or a
# signatory HR named by override); its org scope names the units it may sign for.
EMPLOYER_SIGNATORY = "employer_signatory"
ROLES = frozenset({HR_ADMIN, APPRAISER, MANAGER, SERVICE, EMPLOYER_SIGNATORY})
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
    secret: str | None,
    subject: str,
    roles: Iterable[str],
    *,
    org_scope: str | None = None,
    manager_id: str | None = None,
    ttl_seconds: int = 8 * 3600,
    issuer: str = "tenure",
    audience: str = "tenure",
) -> str:
    """An HS256 token of our own (dev-token, tests, the demo): signed with JWT_SECRET."""
    if not secret:
        raise ValueError("No JWT_SECRET is set: this service takes only its identity "
                         "provider's tokens; get one there")
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


INVALID_TOKEN = 'Bearer realm="tenure", error="invalid_token"'


def unauthorized(detail: str) -> ApiProblem:
    """401 for a token we cannot take (RFC 6750 names the error in the challenge)."""
    return ApiProblem(401, "Unauthorized", detail, headers={"WWW-Authenticate": INVALID_TOKEN})


def decode_token(secret: str, token: str, *, issuer: str = "tenure", audience: str = "tenure"
                 ) -> Principal:
    """An embedded HS256 token (the development default, or a shared secret in production)."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=issuer, audience=audience,
            options={"require": ["sub", "exp", "roles"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise unauthorized("The token has expired") from exc
    except jwt.PyJWTError as exc:
        raise unauthorized(f"Invalid token: {exc}") from exc
    return principal_from_claims(claims, EMBEDDED_CLAIMS)


@dataclass(frozen=True)
class ClaimNames:
    """Where a token keeps who the caller is, their roles, their org scope and manager id."""

    subject: str = "sub"
    roles: str = "roles"
    org_scope: str = "org_scope"
    manager_id: str = "manager_id"
    role_map: tuple[tuple[str, str], ...] = ()
    # Our own tokens name only Tenure roles; a provider's carry others (offline_access...).
    ignore_unknown_roles: bool = False


EMBEDDED_CLAIMS = ClaimNames()
MAX_CLAIM_LENGTH = 256


def _claim(claims: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (`realm_access.roles`), or None when any step is missing."""
    value: Any = claims
    for step in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def _text_claim(name: str, value: Any, *, required: bool) -> str | None:
    """A claim that must be one short, clean string; anything else is a bad token (401)."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise unauthorized(f"The token's {name} claim must be a string")
    # Not printable: control characters, NUL, lone surrogates, which would fail later in a
    # database or a log line as a 500 rather than here as a 401.
    if len(value) > MAX_CLAIM_LENGTH or not value.isprintable():
        raise unauthorized(f"The token's {name} claim is not a valid identifier")
    return value


def principal_from_claims(claims: dict[str, Any], names: ClaimNames) -> Principal:
    """Build the caller from verified claims, refusing (401) any claim of the wrong type."""
    subject = _text_claim("subject", _claim(claims, names.subject), required=True)
    raw_roles = _claim(claims, names.roles)
    if isinstance(raw_roles, str) and names.ignore_unknown_roles:
        raw_roles = [raw_roles]  # ADFS sends a lone role as a string
    if not isinstance(raw_roles, list) or not all(isinstance(r, str) for r in raw_roles):
        raise unauthorized("The token's roles claim must be a list of strings")
    mapping = dict(names.role_map)
    roles = {mapping.get(role, role) for role in raw_roles}
    if names.ignore_unknown_roles:
        roles &= ROLES
    if not roles or not roles <= ROLES:
        raise unauthorized("The token carries no valid roles")
    org_scope = _text_claim("org_scope", _claim(claims, names.org_scope), required=False)
    manager_id = _text_claim("manager_id", _claim(claims, names.manager_id), required=False)
    if "exp" in claims and not isinstance(claims["exp"], int | float):
        raise unauthorized("The token's exp claim must be a number")
    return Principal(
        subject=str(subject),
        roles=frozenset(roles),
        org_scope=org_scope,
        manager_id=manager_id,
        claims=claims,
    )


def provider_claim_names(oidc: OidcSettings) -> ClaimNames:
    return ClaimNames(subject=oidc.subject_claim, roles=oidc.roles_claim,
                      org_scope=oidc.scope_claim, manager_id=oidc.manager_claim,
                      role_map=oidc.role_map, ignore_unknown_roles=True)


def _embedded_header(token: str) -> dict[str, Any] | None:
    """The header of an HS256 token, read only to choose how to verify it; None for any
    other token (or one this cannot read), which PyJWT's reading of the header then judges.

    `jwt.decode` reads and checks the whole token again, header included, before trusting
    anything in it, so reading the header twice with PyJWT's checks (a Python loop over
    every character of the token) only cost time on every new token.
    """
    head = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        return None
    if isinstance(header, dict) and header.get("alg") == ALGORITHM:
        return header
    return None


def verify_bearer(settings: Settings, token: str) -> tuple[Principal, str | None]:
    """Check a bearer token against what this service trusts; (caller, OIDC key id or None).

    The token's header says which way: HS256 against JWT_SECRET, an asymmetric algorithm
    against the configured OIDC provider. A way that is not configured refuses (401).
    """
    header = _embedded_header(token)
    if header is None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise unauthorized(f"Invalid token: {exc}") from exc
    algorithm = header.get("alg")
    if algorithm == ALGORITHM:
        if not settings.jwt_secret:
            raise unauthorized("This service takes no HS256 tokens; use the identity "
                                "provider's")
        return decode_token(settings.jwt_secret, token, issuer=settings.jwt_issuer,
                            audience=settings.jwt_audience), None
    if settings.oidc is None:
        raise unauthorized(f"Tokens signed with {algorithm!r} are not accepted")
    from shared import oidc

    claims = oidc.verify(settings.oidc, token, header)
    return principal_from_claims(claims, provider_claim_names(settings.oidc)), header["kid"]


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
    cached_entry = _VERIFIED.get(token)
    now = time.time()
    principal: Principal | None = None
    if cached_entry is not None and cached_entry[0] > now and cached_entry[1] is settings:
        principal, kid = cached_entry[2], cached_entry[3]
        if kid is not None and settings.oidc is not None:
            from shared.oidc import signing_keys

            if not signing_keys(settings.oidc).still_published(kid):
                _VERIFIED.pop(token, None)
                principal = None
    if principal is None:
        principal, kid = verify_bearer(settings, token)
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()
        # Verified once, trusted until it expires (or, for a provider's token, until its
        # signing key is withdrawn): the signature cannot change.
        _VERIFIED[token] = (float(principal.claims["exp"]), settings, principal, kid)
    g.principal = principal
    return principal


_VERIFIED: dict[str, tuple[float, Settings, Principal, str | None]] = {}
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
