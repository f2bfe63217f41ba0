"""GET /events bounds its work per request: a filter matching nothing answers a page after a
fixed number of events examined, with a cursor, instead of walking the tenant's whole index."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from workflows.kernel.ids import execution_name, webhook_id
from workflows.kernel.models import Event, NotificationStatus, NotificationTarget
from workflows.kernel.settings import get_settings
from workflows.operations.cursor import CursorCodec
from workflows.operations.events import (
    EVENTS_EXAMINED_PER_PAGE,
    EventFilters,
    EventStatus,
    list_events,
)
from workflows.storage import Store

pytestmark = pytest.mark.functional

BASE = datetime(2026, 11, 1, tzinfo=UTC)
EVENTS = 240
BOUND = 20  # the per-request bound, made small so that 240 events take 12 requests
CODEC = CursorCodec(b"k" * 32)


class QueryCounter:
    """Counts the DynamoDB Query calls of one client."""

    def __init__(self, client: Any) -> None:
        self.queries = 0
        client.meta.events.register("before-call.dynamodb.Query", self._count)

    def _count(self, **_: Any) -> None:
        self.queries += 1


@pytest.fixture
def counted(aws: dict) -> Iterator[tuple[Store, QueryCounter]]:
    settings = get_settings()
    client = boto3.client("dynamodb", region_name="us-east-1")
    yield (Store(client, settings.table_name, data_key_secret_id=settings.data_key_secret_id),
           QueryCounter(client))


@pytest.fixture
def delivered_events(counted: tuple[Store, QueryCounter]) -> list[str]:
    """240 events of tenant 'busy', one a minute, each delivered to one subscription."""
    store, _ = counted
    ids = []
    for n in range(EVENTS):
        event = Event(id=f"evt_{n:04d}", tenant="busy", type="order.created", data={},
                      created_at=BASE + timedelta(minutes=n))
        store.put_event_if_new(event, "arn:ingest")
        target = NotificationTarget(
            tenant="busy", event_id=event.id, subscription_id="sub_1",
            webhook_id=webhook_id("busy", event.id, "sub_1"),
            execution_name=execution_name(event.id, "sub_1"))
        store.create_notifications([target])
        store.set_notification_status(target, NotificationStatus.DELIVERED)
        ids.append(event.id)
    return ids


def _walk(store: Store, counter: QueryCounter, filters: EventFilters, limit: int,
          examine_at_most: int) -> tuple[list[str], list[int], list[int]]:
    """Every page until the cursor is null: (item ids, items per page, queries per page)."""
    ids: list[str] = []
    sizes: list[int] = []
    queries: list[int] = []
    cursor = None
    while True:
        before = counter.queries
        page = list_events("busy", filters, limit, cursor, store=store, codec=CODEC,
                           examine_at_most=examine_at_most)
        queries.append(counter.queries - before)
        sizes.append(len(page.items))
        ids += [item.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return ids, sizes, queries
        assert len(queries) <= EVENTS  # every page moves on: the walk ends


@pytest.mark.parametrize("filters", [EventFilters(status=EventStatus.FAILED),
                                     EventFilters(type="invoice.paid"),
                                     EventFilters(type="invoice.paid",
                                                  status=EventStatus.FAILED)],
                         ids=["status", "type", "type+status"])
def test_a_filter_matching_nothing_examines_at_most_the_bound_per_request(
        counted, delivered_events, filters: EventFilters) -> None:
    # Given 240 delivered events of one tenant
    store, counter = counted
    # When a filter that matches none of them is listed page by page, 100 items a page
    ids, sizes, queries = _walk(store, counter, filters, 100, BOUND)
    # Then no page holds an item, the walk ends after the whole index in bounded steps, and
    # no request queries more than the bound (one status query per event examined) plus the
    # index pages that examined them
    assert ids == [] and set(sizes) == {0}
    # (DynamoDB may answer a page that ends the index with a position: one empty page more)
    assert EVENTS // BOUND <= len(queries) <= EVENTS // BOUND + 1
    assert max(queries) <= BOUND + 1


def test_without_a_status_filter_events_are_only_read_from_the_index_and_counted(
        counted, delivered_events) -> None:
    # Given 240 events and a type matching none: DynamoDB filters them, no status is read
    store, counter = counted
    _, _, queries = _walk(store, counter, EventFilters(type="invoice.paid"), 10, 25)
    # Then each request reads index pages of 25 events in all (10, 10, then 5), and the
    # walk ends after the whole index
    assert queries[:-1] == [3] * (len(queries) - 1)
    assert len(queries) == -(-EVENTS // 25)


def test_a_sparse_match_still_lists_each_event_once_across_short_pages(
        counted, delivered_events) -> None:
    # Given every 7th event failed
    store, counter = counted
    failed = set(delivered_events[::7])
    for event_id in failed:
        store.set_notification_status(NotificationTarget(
            tenant="busy", event_id=event_id, subscription_id="sub_1",
            webhook_id=webhook_id("busy", event_id, "sub_1"),
            execution_name=execution_name(event_id, "sub_1")), NotificationStatus.FAILED)
    # When the failed ones are listed 10 a page
    ids, sizes, queries = _walk(store, counter, EventFilters(status=EventStatus.FAILED), 10,
                                BOUND)
    # Then each failed event comes once, newest first, on pages that may be short
    assert ids == sorted(failed, reverse=True)
    assert min(sizes[:-1]) < 10 and max(sizes) <= 10
    assert max(queries) <= BOUND + 2  # index pages of at least 10 events


def test_an_unfiltered_page_is_always_full(counted, delivered_events) -> None:
    # Given the default bound (above the largest page, 100)
    store, counter = counted
    # When events are listed without a filter, 100 a page
    page = list_events("busy", EventFilters(), 100, None, store=store, codec=CODEC)
    # Then the page is full and the cursor goes on
    assert len(page.items) == 100 <= EVENTS_EXAMINED_PER_PAGE
    assert page.next_cursor is not None
