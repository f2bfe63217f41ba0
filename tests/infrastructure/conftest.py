"""One synthesis per session, asset bundling off; the tests read the template it wrote."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import build_app

# Two provisioned tenants, one with more than the default limits: every check of the session's
# template (cdk-nag, cfn-lint, grants) sees their API keys and both usage plans.
TENANTS = ["acme", {"tenant": "bigco", "rate": 200, "burst": 400, "monthly_quota": 0}]


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    template: dict[str, Any]
    validation_report: dict[str, Any]

    @property
    def template_path(self) -> Path:
        return self.outdir / "Stepwire.template.json"

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {logical_id: resource for logical_id, resource in
                self.template["Resources"].items() if resource["Type"] == resource_type}

    def only(self, resource_type: str) -> dict[str, Any]:
        found = list(self.resources(resource_type).values())
        assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
        return found[0]["Properties"]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out")
    # cdk-nag runs as a validation plugin: any unacknowledged finding makes synth() raise.
    build_app(context={"aws:cdk:bundling-stacks": [], "stepwire:tenants": TENANTS},
              outdir=str(outdir)).synth()
    return Synthesized(
        outdir=outdir,
        template=json.loads((outdir / "Stepwire.template.json").read_text()),
        validation_report=json.loads((outdir / "validation-report.json").read_text()))
