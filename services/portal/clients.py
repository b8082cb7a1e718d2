"""One small client per service API: the only place that knows their URLs and paths' shape.

Every call carries the person's own token, so the services decide what they may see and do;
the portal holds no rule of its own. A refusal comes back as ApiError with the service's
problem+json (title, detail, the fields at fault), for the page to show as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class ApiError(Exception):
    """A service said no (4xx) or failed (5xx); `errors` names the fields at fault."""

    status: int
    title: str
    detail: str = ""
    errors: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"


class ServiceClient:
    """HTTP to one service with the person's bearer token."""

    def __init__(self, base_url: str, token: str | None, session: requests.Session,
                 timeout: float, language: str = "zh") -> None:
        self.base_url = base_url
        self.token = token
        self.http = session
        self.timeout = timeout
        self.language = language

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept-Language": self.language}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, data: Any = None, headers: Mapping[str, str] | None = None,
                files: Any = None) -> requests.Response:
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        resp = self.http.request(method, self.base_url + path, params=clean, json=json,
                                 data=data, files=files, headers=self._headers(headers),
                                 timeout=self.timeout)
        if resp.status_code >= 400:
            raise _error_of(resp)
        return resp

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        resp = self.request("POST", path, json=json, **kwargs)
        return resp.json() if resp.content else None

    def raw(self, path: str, accept: str, **params: Any) -> requests.Response:
        return self.request("GET", path, params=params, headers={"Accept": accept})


def _error_of(resp: requests.Response) -> ApiError:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return ApiError(resp.status_code, str(body.get("title") or resp.reason),
                    str(body.get("detail") or ""), body.get("errors") or {})


@dataclass
class Clients:
    """The three services, as the current person."""

    contracts: ServiceClient
    appraisal: ServiceClient
    notifications: ServiceClient
