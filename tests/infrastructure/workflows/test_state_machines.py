"""Both ASL files: every placeholder substituted in the template, and statelint-clean."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.constants import STATEMACHINES_DIR

pytestmark = pytest.mark.infrastructure

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
ASL_FILES = sorted(STATEMACHINES_DIR.glob("*.asl.json"))


def machines(synthesized) -> dict[str, dict]:
    return {m["Properties"]["StateMachineName"].split("-", 1)[1]: m["Properties"]
            for m in synthesized.resources("AWS::StepFunctions::StateMachine").values()}


def test_both_files_are_deployed_inline(synthesized):
    assert set(machines(synthesized)) == {p.name.split(".")[0] for p in ASL_FILES}
    for name, properties in machines(synthesized).items():
        definition = json.loads(properties["DefinitionString"])
        assert definition == json.loads((STATEMACHINES_DIR / f"{name}.asl.json").read_text())


@pytest.mark.parametrize("name", ["ingest", "notification", "long-tail"])
def test_no_placeholder_is_left_unsubstituted(synthesized, name):
    properties = machines(synthesized)[name]
    placeholders = set(PLACEHOLDER.findall(properties["DefinitionString"]))
    assert placeholders, "the definitions name their resources through placeholders"
    substitutions = properties["DefinitionSubstitutions"]
    assert placeholders == set(substitutions)
    for key, value in substitutions.items():
        assert value not in ("", None), key


def test_statelint_accepts_both_definitions():
    statelint = Path(sys.executable).with_name("statelint")
    result = subprocess.run([str(statelint), "--ignore", "URI", "--ignore", "FLOAT",
                             *map(str, ASL_FILES)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
