"""The single DynamoDB table: key schema, index and TTL, defined once.

The CDK stack and the local runtime both build the table from these names; the stores build
every key with the functions below.

    pk                          sk                       item
    TENANT#<t>                  SUB#<subscription id>    subscription
    TENANT#<t>                  DEADLETTER#<e>#<sub id>  dead letter (API view of the DLQ)
    TENANT#<t>                  REVOKED#JTI#<sha256>     a revoked API token (by its jti)
    TENANT#<t>                  REVOKED#SUB#<sha256>     a revoked subject (its tokens until then)
    TENANT#<t>                  HEALTH#<sub id>          endpoint health (the circuit breaker)
    TENANT#<t>#PARKED#<sub id>  <accepted_at>#<e>        a notification parked behind an open
                                                         breaker (oldest event first)
    TENANT#<t>#RATE#<sub id>    PACE                     the endpoint's next free time (its
                                                         rate limit, GCRA)
    TENANT#<t>#RATE#<sub id>    HELD#<webhook id>        a slot reserved for a delivery that
                                                         waits for it
    TENANT#<t>#EVENT#<e>        EVENT                    event
    TENANT#<t>#EVENT#<e>        NOTIF#<sub id>           notification status
    TENANT#<t>#EVENT#<e>        NOTIF#<sub id>#AT#<ts>   one delivery attempt
    gsi1pk = TENANT#<t>#EVENTS, gsi1sk = <created_at>#<event id>   events by time
    gsi1pk = TENANT#<t>#DEADLETTERS, gsi1sk = <failed_at>#<event id>#<sub id>
                                                               dead letters by time
    TENANTS                     <tenant>                 a tenant that has had a subscription
                                                         (the reconciler's list of tenants)
    RECONCILER                  CHECKPOINT               the reconciler's progress and run lease
    RESTARTS#<5-minute bucket>  <t>#<e>#<sub id>         a notification restarted in that bucket
                                                         (replay, redrive, release, reconcile)
    RESTARTS#<5-minute bucket>  <t>#<e>                  an event's fan-out started again (the
                                                         reconciler)

Each event is its own partition: a busy tenant's writes spread over many partition keys (one
key takes at most 1,000 writes/s), and reading an event with its notifications and attempts is
one query of a small partition.
"""

import hashlib

PARTITION_KEY = "pk"
SORT_KEY = "sk"
EVENTS_BY_TIME_INDEX = "gsi1"
EVENTS_BY_TIME_PARTITION_KEY = "gsi1pk"
EVENTS_BY_TIME_SORT_KEY = "gsi1sk"
TTL_ATTRIBUTE = "expires_at"
# What the index's readers use (the event listing; the dead-letter listing and redrive), and
# only that: never an event's `data` (up to 128 KiB), which would be written twice per event and
# throttle the tenant's index partition long before its events did (tests/unit ties these to
# the models).
EVENTS_BY_TIME_ATTRIBUTES = (
    "id", "type", "created_at",  # an event's summary
    "tenant", "event_id", "subscription_id", "webhook_id", "error", "cause", "execution_arn",
    "failed_at", "queued_at",  # a dead letter
)


def tenant_key(tenant: str) -> str:
    return f"TENANT#{tenant}"


def subscription_key(subscription_id: str) -> str:
    return f"SUB#{subscription_id}"


def event_partition(tenant: str, event_id: str) -> str:
    return f"{tenant_key(tenant)}#EVENT#{event_id}"


EVENT_SORT_KEY = "EVENT"
NOTIFICATION_PREFIX = "NOTIF#"
ATTEMPT_INFIX = "#AT#"


def notification_key(subscription_id: str) -> str:
    return f"{NOTIFICATION_PREFIX}{subscription_id}"


def attempt_key(subscription_id: str, at_iso: str) -> str:
    return f"{notification_key(subscription_id)}{ATTEMPT_INFIX}{at_iso}"


def events_by_time_key(tenant: str) -> str:
    return f"{tenant_key(tenant)}#EVENTS"


def dead_letter_key(event_id: str, subscription_id: str) -> str:
    return f"DEADLETTER#{event_id}#{subscription_id}"


def dead_letters_by_time_key(tenant: str) -> str:
    return f"{tenant_key(tenant)}#DEADLETTERS"


def revocation_key(kind: str, value: str) -> str:
    """A digest, not the value: any jti or subject fits DynamoDB's 1 KiB sort key."""
    return f"REVOKED#{kind.upper()}#{hashlib.sha256(value.encode()).hexdigest()}"


HEALTH_PREFIX = "HEALTH#"


def endpoint_health_key(subscription_id: str) -> str:
    return f"{HEALTH_PREFIX}{subscription_id}"


def parked_partition(tenant: str, subscription_id: str) -> str:
    """One partition per endpoint: its parked notifications, read oldest first."""
    return f"{tenant_key(tenant)}#PARKED#{subscription_id}"


def parked_key(accepted_at_iso: str, event_id: str) -> str:
    return f"{accepted_at_iso}#{event_id}"


# One partition of every tenant's id: the tenant registry (issue 21's tenant records will
# live here too).
TENANTS_PARTITION = "TENANTS"
RECONCILER_PARTITION = "RECONCILER"
CHECKPOINT_SORT_KEY = "CHECKPOINT"


def restarts_partition(bucket: str) -> str:
    """The restart markers of one 5-minute bucket (`2026-12-06T10:05`)."""
    return f"RESTARTS#{bucket}"


def restart_marker_key(tenant: str, event_id: str, subscription_id: str | None) -> str:
    """A notification's restart, or (no subscription) its event's fan-out started again."""
    return f"{tenant}#{event_id}#{subscription_id}" if subscription_id else f"{tenant}#{event_id}"


def rate_window_partition(tenant: str, subscription_id: str) -> str:
    """One partition per rate-limited endpoint (its pace and reserved slots), in its own
    partition key so that its writes never share one with the tenant's other items."""
    return f"{tenant_key(tenant)}#RATE#{subscription_id}"


def create_table_request(table_name: str) -> dict:
    """The CreateTable request for this schema (on-demand)."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in (PARTITION_KEY, SORT_KEY,
                         EVENTS_BY_TIME_PARTITION_KEY, EVENTS_BY_TIME_SORT_KEY)
        ],
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [{
            "IndexName": EVENTS_BY_TIME_INDEX,
            "KeySchema": [
                {"AttributeName": EVENTS_BY_TIME_PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": EVENTS_BY_TIME_SORT_KEY, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "INCLUDE",
                           "NonKeyAttributes": list(EVENTS_BY_TIME_ATTRIBUTES)},
        }],
    }


# The publish idempotency records (Powertools Idempotency's own layout, in a table of their own:
# one partition per key, so keyed publishes never share a hot partition with anything).
IDEMPOTENCY_KEY = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"


def create_idempotency_table_request(table_name: str) -> dict:
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": IDEMPOTENCY_KEY, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": IDEMPOTENCY_KEY, "KeyType": "HASH"}],
    }
