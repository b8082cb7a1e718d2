"""Signed JSON webhooks: POST a notice to a receiver, and verify a signature on receipt.

Signature scheme (v1), documented for receivers in services/notifications/RULES.md:
    X-Tenure-Timestamp: <unix seconds>
    X-Tenure-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body bytes>")>
The timestamp is inside the signed text, so a captured request cannot be replayed later than
the receiver's tolerance; the raw body is signed, so receivers must verify before parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import certifi
import urllib3

from services.notifications.channels.errors import DeliveryError
from services.notifications.channels.targets import (
    Resolver,
    Target,
    WebhookTargetRefused,
    check_url,
    pinned_address,
    system_resolver,
)
from services.notifications.domain.notices import Notice
from services.notifications.domain.templates import RenderedMessage

TIMESTAMP_HEADER = "X-Tenure-Timestamp"
SIGNATURE_HEADER = "X-Tenure-Signature"
EVENT_ID_HEADER = "X-Tenure-Event-Id"
NOTICE_KEY_HEADER = "X-Tenure-Notice-Key"
SIGNATURE_VERSION = "v1"
RETRYABLE_STATUS = frozenset({408, 429})


@dataclass(frozen=True)
class WebhookEndpoint:
    """A receiver: its URL and the shared secret it verifies signatures with."""

    url: str
    secret: str = field(repr=False)
    timeout: float = 10.0
    # Hosts that may take plain http and sit on internal addresses (WEBHOOK_ALLOWED_HOSTS).
    allowed_hosts: frozenset[str] = frozenset()


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: str | bytes, timestamp: int | str, body: str | bytes) -> str:
    """The signature header value of a body sent at `timestamp`: 'v1=<hex>'."""
    signed = _bytes(str(timestamp)) + b"." + _bytes(body)
    digest = hmac.new(_bytes(secret), signed, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_signature(secret: str | bytes, timestamp: int | str | None, body: str | bytes,
                     header: str | None, tolerance_s: int = 300,
                     now: float | None = None) -> bool:
    """True when `header` holds a v1 signature of `body` at `timestamp` by `secret`, and the
    timestamp is within `tolerance_s` of `now`. Comparison is constant-time. The header may
    list several signatures separated by commas (a sender rotating secrets); one must match.
    """
    if not header or timestamp is None:
        return False
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_s:
        return False
    expected = sign(secret, sent_at, body)
    matched = False
    for candidate in header.split(","):
        # Compare every candidate so timing does not tell which one matched.
        matched |= hmac.compare_digest(candidate.strip().encode(), expected.encode())
    return matched


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact UTF-8 JSON, keys sorted."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                      default=str).encode("utf-8")


def notice_payload(notice: Notice, message: RenderedMessage) -> dict[str, Any]:
    """What a receiver gets: the notice's identity, the rendered text and the raw facts."""
    return {
        "notice_key": notice.notice_key,
        "kind": notice.kind.value,
        "event_id": notice.event_id,
        "event_type": notice.event_type,
        "manager_id": notice.manager_id,
        "org_unit_id": notice.org_unit_id,
        "recipient": {"id": notice.recipient.id, "name": notice.recipient.name,
                      "role": notice.role.value, "language": notice.language},
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "facts": dict(notice.context),
    }


def _pool(target: Target, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    """A connection to the checked address; TLS still verifies the certificate against the
    host name in the URL, so pinning the address weakens nothing."""
    if target.scheme == "https":
        name = None if target.is_address else target.host
        return urllib3.HTTPSConnectionPool(
            address, target.port, timeout=timeout, retries=False, maxsize=1,
            cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(), server_hostname=name,
            assert_hostname=target.host)
    return urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False,
                                      maxsize=1)


def post_webhook(endpoint: WebhookEndpoint, payload: Mapping[str, Any], *, event_id: str,
                 notice_key: str, now: float | None = None,
                 resolver: Resolver = system_resolver) -> int:
    """POST one signed payload; returns the 2xx status. Raises `DeliveryError` otherwise.

    The URL passes the SSRF guard (channels/targets.py) again here, after DNS resolution,
    and the POST goes to the address that was checked. Redirects are not followed: a
    receiver must be configured with its final URL, and a signed POST must not silently turn
    into a request elsewhere.
    """
    try:
        target = check_url(endpoint.url, endpoint.allowed_hosts)
        address = pinned_address(target, resolver)
    except WebhookTargetRefused as exc:
        raise DeliveryError(False, f"webhook URL refused: {exc}") from exc
    except OSError as exc:
        raise DeliveryError(True, f"cannot resolve {endpoint.url}: {exc}") from exc
    body = encode_body(payload)
    timestamp = int(time.time() if now is None else now)
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "tenure-notifications/1",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(endpoint.secret, timestamp, body),
        EVENT_ID_HEADER: event_id,
        NOTICE_KEY_HEADER: notice_key,
    }
    pool = _pool(target, address, endpoint.timeout)
    try:
        response = pool.urlopen("POST", target.path, body=body, headers=headers,
                                redirect=False, retries=False, preload_content=True)
    except urllib3.exceptions.TimeoutError as exc:
        raise DeliveryError(True, f"timed out after {endpoint.timeout}s") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise DeliveryError(True, f"cannot reach {endpoint.url}: {exc}") from exc
    except OSError as exc:
        raise DeliveryError(True, f"request failed: {exc}") from exc
    finally:
        pool.close()
    status = response.status
    if 200 <= status < 300:
        return status
    detail = response.data[:200].decode("utf-8", "replace").strip()
    reason = f"receiver answered {status}" + (f": {detail}" if detail else "")
    retryable = status in RETRYABLE_STATUS or status >= 500
    raise DeliveryError(retryable, reason, code=status)


def post_notice(endpoint: WebhookEndpoint, notice: Notice, message: RenderedMessage, *,
                now: float | None = None, resolver: Resolver = system_resolver) -> int:
    """POST a rendered notice (see `notice_payload`) to a receiver; returns the 2xx status."""
    return post_webhook(endpoint, notice_payload(notice, message), event_id=notice.event_id,
                        notice_key=notice.notice_key, now=now, resolver=resolver)
