"""The fault registry is one per process: each test starts and ends with no rule."""

from collections.abc import Iterator

import pytest

from stepwire.emulation.chaos import FAULTS, Faults, hooks


@pytest.fixture
def faults() -> Iterator[Faults]:
    hooks.start()
    yield FAULTS
    hooks.stop()
