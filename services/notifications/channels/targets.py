"""Where a webhook may be sent: the guard against server-side request forgery.

A webhook URL is given by an HR admin, and the delivery worker POSTs signed notice data to
it from inside the network. So a target must be https, or plain http to a host the operator
allowlisted (WEBHOOK_ALLOWED_HOSTS); and every address it names or resolves to must be a
public one: loopback, private, link-local, unique-local, unspecified, multicast, reserved
and shared (CGNAT) addresses are refused, and cloud metadata addresses always, allowlisted or
not. The check runs at registration and again at each delivery after DNS resolution; the
delivery connects to the very address that was checked, so a name re-pointed between the
check and the connection (DNS rebinding) cannot move the POST. Rules: docs/authorization.md.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

# Instance metadata services (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba): never a target.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2"))


class WebhookTargetRefused(ValueError):
    """The URL may not receive webhooks; the message says why, for the person fixing it."""


@dataclass(frozen=True)
class Target:
    """A checked URL, taken apart: where to connect and what to ask for."""

    scheme: str
    host: str  # as written (lower case), for the Host header and TLS name checks
    port: int
    path: str  # path and query, never empty
    allowlisted: bool

    @property
    def is_address(self) -> bool:
        return _literal(self.host) is not None

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def normalise_hosts(hosts: Iterable[str]) -> frozenset[str]:
    return frozenset(h.strip().lower().strip("[]") for h in hosts if h.strip())


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def address_refusal(address: IpAddress, *, allowlisted: bool) -> str | None:
    """Why an address may not be connected to, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_refusal(address.ipv4_mapped, allowlisted=allowlisted)
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if allowlisted:
        return None  # the operator named this host: an internal receiver is intended
    for kind, hit in (("loopback", address.is_loopback), ("unspecified", address.is_unspecified),
                      ("link-local", address.is_link_local), ("multicast", address.is_multicast),
                      ("private", address.is_private), ("reserved", address.is_reserved)):
        if hit:
            return f"{address} is a {kind} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def check_url(url: str, allowed_hosts: frozenset[str]) -> Target:
    """The static checks: scheme, host, and the address when the URL names one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookTargetRefused(f"not a valid URL: {exc}") from None
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        raise WebhookTargetRefused("must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise WebhookTargetRefused("must not carry a user name or password")
    allowlisted = host in allowed_hosts
    if parts.scheme == "http" and not allowlisted:
        raise WebhookTargetRefused(
            f"must use https; plain http only to a host in WEBHOOK_ALLOWED_HOSTS ({host} "
            "is not)")
    literal = _literal(host)
    if literal is not None:
        reason = address_refusal(literal, allowlisted=allowlisted)
        if reason:
            raise WebhookTargetRefused(f"must reach a public address: {reason}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path,
                  allowlisted)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the name resolves to now (raises OSError when it resolves to none)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def pinned_address(target: Target, resolver: Resolver = system_resolver) -> str:
    """The address to connect to: resolved now, every answer checked (one bad answer
    refuses the name, so a round-robin cannot slip a private address in)."""
    literal = _literal(target.host)
    if literal is not None:
        return str(literal)
    addresses = resolver(target.host, target.port)
    if not addresses:
        raise OSError(f"{target.host} resolves to no address")
    for raw in addresses:
        reason = address_refusal(ipaddress.ip_address(raw), allowlisted=target.allowlisted)
        if reason:
            raise WebhookTargetRefused(f"{target.host} resolves to {raw}: {reason}")
    return addresses[0]


def check_registration(url: str, allowed_hosts: frozenset[str],
                       resolver: Resolver = system_resolver) -> None:
    """At registration: refuse what is refused now. A name that does not resolve yet is
    accepted; the delivery checks it again anyway."""
    target = check_url(url, allowed_hosts)
    with contextlib.suppress(OSError):
        pinned_address(target, resolver)
