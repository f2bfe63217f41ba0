"""One synthesis per session, asset bundling off; the tests read the template it wrote."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import build_app

# The app's own context (cdk.json): tenants are records made at run time, so no context value
# names them; every check of the session's template (cdk-nag, cfn-lint, grants) sees the
# default tiers' usage plans, the platform plan and the tenant-limits function.
SYNTH_CONTEXT = {"aws:cdk:bundling-stacks": []}


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
    build_app(context=SYNTH_CONTEXT, outdir=str(outdir)).synth()
    return Synthesized(
        outdir=outdir,
        template=json.loads((outdir / "Stepwire.template.json").read_text()),
        validation_report=json.loads((outdir / "validation-report.json").read_text()))
