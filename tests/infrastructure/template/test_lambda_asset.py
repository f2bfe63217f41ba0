"""The bundled Lambda asset, built as synth builds it: pinned wheels for Linux x86_64 CPython
3.12, the domain and the handlers, and nothing the runtime or the layer provides."""

import re
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest

from stacks.bundling import (
    build_asset,
    copy_code,
    distribution_name,
    lambda_requirements,
    pinned_version,
)
from stacks.constants import NOT_BUNDLED, REPO_ROOT
from stacks.functions import ALL_FUNCTIONS

pytestmark = pytest.mark.infrastructure

BINARY_PACKAGES = {"pydantic-core": "pydantic_core", "cryptography": "cryptography"}
_WHEEL_TAG = re.compile(r"^(?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>.+)$")


@pytest.fixture(scope="module")
def asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("lambda-asset")
    build_asset(target, lambda_requirements())
    return target


def installed(asset: Path) -> dict[str, tuple[str, list[str]]]:
    """distribution name → (version, wheel tags)."""
    found = {}
    for dist_info in asset.glob("*.dist-info"):
        metadata = Parser().parsestr((dist_info / "METADATA").read_text())
        wheel = Parser().parsestr((dist_info / "WHEEL").read_text())
        found[distribution_name(metadata["Name"])] = (metadata["Version"],
                                                      wheel.get_all("Tag"))
    return found


def is_target_tag(tag: str) -> bool:
    """Pure Python, or CPython 3.12 (or the stable ABI up to it) on manylinux x86_64."""
    match = _WHEEL_TAG.match(tag)
    assert match, tag
    python, abi, platform = match["python"], match["abi"], match["platform"]
    if abi == "none" and platform == "any":
        return python.startswith("py3") or "py3" in python.split(".")
    on_linux_x86_64 = platform.startswith("manylinux") and platform.endswith("_x86_64")
    if abi == "abi3":
        return on_linux_x86_64 and python.startswith("cp3") and int(python[3:]) <= 12
    return on_linux_x86_64 and python == "cp312" and abi == "cp312"


def test_every_pinned_requirement_is_bundled_at_its_pinned_version(asset):
    packages = installed(asset)
    for requirement in lambda_requirements():
        name, version = distribution_name(requirement), requirement.split("==")[1]
        assert packages.get(name, ("missing",))[0] == version, requirement


def test_every_wheel_targets_linux_x86_64_cpython_312(asset):
    for name, (_version, tags) in installed(asset).items():
        assert tags and all(is_target_tag(tag) for tag in tags), (name, tags)


def test_binary_packages_carry_linux_x86_64_extension_modules(asset):
    packages = installed(asset)
    for name, module in BINARY_PACKAGES.items():
        assert not any("none-any" in tag for tag in packages[name][1]), name
        extensions = [p.name for p in (asset / module).rglob("*.so")]
        assert extensions, name
        assert all("x86_64-linux-gnu" in so or ".abi3." in so for so in extensions), extensions
    assert (asset / "pydantic_core" /
            "_pydantic_core.cpython-312-x86_64-linux-gnu.so").exists()


def test_nothing_of_boto3_or_powertools_is_bundled(asset):
    assert not NOT_BUNDLED & set(installed(asset))
    for module in ("boto3", "botocore", "s3transfer", "aws_lambda_powertools"):
        assert not (asset / module).exists(), module


def test_the_domain_and_the_handlers_are_bundled_without_the_local_runtime(asset):
    for handler in (REPO_ROOT / "lambdas").glob("*.py"):
        assert (asset / "lambdas" / handler.name).exists(), handler.name
    for module in (REPO_ROOT / "workflows").rglob("*.py"):
        assert (asset / module.relative_to(REPO_ROOT)).exists(), module
    assert not (asset / "stepwire").exists()
    shipped = "\n".join(path.read_text() for path in (asset / "workflows").rglob("*.py"))
    assert "import moto" not in shipped and "from moto" not in shipped
    assert "from stepwire" not in shipped and "import stepwire" not in shipped
    assert not (asset / "tests").exists()
    assert not list(asset.rglob("__pycache__"))


def test_the_console_files_ship_in_the_asset(tmp_path):
    # The API function serves them (workflows/api/console_routes.py): what pyproject.toml
    # ships with the package, the asset carries
    copy_code(tmp_path)
    console = REPO_ROOT / "workflows" / "console"
    files = {p.name for p in console.iterdir() if p.suffix in (".html", ".js", ".css")}
    assert {"index.html", "app.js", "tenants.js", "style.css"} <= files
    for name in files:
        shipped = tmp_path / "workflows" / "console" / name
        assert shipped.read_bytes() == (console / name).read_bytes(), name


def test_every_function_handler_is_in_the_asset(asset):
    for spec in ALL_FUNCTIONS:
        module = asset / "lambdas" / f"{spec.module}.py"
        assert module.exists(), spec.handler
        assert "def lambda_handler(" in module.read_text(), spec.handler


def test_synth_refuses_a_powertools_pin_other_than_the_installed_version(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["aws-lambda-powertools==0.0.1"]\n')
    with pytest.raises(ValueError, match="the tests and the deployed layer would differ"):
        pinned_version("aws-lambda-powertools", pyproject)
    assert pinned_version("aws-lambda-powertools") == metadata.version("aws-lambda-powertools")
