"""SSRF guard: a webhook URL must resolve only to addresses we are allowed to call.

Checked when a subscription is created or changed, and again at every delivery, where the
connection is then pinned to the address that was checked (no DNS rebinding in between).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from workflows.errors import InvalidTarget

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class TargetPolicy:
    allow_private: bool = False  # loopback and RFC 1918/4193 ranges: the local runtime only
    require_https: bool = True


@dataclass(frozen=True)
class ResolvedTarget:
    url: str
    scheme: str
    host: str
    port: int
    address: str  # the checked address the request connects to


def is_allowed_address(address: IPAddress, policy: TargetPolicy) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_global and not address.is_multicast:
        return True
    # Link-local (cloud metadata), multicast, reserved and unspecified are never allowed.
    if not policy.allow_private or address.is_link_local or address.is_multicast:
        return False
    return address.is_loopback or (address.is_private and not address.is_unspecified
                                    and not address.is_reserved)


def check_url(url: str, policy: TargetPolicy) -> tuple[str, str, int]:
    """Syntax and scheme checks: (scheme, host, port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidTarget(f"'{url}' is not a valid URL: {exc}") from None
    allowed_schemes = ("https",) if policy.require_https else ("https", "http")
    if parts.scheme not in allowed_schemes:
        raise InvalidTarget(f"the URL scheme must be {' or '.join(allowed_schemes)}")
    if not parts.hostname:
        raise InvalidTarget("the URL has no host")
    if parts.username or parts.password:
        raise InvalidTarget("the URL must not carry credentials")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve_target(url: str, policy: TargetPolicy) -> ResolvedTarget:
    """Resolve `url`'s host; every address it resolves to must be allowed."""
    scheme, host, port = check_url(url, policy)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidTarget(f"the host '{host}' does not resolve: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    forbidden = sorted({str(a) for a in addresses if not is_allowed_address(a, policy)})
    if forbidden:
        raise InvalidTarget(f"the host '{host}' resolves to a non-public address "
                            f"({', '.join(forbidden)}); only public targets are allowed")
    return ResolvedTarget(url=url, scheme=scheme, host=host, port=port, address=str(addresses[0]))
