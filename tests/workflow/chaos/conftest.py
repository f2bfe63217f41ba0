"""Faults aimed at chosen calls (`aimed.py`), removed after each test."""

from collections.abc import Callable, Iterator

import pytest

from stepwire.emulation.chaos import FAULTS
from tests.workflow.chaos.aimed import AimedFault


@pytest.fixture
def aim_faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    def arm(*faults: AimedFault) -> None:
        for fault in faults:
            monkeypatch.setattr(FAULTS, "decide", fault.wrap(FAULTS.decide))
        FAULTS.replace([fault.rule() for fault in faults])

    yield arm
    FAULTS.replace([])  # faults off
