#!/usr/bin/env python3
"""The CDK app: `make synth`, `npx aws-cdk synth` or `cdk deploy`.

`python app.py` does not read cdk.json by itself (only the CDK CLI does), so its context, the
feature flags included, is loaded here: the CLI and a bare `python app.py` synthesize the same
template.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path


def _silence_node_end_of_life_banner() -> None:
    """jsii prints a banner on every start under an end-of-life Node unless told its version."""
    variable = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"
    node = shutil.which("node")
    if node and variable not in os.environ:
        version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                 check=False).stdout.strip()
        os.environ[variable] = version.lstrip("v").split(".")[0]


_silence_node_end_of_life_banner()

import aws_cdk as cdk  # noqa: E402 - after the banner's variable is set
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from stacks.constants import (  # noqa: E402
    CONTEXT_ALARM_EMAIL,
    CONTEXT_CONSOLE_FRAME_ANCESTORS,
    CONTEXT_ENDPOINT_HEALTH,
    CONTEXT_EVENT_PRODUCERS,
    CONTEXT_TENANT_API_KEYS,
    CONTEXT_TIERS,
    REMOVED_CONTEXT_TENANTS,
    STACK_ID,
)
from stacks.ingress import Producer  # noqa: E402
from stacks.nag import acknowledge_findings  # noqa: E402
from stacks.stepwire_stack import StepwireStack  # noqa: E402
from stacks.tenant_limits import refuse_listed_tenants, tiers_of  # noqa: E402

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def cdk_json_context() -> dict:
    return json.loads(CDK_JSON.read_text()).get("context", {})


def build_app(context: dict | None = None, outdir: str | None = None) -> cdk.App:
    """The app with cdk.json's context, overridden by `context` (tests switch bundling off)."""
    app = cdk.App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    refuse_listed_tenants(app.node.try_get_context(REMOVED_CONTEXT_TENANTS))
    stack = StepwireStack(
        app, STACK_ID,
        description="Stepwire: webhook notifications on AWS Step Functions",
        alarm_email=app.node.try_get_context(CONTEXT_ALARM_EMAIL) or None,
        require_tenant_api_keys=_on_unless_false(app.node.try_get_context(CONTEXT_TENANT_API_KEYS)),
        tiers=tiers_of(app.node.try_get_context(CONTEXT_TIERS)),
        console_frame_ancestors=app.node.try_get_context(CONTEXT_CONSOLE_FRAME_ANCESTORS)
        or "'none'",
        producers=tuple(Producer.of(p) for p in
                        app.node.try_get_context(CONTEXT_EVENT_PRODUCERS) or ()),
        endpoint_health=app.node.try_get_context(CONTEXT_ENDPOINT_HEALTH) or {},
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
                            region=os.environ.get("CDK_DEFAULT_REGION")),
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    acknowledge_findings(stack)
    return app


def _on_unless_false(value: object) -> bool:
    """On unless set to false: per-tenant API limits are the default."""
    return str(value).lower() != "false"


if __name__ == "__main__":
    # The CDK CLI names the output folder (CDK_OUTDIR); `python app.py` writes to cdk.out.
    build_app(outdir=None if "CDK_OUTDIR" in os.environ else "cdk.out").synth()
