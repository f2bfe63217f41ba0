"""The SSRF guard's address and URL rules (resolution is exercised in the functional tier)."""

import ipaddress

import pytest

from workflows.errors import InvalidTarget
from workflows.target_guard import TargetPolicy, check_url, is_allowed_address

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
