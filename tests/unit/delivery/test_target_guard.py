"""The SSRF guard's address and URL rules (resolution is exercised in the functional tier)."""

import ipaddress

import pytest

from workflows.delivery.target_guard import (
    TargetPolicy,
    check_url,
    is_allowed_address,
    resolve_target,
)
from workflows.kernel.errors import InvalidTarget

pytestmark = pytest.mark.unit

CLOUD = TargetPolicy(allow_private=False, require_https=True)
LOCAL = TargetPolicy(allow_private=True, require_https=False)


@pytest.mark.parametrize(("address", "cloud", "local"), [
    ("93.184.216.34", True, True),
    ("2606:2800:220:1:248:1893:25c8:1946", True, True),
    ("127.0.0.1", False, True),
    ("::1", False, True),
    ("10.1.2.3", False, True),
    ("192.168.0.10", False, True),
    ("172.16.5.4", False, True),
    ("fd00::1", False, True),
    ("169.254.169.254", False, False),  # cloud metadata: never
    ("fe80::1", False, False),
    ("0.0.0.0", False, False),
    ("224.0.0.1", False, False),
    ("100.64.0.1", False, False),  # carrier-grade NAT
    ("::ffff:127.0.0.1", False, True),
    ("::ffff:169.254.169.254", False, False),
    ("240.0.0.1", False, False),
    # IPv6 transition forms are judged by the IPv4 address they carry.
    ("::127.0.0.1", False, True),  # IPv4-compatible
    ("::169.254.169.254", False, False),
    ("::8.8.8.8", True, True),
    ("::ffff:0:127.0.0.1", False, True),  # IPv4-translated (SIIT)
    ("::ffff:0:169.254.169.254", False, False),
    ("64:ff9b::127.0.0.1", False, True),  # NAT64 well-known prefix
    ("64:ff9b::169.254.169.254", False, False),
    ("64:ff9b::10.0.0.1", False, True),
    ("64:ff9b::8.8.8.8", True, True),
    ("2002:7f00:1::1", False, True),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::1", False, False),  # 6to4 of 169.254.169.254
    ("2002:808:808::1", True, True),  # 6to4 of 8.8.8.8
    # Forms whose IPv4 end cannot be judged are refused.
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False, False),  # Teredo
    ("64:ff9b:1::8.8.8.8", False, False),  # local-use NAT64
    ("::", False, False),
    # Denied whatever Python's is_global tables say (CVE-2024-4032: allowed under 3.11.7).
    ("192.0.0.8", False, False),
    ("192.0.0.1", False, False),
    ("192.0.0.170", False, False),
    ("192.0.0.9", False, False),
    ("192.0.0.255", False, False),
    ("::ffff:192.0.0.8", False, False),
    ("2002:c000:8::1", False, False),  # 6to4 of 192.0.0.8
    ("fec0::1", False, False),
    ("feff:ffff::1", False, False),  # the end of fec0::/10
    ("5f00::1", False, False),
    ("5f00:ffff::1", False, False),
    ("3fff::1", False, False),
    ("3fff:fff::1", False, False),
    ("192.0.1.1", True, True),  # just past 192.0.0.0/24
    ("3fff:1000::1", True, True),  # past 3fff::/20
])
def test_addresses(address: str, cloud: bool, local: bool) -> None:
    ip = ipaddress.ip_address(address)
    assert is_allowed_address(ip, CLOUD) is cloud
    assert is_allowed_address(ip, LOCAL) is local


@pytest.mark.parametrize(("url", "problem"), [
    ("http://example.com/hook", "scheme must be https"),
    ("ftp://example.com/hook", "scheme must be https"),
    ("https:///hook", "no host"),
    ("https://user:pw@example.com/", "credentials"),
    ("https://example.com:99999/", "not a valid URL"),
])
def test_urls_refused_in_the_cloud(url: str, problem: str) -> None:
    with pytest.raises(InvalidTarget, match=problem):
        check_url(url, CLOUD)


def test_urls_accepted() -> None:
    assert check_url("https://example.com/hook", CLOUD) == ("https", "example.com", 443)
    assert check_url("http://localhost:8000/x", LOCAL) == ("http", "localhost", 8000)


@pytest.mark.parametrize("literal", ["[::169.254.169.254]", "[64:ff9b::a9fe:a9fe]",
                                     "[2002:a9fe:a9fe::1]", "[::ffff:0:a9fe:a9fe]"])
def test_a_transition_form_of_the_metadata_address_is_refused_at_resolution(
        literal: str) -> None:
    # Given a URL whose host is an IPv6 literal that carries 169.254.169.254
    # When it is resolved for delivery, Then it is refused as non-public
    with pytest.raises(InvalidTarget, match="non-public address"):
        resolve_target(f"https://{literal}/hook", CLOUD)
