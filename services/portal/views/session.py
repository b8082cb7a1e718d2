"""Logging in and out, and the language switch.

In development a demo login lets you pick a person (group HR, HR of one subsidiary, a
manager, an appraiser) and mints their token with the development secret. Anywhere else
people log in at the OIDC provider: authorization code flow with PKCE; the portal keeps
the access token in the person's session cookie and sends it to the services, which check it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from services.portal.clients import ApiError
from services.portal.people import (
    APPRAISER,
    EMPLOYER_SIGNATORY,
    HR_ADMIN,
    MANAGER,
    SERVICE,
    Person,
    clients_for,
    current_person,
    settings,
)
from shared.auth import issue_token

bp = Blueprint("session", __name__)

TOKEN_HOURS = 8


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if not target:
        return url_for("session.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("session.home")
    return target


@bp.get("/")
def home() -> Any:
    person = current_person()
    if person is None:
        return redirect(url_for("session.login"))
    if person.is_hr:
        return redirect(url_for("hr.overview"))
    if person.is_appraiser:
        return redirect(url_for("hr.results"))
    if not person.is_manager and person.may_countersign:
        return redirect(url_for("countersign.contracts"))
    return redirect(url_for("mine.contracts"))


@bp.get("/lang/<code>")
def switch_language(code: str) -> Any:
    if code not in ("zh", "en"):
        abort(404)
    session["lang"] = code
    return redirect(_safe_next(request.args.get("next")))


@bp.get("/login")
def login() -> Any:
    s = settings()
    if not s.development:
        return _start_oidc_login()
    return render_template("login.html", people=_demo_people(),
                           next=_safe_next(request.args.get("next")))


def _dev_token(subject: str, roles: list[str], **claims: Any) -> str:
    secret = settings().jwt_secret
    assert secret, "development mode always has a secret"
    return issue_token(secret, subject, roles, ttl_seconds=TOKEN_HOURS * 3600, **claims)


def _demo_people() -> list[dict[str, Any]]:
    """Group HR, HR of each second-layer enterprise, appraiser, and some managers."""
    people: list[dict[str, Any]] = [
        {"key": "group_hr", "label": _("Group HR (whole group)")},
        {"key": "appraiser", "label": _("Appraiser (whole group)")},
    ]
    api = clients_for(_dev_token("portal-demo-login", [SERVICE]))
    try:
        units = api.contracts.get("/api/v1/org-units", layer=2, page_size=20)["items"]
        managers = api.contracts.get("/api/v1/managers", page_size=30,
                                     employment_status="active")["items"]
    except (ApiError, OSError):
        units, managers = [], []
    people += [{"key": f"unit_hr:{u['id']}", "label": _("HR of %(unit)s", unit=u["name"])}
               for u in units]
    people += [{"key": f"manager:{m['id']}",
                "label": _("Manager %(name)s (%(no)s)", name=m["name"], no=m["employee_no"])}
               for m in managers]
    return people


@bp.post("/login/dev")
def dev_login() -> Any:
    s = settings()
    if not s.development:
        abort(404)
    key = request.form.get("person", "")
    kind, _sep, ref = key.partition(":")
    claims: dict[str, Any] = {}
    if kind == "group_hr":
        subject, name, roles = "demo-group-hr", _("Group HR"), [HR_ADMIN]
    elif kind == "appraiser":
        subject, name, roles = "demo-appraiser", _("Appraiser"), [APPRAISER]
    elif kind == "unit_hr" and ref:
        unit = clients_for(_dev_token("portal-demo-login", [SERVICE])).contracts.get(
            f"/api/v1/org-units/{ref}")
        subject, roles = f"demo-hr-{unit['code']}", [HR_ADMIN]
        name = _("HR of %(unit)s", unit=unit["name"])
        claims["org_scope"] = ref
    elif kind == "manager" and ref:
        manager = clients_for(_dev_token("portal-demo-login", [SERVICE])).contracts.get(
            f"/api/v1/managers/{ref}")
        subject, roles = f"demo-manager-{manager['employee_no']}", [MANAGER]
        name = manager["name"]
        claims["manager_id"] = ref
    else:
        abort(400)
    token = _dev_token(subject, roles, **claims)
    _start_session(Person(subject=subject, name=name, roles=frozenset(roles), token=token,
                          expires=time.time() + TOKEN_HOURS * 3600, **claims))
    return redirect(_safe_next(request.form.get("next")))


def _start_session(person: Person) -> None:
    lang = session.get("lang")
    session.clear()  # a new session id for the new person: no fixation
    if lang:
        session["lang"] = lang
    session.permanent = True
    session["person"] = person.as_session()


@bp.post("/logout")
def logout() -> Any:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("session.login"))


# --- OIDC: authorization code flow with PKCE --------------------------------------------------

def _discovery() -> dict[str, Any]:
    from services.portal.people import _http

    s = settings()
    url = s.oidc_discovery_url or f"{s.oidc_issuer}/.well-known/openid-configuration"
    resp = _http().get(url, timeout=10)
    resp.raise_for_status()
    return resp.json()


def _start_oidc_login() -> Any:
    s = settings()
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                         ).rstrip(b"=").decode()
    state = secrets.token_urlsafe(24)
    session["oidc"] = {"verifier": verifier, "state": state,
                       "next": _safe_next(request.args.get("next"))}
    query = urlencode({"response_type": "code", "client_id": s.oidc_client_id,
                       "redirect_uri": url_for("session.oidc_callback", _external=True),
                       "scope": s.oidc_scopes, "state": state,
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    return redirect(f"{_discovery()['authorization_endpoint']}?{query}")


@bp.get("/login/callback")
def oidc_callback() -> Any:
    from services.portal.people import _http

    s = settings()
    pending = session.pop("oidc", None)
    if not pending or request.args.get("state") != pending.get("state"):
        abort(400)
    if "code" not in request.args:
        abort(401)
    data = {"grant_type": "authorization_code", "code": request.args["code"],
            "redirect_uri": url_for("session.oidc_callback", _external=True),
            "client_id": s.oidc_client_id, "code_verifier": pending["verifier"]}
    if s.oidc_client_secret:
        data["client_secret"] = s.oidc_client_secret
    resp = _http().post(_discovery()["token_endpoint"], data=data, timeout=10)
    if resp.status_code != 200:
        abort(401)
    token = resp.json()["access_token"]
    # Read, not trusted: the services verify the token on every call. The portal only
    # needs to know which pages to offer.
    claims = jwt.decode(token, options={"verify_signature": False})
    raw_roles = _claim(claims, s.oidc_roles_claim)
    roles = frozenset(r for r in (raw_roles if isinstance(raw_roles, list) else [raw_roles])
                      if r in (HR_ADMIN, APPRAISER, MANAGER, SERVICE, EMPLOYER_SIGNATORY))
    _start_session(Person(
        subject=str(claims.get("sub")), name=str(claims.get("name") or claims.get(
            "preferred_username") or claims.get("sub")), roles=roles, token=token,
        expires=float(claims.get("exp") or time.time() + 300),
        org_scope=_text_claim(claims, s.oidc_scope_claim),
        manager_id=_text_claim(claims, s.oidc_manager_claim)))
    return redirect(pending["next"])


def _text_claim(claims: dict[str, Any], path: str) -> str | None:
    value = _claim(claims, path)
    return value if isinstance(value, str) and value else None


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
