"""DynamoDB storage, one store per record type over the one table (`workflows.storage.table`).

`Store` is all of them together, as the use cases receive it.
"""

from workflows.storage.dead_letters import DeadLetterStore
from workflows.storage.endpoint_health import EndpointHealthStore
from workflows.storage.events import EventStore
from workflows.storage.items import DELIVERED_AT, STATUS
from workflows.storage.notifications import NEXT_ATTEMPT, Claim, NotificationStore
from workflows.storage.parked import ParkedNotification, ParkedStore
from workflows.storage.rate_limits import RateLimitStore
from workflows.storage.reconciler import ReconcilerStore
from workflows.storage.restart_markers import RestartMarkerStore
from workflows.storage.subscriptions import SubscriptionStore
from workflows.storage.tenants import TenantRegistryStore

__all__ = ["DELIVERED_AT", "NEXT_ATTEMPT", "STATUS", "Claim", "EndpointHealthStore",
           "ParkedNotification", "Store"]


class Store(SubscriptionStore, EventStore, NotificationStore, DeadLetterStore, ParkedStore,
            RateLimitStore, TenantRegistryStore, RestartMarkerStore, ReconcilerStore):
    """Every read and write of the table."""
