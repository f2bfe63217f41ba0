"""The one Lambda code asset: workflows/ and lambdas/ plus the third-party wheels, built locally.

No Docker: CDK's local bundling hook runs `pip install --platform … --only-binary=:all:` into
the asset folder, so binary packages (pydantic-core, cryptography) arrive as Linux CPython
wheels of the Lambda runtime whatever machine synthesizes. boto3 is in the runtime and
Powertools in the layer, so neither is bundled.
"""

import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from stacks.constants import NOT_BUNDLED, PIP_PLATFORM, PYPROJECT, PYTHON_VERSION, REPO_ROOT

# What the asset carries of the repository: the domain and the handlers. The local runtime is
# a package of its own (`stepwire/`), so nothing inside them is left out by name.
CODE_PACKAGES = ("workflows", "lambdas")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def distribution_name(requirement: str) -> str:
    """`pyjwt[crypto]==2.15.1` → `pyjwt` (normalized as in PEP 503)."""
    match = _NAME.match(requirement)
    if not match:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def pinned_version(distribution: str, pyproject: Path = PYPROJECT) -> str:
    """The `==` pin of `distribution` in pyproject.toml; it must be the version installed here,
    the one the tests ran against."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = [r.split("==", 1)[1].strip() for r in dependencies
            if distribution_name(r) == distribution and "==" in r]
    if len(pins) != 1:
        raise ValueError(f"pyproject.toml must pin {distribution} with == exactly once")
    installed = metadata.version(distribution)
    if installed != pins[0]:
        raise ValueError(f"{distribution} {installed} is installed but pyproject.toml pins "
                         f"{pins[0]}: the tests and the deployed layer would differ")
    return pins[0]


def lambda_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """The project's run-time dependencies minus what the runtime and the layer provide."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [r for r in dependencies if distribution_name(r) not in NOT_BUNDLED]


def pip_install_command(target: Path, requirements: list[str]) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
            "--disable-pip-version-check", "--platform", PIP_PLATFORM,
            "--implementation", "cp", "--python-version", PYTHON_VERSION,
            "--only-binary=:all:", "--target", str(target), *requirements]


def _code_files() -> list[Path]:
    files = []
    for package in CODE_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            files.append(path)
        files += _package_data(package)
    return files


def _package_data(package: str) -> list[Path]:
    """The files besides the Python that pyproject.toml ships with `package` (the console's
    static files, which the API function serves): the Lambda asset carries what an installed
    package has."""
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"].get(
        "package-data", {}).get(package, [])
    return sorted({path for pattern in patterns for path in (REPO_ROOT / package).glob(pattern)
                   if path.is_file()})


def copy_code(target: Path) -> None:
    for path in _code_files():
        destination = target / path.relative_to(REPO_ROOT)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def asset_hash(requirements: list[str]) -> str:
    """Changes when a pinned requirement, the target platform or any bundled source file does."""
    digest = hashlib.sha256()
    digest.update("\n".join([PIP_PLATFORM, PYTHON_VERSION, *requirements]).encode())
    for path in _code_files():
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_asset(target: Path, requirements: list[str]) -> None:
    """What the bundling hook does; also called directly by the asset test."""
    result = subprocess.run(pip_install_command(target, requirements),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip could not bundle the Lambda dependencies:\n{result.stderr}")
    # Wheels' console scripts are of no use in Lambda.
    shutil.rmtree(target / "bin", ignore_errors=True)
    copy_code(target)


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """CDK calls `try_bundle(output_dir, options)` (positionally) before it would use Docker."""

    def __init__(self, requirements: list[str]) -> None:
        self._requirements = requirements

    def try_bundle(self, output_dir: str, *_options: object, **_kwargs: object) -> bool:
        build_asset(Path(output_dir), self._requirements)
        return True


def lambda_code() -> lambda_.Code:
    """The asset shared by every function (one upload, one hash)."""
    requirements = lambda_requirements()
    return lambda_.Code.from_asset(
        str(REPO_ROOT / "lambdas"),  # the source folder only names the asset: bundling builds it
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(requirements),
        bundling=BundlingOptions(
            image=lambda_.Runtime.PYTHON_3_12.bundling_image,
            local=PipLocalBundling(requirements),
        ),
    )
