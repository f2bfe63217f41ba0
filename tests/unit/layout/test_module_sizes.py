"""A module that grows past about 300 lines is a sign to split it by concept: none does
without a reason written here."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
LIMIT = 300
# module → why it stays whole
LARGER_ON_PURPOSE: dict[str, str] = {}


def test_no_product_module_is_over_300_lines_without_a_reason():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
             for package in ("workflows", "lambdas", "stacks", "stepwire", "bench")
             for path in (ROOT / package).rglob("*.py")}
    over = {module: lines for module, lines in sizes.items()
            if lines > LIMIT and module not in LARGER_ON_PURPOSE}
    assert over == {}
    assert all(module in sizes for module in LARGER_ON_PURPOSE), "a reason for no module"
