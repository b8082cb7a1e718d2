"""Who is logged in: the person behind the session, and the clients that act as them."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from flask import abort, current_app, g, redirect, request, session, url_for

from services.portal.clients import Clients, ServiceClient
from services.portal.config import PortalSettings

F = TypeVar("F", bound=Callable[..., Any])

HR_ADMIN, APPRAISER, MANAGER, SERVICE = "hr_admin", "appraiser", "manager", "service"
EMPLOYER_SIGNATORY = "employer_signatory"


@dataclass(frozen=True)
class Person:
    """What the portal needs to lay out pages; the services decide what this person may do."""

    subject: str
    name: str
    roles: frozenset[str]
    token: str
    expires: float
    org_scope: str | None = None
    manager_id: str | None = None

    @property
    def is_hr(self) -> bool:
        return bool(self.roles & {HR_ADMIN, SERVICE})

    @property
    def is_appraiser(self) -> bool:
        return APPRAISER in self.roles

    @property
    def is_manager(self) -> bool:
        return MANAGER in self.roles and bool(self.manager_id)

    @property
    def may_countersign(self) -> bool:
        """A manager may hold the post that countersigns; an employer_signatory token
        countersigns what no post names. The contracts service says what, if anything."""
        return self.is_manager or EMPLOYER_SIGNATORY in self.roles

    def as_session(self) -> dict[str, Any]:
        return {"subject": self.subject, "name": self.name, "roles": sorted(self.roles),
                "token": self.token, "expires": self.expires, "org_scope": self.org_scope,
                "manager_id": self.manager_id}

    @classmethod
    def from_session(cls, data: Mapping[str, Any]) -> Person:
        return cls(subject=str(data["subject"]), name=str(data.get("name") or data["subject"]),
                   roles=frozenset(data.get("roles") or ()), token=str(data["token"]),
                   expires=float(data.get("expires") or 0), org_scope=data.get("org_scope"),
                   manager_id=data.get("manager_id"))


def settings() -> PortalSettings:
    return current_app.config["PORTAL_SETTINGS"]


def current_person() -> Person | None:
    data = session.get("person")
    if not data:
        return None
    person = Person.from_session(data)
    if person.expires and person.expires < time.time():
        session.pop("person", None)
        return None
    return person


def language() -> str:
    chosen = session.get("lang")
    if chosen in ("zh", "en"):
        return str(chosen)
    return request.accept_languages.best_match(["zh", "en"]) or "zh"


def _http() -> requests.Session:
    http = current_app.extensions.get("portal_http")
    if http is None:
        http = current_app.extensions["portal_http"] = requests.Session()
    return http


def clients_for(token: str | None) -> Clients:
    s = settings()
    lang = language()
    return Clients(*(ServiceClient(url, token, _http(), s.timeout_seconds, lang)
                     for url in (s.contracts_url, s.appraisal_url, s.notifications_url)))


def api() -> Clients:
    """The three services as the logged-in person (login_required has run)."""
    return clients_for(g.person.token)


def login_required(*roles: str) -> Callable[[F], F]:
    """A page for people holding one of `roles` (any logged-in person when none given)."""

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            person = current_person()
            if person is None:
                return redirect(url_for("session.login", next=request.full_path))
            if roles and not person.roles.intersection(roles):
                abort(403)
            g.person = person
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
