"""Tokens of an OpenID Connect provider: its signing keys, found and kept fresh, and checks.

The keys come from the provider's discovery document (`<issuer>/.well-known/openid-configuration`,
whose `issuer` must be the one configured) and the JWKS it names. They are cached: re-read at
most every `jwks_cache_seconds` (so a removed key stops working within that time), and at once
when a token names a key id we do not know (a rotation), but no more often than
`jwks_min_refresh_seconds`, so tokens with made-up key ids cannot make us hammer the provider.
When the provider cannot be reached, the keys we have keep working.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import jwt

from shared.auth import unauthorized
from shared.config import OidcSettings
from shared.errors import ApiProblem

log = logging.getLogger("tenure.oidc")

MAX_DOCUMENT_BYTES = 1 << 20  # a JWKS or discovery document bigger than 1 MB is not one
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                        "ES384", "ES512", "EdDSA"})


class ProviderUnavailable(Exception):
    """The provider's discovery document or JWKS could not be read."""


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except (OSError, urllib.error.URLError) as error:
        raise ProviderUnavailable(f"{url}: {error}") from error
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ProviderUnavailable(f"{url}: document larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError as error:
        raise ProviderUnavailable(f"{url}: not JSON ({error})") from error
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url}: not a JSON object")
    return document


class SigningKeys:
    """The provider's current public keys by key id, read through discovery and cached."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._jwks_url = settings.jwks_url or None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")  # last successful read
        self._tried_at = float("-inf")  # last attempt, successful or not
        self.fetches = 0

    def _discover(self) -> str:
        document = _get_json(self.settings.discovery_document_url,
                             self.settings.http_timeout_seconds)
        if document.get("issuer") != self.settings.issuer:
            raise ProviderUnavailable(
                f"the discovery document names issuer {document.get('issuer')!r}, "
                f"not the configured {self.settings.issuer!r}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise ProviderUnavailable("the discovery document has no jwks_uri")
        return jwks_uri

    def _read(self) -> dict[str, jwt.PyJWK]:
        if self._jwks_url is None:
            self._jwks_url = self._discover()
        document = _get_json(self._jwks_url, self.settings.http_timeout_seconds)
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys") or []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            kid = entry.get("kid")
            if not isinstance(kid, str):
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type we cannot use (e.g. an encryption-only key)
            if key.algorithm_name in self.settings.algorithms:
                keys[kid] = key
        return keys

    def refresh(self, *, wanted: str | None = None) -> None:
        """Read the keys again, unless another thread just did or the rate limit says no."""
        with self._lock:
            now = time.monotonic()
            if wanted is not None and wanted in self._keys:
                return  # another thread fetched it while we waited
            if now - self._tried_at < self.settings.jwks_min_refresh_seconds:
                return
            self._tried_at = now
            try:
                keys = self._read()
            except ProviderUnavailable as error:
                log.warning("could not refresh the identity provider's keys: %s", error)
                if not self._keys:
                    raise
                return
            self._keys = keys
            self._fetched_at = now
            self.fetches += 1

    def _stale(self) -> bool:
        return time.monotonic() - self._fetched_at >= self.settings.jwks_cache_seconds

    def key(self, kid: str) -> jwt.PyJWK | None:
        if self._stale():
            self.refresh()
        key = self._keys.get(kid)
        if key is None:
            self.refresh(wanted=kid)  # a rotation: a key we have not seen yet
            key = self._keys.get(kid)
        return key

    def still_published(self, kid: str) -> bool:
        """For a token verified earlier: is its key still one the provider publishes?"""
        if self._stale():
            try:
                self.refresh()
            except ProviderUnavailable:
                return kid in self._keys
        return kid in self._keys


_KEYS: dict[OidcSettings, SigningKeys] = {}
_KEYS_LOCK = threading.Lock()


def signing_keys(settings: OidcSettings) -> SigningKeys:
    """One key cache per provider configuration and process."""
    with _KEYS_LOCK:
        keys = _KEYS.get(settings)
        if keys is None:
            keys = _KEYS[settings] = SigningKeys(settings)
        return keys


def verify(settings: OidcSettings, token: str, header: dict[str, Any]) -> dict[str, Any]:
    """The claims of a token the provider signed for us; 401 for anything else."""
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in settings.algorithms \
            or algorithm not in ASYMMETRIC:
        raise unauthorized(f"Tokens signed with {algorithm!r} are not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 256:
        raise unauthorized("The token names no signing key (kid)")
    try:
        key = signing_keys(settings).key(kid)
    except ProviderUnavailable as error:
        raise ApiProblem(503, "Service Unavailable",
                         "The identity provider's signing keys cannot be read right now",
                         headers={"Retry-After": "5"}) from error
    if key is None:
        raise unauthorized("The token is signed with a key the identity provider does not "
                            "publish")
    if key.algorithm_name != algorithm:
        raise unauthorized("The token's algorithm does not match its signing key")
    try:
        return jwt.decode(
            token, key, algorithms=[algorithm], issuer=settings.issuer,
            audience=settings.audience, leeway=settings.leeway_seconds,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise unauthorized("The token has expired") from exc
    except jwt.PyJWTError as exc:
        raise unauthorized(f"Invalid token: {exc}") from exc
