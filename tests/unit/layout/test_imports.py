"""The module map holds: no import circle (imports under TYPE_CHECKING and inside functions
included), each concept imports only what lies beneath it, the composition root is imported
by entry points only, and nothing shipped to Lambda imports the local runtime."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("workflows", "lambdas", "stacks", "stepwire")
# What each folder of workflows/ may import of the project (besides itself). Storage reads the
# breaker's and the rate limit's records: those two modules import only the kernel.
ALLOWED = {
    "workflows.kernel": set(),
    "workflows.storage": {"workflows.kernel", "workflows.secrets.secret_box",
                          "workflows.delivery.breaker", "workflows.delivery.rate_limit"},
    "workflows.secrets": {"workflows.kernel"},
    "workflows.auth": {"workflows.kernel", "workflows.storage"},
    "workflows.delivery": {"workflows.kernel", "workflows.storage"},
    "workflows.ingest": {"workflows.kernel", "workflows.storage", "workflows.delivery"},
    "workflows.recovery": {"workflows.kernel", "workflows.storage", "workflows.delivery",
                           "workflows.ingest"},
    "workflows.operations": {"workflows.kernel", "workflows.storage", "workflows.delivery",
                             "workflows.recovery", "workflows.ingest", "workflows.auth"},
    "workflows.api": {"workflows.kernel", "workflows.storage", "workflows.operations",
                      "workflows.auth", "workflows.delivery", "workflows.wiring"},
}
ENTRY_POINTS = ("lambdas", "workflows.api", "stepwire")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES
            for path in (ROOT / package).rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every project module `name` imports, wherever the import statement stands."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            # `from package import module` imports the module; else it is a name of `base`
            found.update(submodules or {base})
    return {module for module in found if module in known and module != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def test_no_module_is_part_of_an_import_circle(graph):
    # Tarjan's strongly connected components: a component of more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert circles == []


def _folder(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_each_concept_imports_only_what_lies_beneath_it(graph):
    wrong = []
    for module, imported in graph.items():
        allowed = ALLOWED.get(_folder(module))
        if allowed is None:
            continue
        for target in imported:
            inside = _folder(target) == _folder(module) or target == "workflows"
            if not inside and not any(target == a or target.startswith(a + ".")
                                      for a in allowed):
                wrong.append(f"{module} → {target}")
    assert wrong == []


def test_only_entry_points_import_the_composition_root(graph):
    importers = {module for module, imported in graph.items() if "workflows.wiring" in imported}
    assert importers
    assert all(module.startswith(ENTRY_POINTS) for module in importers), importers


def test_what_ships_to_lambda_imports_no_local_runtime_nor_the_stacks(graph):
    shipped = {m: i for m, i in graph.items() if m.startswith(("workflows", "lambdas"))}
    assert not [f"{m} → {t}" for m, imported in shipped.items() for t in imported
                if t.startswith(("stepwire", "stacks"))]
    assert not [m for m, imported in graph.items() if m.startswith("stacks")
                for t in imported if t.startswith(("stepwire", "lambdas"))]
