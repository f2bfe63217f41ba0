"""SSRF guard: a webhook URL must resolve only to addresses we are allowed to call.

Checked when a subscription is created or changed, and again at every delivery, where the
connection is then pinned to the address that was checked (no DNS rebinding in between).
The lookup is bounded: a resolver that never answers must not hold the Deliver function past
its timeout.
"""

import ipaddress
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from workflows.kernel.errors import InvalidTarget
from workflows.kernel.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# How long a host name may take to resolve: the connect timeout's default (it is the first
# step of connecting). Lookups still running past it, at most this many at once.
RESOLVE_TIMEOUT_SECONDS = 5.0
MAX_PENDING_LOOKUPS = 16


class ResolutionTimedOut(InvalidTarget):
    """The host name did not resolve in time: the receiver's DNS. At delivery it is retried
    as a connect timeout is; when a subscription is saved, it is refused as not resolving."""

    error_name = "Subscription.TargetUnresolved"

    def __init__(self, host: str, seconds: float) -> None:
        super().__init__(f"the host '{host}' did not resolve within {seconds:g} s")
        self.latency_ms = int(seconds * 1000)


class _Lookups:
    """getaddrinfo in a daemon thread, waited for at most the bound (a blocked lookup cannot
    be interrupted; it finishes, or not, on its own thread). The threads still running are
    counted, so a resolver that hangs every lookup cannot pile them up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pending = 0

    def resolve(self, host: str, port: int, timeout: float) -> list:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:  # an address literal: nothing to look up (and no thread to start, ~0.1 ms)
            return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        answer: dict[str, object] = {}
        done = threading.Event()

        def lookup() -> None:
            try:
                answer["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except BaseException as exc:  # handed to the waiting thread
                answer["error"] = exc
            finally:
                with self._lock:
                    self.pending -= 1
                done.set()

        with self._lock:
            if self.pending >= MAX_PENDING_LOOKUPS:
                raise ResolutionTimedOut(host, timeout)
            self.pending += 1
        threading.Thread(target=lookup, name="resolve", daemon=True).start()
        if not done.wait(timeout):
            raise ResolutionTimedOut(host, timeout)
        if "error" in answer:
            raise answer["error"]  # type: ignore[misc]
        return answer["infos"]  # type: ignore[return-value]


_lookups = _Lookups()


@dataclass(frozen=True)
class TargetPolicy:
    allow_private: bool = False  # loopback and RFC 1918/4193 ranges: the local runtime only
    require_https: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> "TargetPolicy":
        return cls(allow_private=settings.allow_private_targets,
                   require_https=settings.require_https)


@dataclass(frozen=True)
class ResolvedTarget:
    url: str
    scheme: str
    host: str
    port: int
    address: str  # the checked address the request connects to


# IPv6 forms that carry an IPv4 address in their last 32 bits: the packet ends up at that
# IPv4 address (through a translator or the host's own stack), so that is the one to judge.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 (SIIT)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291, deprecated; holds :: and ::1
# Transition forms whose IPv4 end cannot be judged from the address: never called.
_REFUSED_IPV6 = (
    ipaddress.IPv6Network("2001::/32"),  # Teredo: the client's address is obfuscated
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # RFC 8215 local-use NAT64: the operator's mapping
)

# Never called, whatever Python's `is_global` says: its tables allowed these before 3.11.10 /
# 3.12.4 (CVE-2024-4032), and a fixed Python must not be needed to be safe.
_DENIED = (
    ipaddress.IPv4Network("192.0.0.0/24"),  # IETF protocol assignments (192.0.0.8: DS-Lite)
    ipaddress.IPv6Network("fec0::/10"),  # site-local (deprecated, still routed internally)
    ipaddress.IPv6Network("5f00::/16"),  # SRv6 SIDs (RFC 9602)
    ipaddress.IPv6Network("3fff::/20"),  # documentation (RFC 9637)
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped/-compatible/-translated, NAT64 or 6to4 address reaches."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_TRANSLATED or (
            address in _IPV4_COMPATIBLE and int(address) > 1):  # not :: or ::1 themselves
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_allowed_address(address: IPAddress, policy: TargetPolicy) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in _REFUSED_IPV6):
            return False
        address = embedded_ipv4(address) or address
    if any(address in network for network in _DENIED
           if network.version == address.version):
        return False
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


def resolve_target(url: str, policy: TargetPolicy,
                   timeout: float | None = None) -> ResolvedTarget:
    """Resolve `url`'s host within `timeout` (RESOLVE_TIMEOUT_SECONDS unless given; else
    ResolutionTimedOut); every address it resolves to must be allowed."""
    scheme, host, port = check_url(url, policy)
    try:
        infos = _lookups.resolve(host, port, timeout or RESOLVE_TIMEOUT_SECONDS)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidTarget(f"the host '{host}' does not resolve: {exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    forbidden = sorted({str(a) for a in addresses if not is_allowed_address(a, policy)})
    if forbidden:
        raise InvalidTarget(f"the host '{host}' resolves to a non-public address "
                            f"({', '.join(forbidden)}); only public targets are allowed")
    return ResolvedTarget(url=url, scheme=scheme, host=host, port=port, address=str(addresses[0]))
