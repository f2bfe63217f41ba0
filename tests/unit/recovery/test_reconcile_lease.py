"""A run's lease is ended even when AWS fails the write a few times: a lease left behind would
hold every run off for RUN_LEASE_SECONDS (6 minutes), long after the faults."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from workflows.recovery.reconcile import RELEASE_ATTEMPTS, save_progress

pytestmark = pytest.mark.unit

THROTTLED = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                   "Message": "throttled"}}, "UpdateItem")


class FailingStore:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.saved: list[tuple[str, dict, bool]] = []

    def save_reconciler_progress(self, run_id: str, values: dict[str, Any],
                                 release: bool) -> bool:
        if self.failures:
            self.failures -= 1
            raise THROTTLED
        self.saved.append((run_id, values, release))
        return True


def test_the_release_is_tried_again_until_it_is_written():
    store, pauses = FailingStore(failures=RELEASE_ATTEMPTS - 1), []

    assert save_progress(store, "rec_1", {"retries": 0}, pause=pauses.append)  # type: ignore[arg-type]

    assert store.saved == [("rec_1", {"retries": 0}, True)]
    assert pauses == [0.1 * 2 ** n for n in range(RELEASE_ATTEMPTS - 1)]


def test_a_release_aws_keeps_failing_raises_after_its_attempts():
    store = FailingStore(failures=RELEASE_ATTEMPTS)

    with pytest.raises(ClientError):
        save_progress(store, "rec_2", {}, pause=lambda seconds: None)  # type: ignore[arg-type]
    assert store.saved == [] and store.failures == 0
