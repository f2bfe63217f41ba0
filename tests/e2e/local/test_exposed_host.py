"""`stepwire local --host 0.0.0.0` (issue 22, findings 1 and 7): the banner names the risk; the
console is served under any name, the AWS endpoint stays loopback-only and checks its Host."""

import httpx
import pytest

from tests.e2e.conftest import start_local, stop_local

pytestmark = pytest.mark.e2e


def test_an_exposed_api_is_announced_with_its_risks_and_the_aws_endpoint_stays_closed() -> None:
    local = start_local("--host", "0.0.0.0")
    try:
        aws_port = local.aws_endpoint.rsplit(":", 1)[1]
        api_port = local.api_url.rsplit(":", 1)[1]
        console = httpx.get(local.api_url + "/console/",
                            headers={"Host": f"devbox.lan:{api_port}"})
        aws = httpx.get(local.aws_endpoint + "/_stepwire/chaos/faults",
                        headers={"Host": f"devbox.lan:{aws_port}"})
    finally:
        code, output = stop_local(local)

    assert "WARNING:      the API listens on 0.0.0.0, reachable from the network" in local.banner
    assert "denial of service" in local.banner and "per address" in local.banner
    assert console.status_code == 200
    assert aws.status_code == 403
    assert code == 0, output
