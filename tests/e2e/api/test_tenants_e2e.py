"""Tenants end to end, on `stepwire local` over HTTP: the operator (a token from `stepwire token
--operator`) creates a tenant and gets a token for it through the API; the tenant publishes and
a real receiver gets the webhook signed; a suspension refuses the tenant's tokens (403) while
what it published before is still delivered; a resume serves it again; a tier change moves its
throttle."""

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.api.test_api_http import eventually, stepwire_token, subscribe
from tests.e2e.conftest import ROOT, LocalProcess, start_local, stop_local
from tests.support.receiver import Answer, Received, Receiver
from workflows.auth.tokens import issue_token, signing_key
from workflows.auth.usage_plans import DEFAULT_TIERS

pytestmark = pytest.mark.e2e


def stepwire_cli_token(local: LocalProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stepwire.cli", "token", *args, "--aws-port",
                           str(urlsplit(local.aws_endpoint).port)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalProcess]:
    # The cloud's tiers (standard: 20/s, bursts of 40): a tenant is moved between them.
    running = start_local(cloud_tiers=True)
    try:
        yield running
    finally:
        code, output = stop_local(running)
        assert code == 0, output


@pytest.fixture(scope="module")
def operator(local: LocalProcess) -> Iterator[httpx.Client]:
    done = stepwire_cli_token(local, "--operator")
    assert done.returncode == 0, done.stderr
    with httpx.Client(base_url=local.api_url, timeout=30,
                      headers={"Authorization": f"Bearer {done.stdout.strip()}"}) as client:
        yield client


class HeldUntilSuspended:
    """The receiver's script: the event with `data.held` answers 503 until the tenant is
    suspended, so that its delivery is still under way when the suspension lands."""

    def __init__(self) -> None:
        self.suspended = threading.Event()
        self.delivered_after_suspension = threading.Event()

    def __call__(self, request: Received) -> Answer:
        held = bool(request.payload and request.payload["data"].get("held"))
        if held and not self.suspended.is_set():
            return Answer(status=503)
        if held:
            self.delivered_after_suspension.set()
        return Answer(status=200)


def test_an_operator_runs_a_tenant_from_creation_to_suspension_and_back(
        local: LocalProcess, operator: httpx.Client):
    # Given a tenant created by the operator, and a token for it asked of the API
    created = operator.post("/tenants", json={"id": "globex"})
    assert created.status_code == 201, created.text
    standard = DEFAULT_TIERS["standard"]
    assert created.json()["status"] == "active"
    assert created.json()["limits"] == {"tier": "standard", "rate": standard.rate,
                                        "burst": standard.burst,
                                        "monthly_quota": standard.monthly_quota}
    issued = operator.post("/tenants/globex/tokens", json={"roles": ["admin", "publisher"]})
    assert issued.status_code == 201, issued.text
    script = HeldUntilSuspended()
    with Receiver(script) as receiver, httpx.Client(
            base_url=local.api_url, timeout=30,
            headers={"Authorization": f"Bearer {issued.json()['token']}"}) as tenant:
        # When the tenant subscribes the receiver and publishes
        subscribe(tenant, receiver, "/globex", ["invoice.*"])
        first = tenant.post("/events", json={"type": "invoice.paid", "data": {"n": 1}})
        assert first.status_code == 202, first.text
        # Then the receiver gets it, signed with the subscription's secret
        [delivered] = receiver.wait_for("/globex", 1)
        assert delivered.verified and delivered.payload["data"] == {"n": 1}

        # When an event is under way (its first attempt answered 503) and the tenant is
        # suspended
        held = tenant.post("/events", json={"type": "invoice.paid", "data": {"held": True}})
        assert held.status_code == 202, held.text
        receiver.wait_for("/globex", 2)
        suspended = operator.patch("/tenants/globex", json={"status": "suspended"})
        assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
        script.suspended.set()

        # Then the tenant's token is refused with a detail naming the tenant...
        for refused in (tenant.post("/events", json={"type": "invoice.paid", "data": {}}),
                        tenant.get("/subscriptions")):
            assert refused.status_code == 403
            assert "tenant 'globex' is suspended" in refused.json()["detail"]
        # ...and the event published before the suspension is delivered all the same
        assert script.delivered_after_suspension.wait(60)
        assert all(r.verified for r in receiver.requests["/globex"])

        # When the operator resumes it, its token is served again
        resumed = operator.patch("/tenants/globex", json={"status": "active"})
        assert resumed.status_code == 200 and resumed.json()["status"] == "active"
        again = tenant.post("/events", json={"type": "invoice.paid", "data": {"n": 3}})
        assert again.status_code == 202, again.text
        eventually(lambda: tenant.get(f"/events/{held.json()['id']}").json()["status"]
                   == "delivered")

        # When the operator moves it to the large tier
        moved = operator.patch("/tenants/globex", json={"limits": {"tier": "large"}})
        large = DEFAULT_TIERS["large"]
        assert moved.status_code == 200, moved.text
        shown = operator.get("/tenants/globex").json()["limits"]
        assert shown == {"tier": "large", "rate": large.rate, "burst": large.burst,
                         "monthly_quota": None}

        # Then the gateway throttles it with the large plan (within its 2 s lookup): twice the
        # standard tier's burst at once all pass
        def burst() -> bool:
            with ThreadPoolExecutor(max_workers=16) as pool:
                answers = list(pool.map(lambda _: tenant.get("/subscriptions").status_code,
                                        range(2 * standard.burst)))
            return set(answers) == {200}

        assert eventually(burst, timeout=20)


def test_stepwire_token_registers_a_new_tenant_and_refuses_a_suspended_one(
        local: LocalProcess, operator: httpx.Client):
    # Given a tenant nobody created, a token from `stepwire token` registers it
    token = stepwire_token(local, "initrode", "reader")
    assert operator.get("/tenants/initrode").json()["status"] == "active"
    assert httpx.get(f"{local.api_url}/events", timeout=30,
                     headers={"Authorization": f"Bearer {token}"}).status_code == 200

    # When the operator suspends it, `stepwire token` says so and prints no token
    assert operator.patch("/tenants/initrode", json={"status": "suspended"}).status_code == 200
    done = stepwire_cli_token(local, "--tenant", "initrode", "--roles", "reader")
    assert done.returncode == 1 and done.stdout == ""
    assert "tenant 'initrode' is suspended" in done.stderr


def test_a_token_minted_by_hand_for_an_unregistered_tenant_gets_403_naming_it(
        local: LocalProcess):
    key = signing_key(local.client("secretsmanager").get_secret_value(
        SecretId="stepwire/jwt-signing-key"))
    token = issue_token(key, tenant="umbrella", roles=["admin"], sub="by-hand",
                        issuer="stepwire", audience="stepwire-api")

    refused = httpx.get(f"{local.api_url}/subscriptions", timeout=30,
                        headers={"Authorization": f"Bearer {token}"})

    assert refused.status_code == 403
    assert "tenant 'umbrella' is not registered" in refused.json()["detail"]
