"""The tiers `stepwire local` provisions: the cloud's unless `--api-rate`/`--api-burst` change
the default tier's limits; and a bucket that follows its plan's throttle when it changes."""

import pytest

from stepwire import cli
from stepwire.config import LocalConfig
from stepwire.gateway.usage_plans import RateLimit, TokenBucket
from workflows.auth.usage_plans import DEFAULT_TIERS, Tier

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def no_configured_tiers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEPWIRE_TENANT_TIERS", raising=False)


def test_without_options_the_tiers_are_the_clouds():
    assert LocalConfig().tenant_tiers() == DEFAULT_TIERS


def test_the_options_replace_the_default_tiers_limits_only():
    tiers = LocalConfig(api_rate=5, api_burst=24).tenant_tiers()

    assert tiers["standard"] == Tier(rate=5, burst=24, monthly_quota=1_000_000)
    assert tiers["large"] == DEFAULT_TIERS["large"]


def test_a_rate_alone_keeps_a_burst_at_least_as_large():
    assert LocalConfig(api_rate=100).tenant_tiers()["standard"].burst == 100
    assert LocalConfig(api_rate=5).tenant_tiers()["standard"].burst == 40


def test_the_configured_tiers_are_the_base(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STEPWIRE_TENANT_TIERS",
                       '{"standard": {"rate": 3, "burst": 6}, "gold": {"rate": 9, "burst": 9}}')

    tiers = LocalConfig(api_burst=12).tenant_tiers()

    assert tiers == {"standard": Tier(rate=3, burst=12), "gold": Tier(rate=9, burst=9)}


def test_a_burst_below_the_rate_stops_stepwire_local_before_it_starts(
        capsys: pytest.CaptureFixture[str]):
    code = cli.main(["local", "--ephemeral", "--api-rate", "10", "--api-burst", "5"])

    assert code == 2
    assert "burst must be at least its rate" in capsys.readouterr().err


def test_a_bucket_follows_its_plans_new_throttle_from_the_moment_it_changes():
    now = [0.0]
    bucket = TokenBucket(RateLimit(rate=1, burst=2), clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0, 0, 1.0]

    # Half a second at the old rate refills half a token; from then on the new rate applies
    now[0] = 0.5
    bucket.follow(RateLimit(rate=10, burst=5))
    assert bucket.take() == pytest.approx(0.05)
    now[0] = 0.6
    assert bucket.take() == 0

    # A smaller burst cuts what the bucket holds
    now[0] = 100.0
    bucket.follow(RateLimit(rate=10, burst=1))
    assert [bucket.take() for _ in range(2)] == [0, pytest.approx(0.1)]
