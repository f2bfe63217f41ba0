"""Endpoint health: one item per subscription holding its circuit breaker.

Every change is one conditional UpdateItem on that item, so concurrent deliveries, the recovery
execution and the API never overwrite each other's state.
"""

from datetime import datetime
from typing import Any

from workflows.delivery.breaker import BreakerState, EndpointHealth
from workflows.storage import table
from workflows.storage.items import TableAccess, from_item, tenant_key, to_item

_CLOSED, _OPEN, _HALF = (BreakerState.CLOSED.value, BreakerState.OPEN.value,
                         BreakerState.HALF_OPEN.value)
# → closed: the streak, the opening and the disable reason forgotten (a probe or a re-enable).
_CLOSE_SET = "#b = :closed, failure_streak = :zero"
_CLOSE_REMOVE = "REMOVE failing_since, opened_at, next_probe_at, disabled_reason, disabled_at"


class EndpointHealthStore(TableAccess):
    def endpoint_health(self, tenant: str, subscription_id: str) -> EndpointHealth:
        return health_of(self._get(self.health_key(tenant, subscription_id)))

    @staticmethod
    def health_key(tenant: str, subscription_id: str) -> dict:
        return tenant_key(tenant, table.endpoint_health_key(subscription_id))

    def _update_health(self, tenant: str, subscription_id: str, update: str,
                       values: dict[str, Any], condition: str | None = None
                       ) -> EndpointHealth | None:
        """One UpdateItem; the new health, or None when `condition` did not hold."""
        request: dict[str, Any] = {
            "TableName": self._table, "Key": self.health_key(tenant, subscription_id),
            "UpdateExpression": update, "ReturnValues": "ALL_NEW"}
        if "#b" in update or "#b" in (condition or ""):
            request["ExpressionAttributeNames"] = {"#b": "breaker"}
        if values:
            request["ExpressionAttributeValues"] = to_item(values)
        if condition:
            request["ConditionExpression"] = condition
        try:
            return health_of(from_item(self._db.update_item(**request)["Attributes"]))
        except self._db.exceptions.ConditionalCheckFailedException:
            return None

    def record_endpoint_failure(self, tenant: str, subscription_id: str, error: str,
                                at: datetime, *, counts: bool) -> EndpointHealth:
        """A retryable failure: the last error, and (if it `counts`) one more in the streak."""
        health = self._update_health(
            tenant, subscription_id,
            "ADD failure_streak :one SET last_error = :error, last_failure_at = :at, "
            "failing_since = if_not_exists(failing_since, :at), "
            "#b = if_not_exists(#b, :closed)",
            {":one": 1 if counts else 0, ":error": error[:500], ":at": at.isoformat(),
             ":closed": _CLOSED})
        assert health is not None  # unconditional
        return health

    def record_endpoint_success(self, tenant: str, subscription_id: str) -> None:
        """A 2xx ends the streak (the breaker itself is closed only by its recovery)."""
        self._update_health(tenant, subscription_id,
                            "SET failure_streak = :zero REMOVE failing_since",
                            {":zero": 0, ":closed": _CLOSED}, condition="#b = :closed")

    def open_breaker(self, tenant: str, subscription_id: str, recovery_name: str,
                     at: datetime) -> EndpointHealth | None:
        """closed → open, naming the recovery execution (kept if one still runs); None if the
        breaker was not closed (another delivery opened it first)."""
        return self._update_health(
            tenant, subscription_id,
            "SET #b = :open, opened_at = :at, recovery = if_not_exists(recovery, :name)",
            {":open": _OPEN, ":at": at.isoformat(), ":name": recovery_name,
             ":closed": _CLOSED},
            condition="attribute_exists(pk) AND #b = :closed")

    def set_breaker(self, tenant: str, subscription_id: str, state: BreakerState,
                    next_probe_at: datetime | None = None) -> None:
        """open ↔ half_open while the recovery probes (never to or from closed here)."""
        update, values = "SET #b = :state", {":state": state.value, ":closed": _CLOSED}
        if next_probe_at is not None:
            update += ", next_probe_at = :next"
            values[":next"] = next_probe_at.isoformat()
        self._update_health(tenant, subscription_id, update, values,
                            condition="attribute_exists(pk) AND #b <> :closed")

    def close_breaker(self, tenant: str, subscription_id: str) -> bool:
        """→ closed, the streak and the disable reason cleared; False if it already was."""
        return self._update_health(
            tenant, subscription_id,
            f"SET {_CLOSE_SET} {_CLOSE_REMOVE}", {":closed": _CLOSED, ":zero": 0},
            condition="attribute_exists(pk) AND #b <> :closed") is not None

    def finish_recovery(self, tenant: str, subscription_id: str, recovery_name: str) -> bool:
        """The recovery execution ends: only while the breaker is still closed (if it opened
        again, the same execution carries on)."""
        return self._update_health(
            tenant, subscription_id, "REMOVE recovery",
            {":closed": _CLOSED, ":name": recovery_name},
            condition="#b = :closed AND recovery = :name") is not None

    def hand_over_recovery(self, tenant: str, subscription_id: str, from_name: str,
                           to_name: str) -> bool:
        """The running recovery `from_name` names its successor (continue-as-new); False if
        it is no longer the endpoint's recovery."""
        return self._update_health(
            tenant, subscription_id, "SET recovery = :to", {":from": from_name, ":to": to_name},
            condition="recovery = :from") is not None

    def name_recovery(self, tenant: str, subscription_id: str, name: str) -> bool:
        """Name `name` the endpoint's recovery where none is named (the reconciler found
        parked notifications without one); False if one is named (or the item is gone)."""
        return self._update_health(
            tenant, subscription_id, "SET recovery = :name", {":name": name},
            condition="attribute_exists(pk) AND attribute_not_exists(recovery)") is not None

    def close_breaker_for_release(self, tenant: str, subscription_id: str,
                                  new_recovery: str) -> str | None:
        """An admin's re-enable: → closed (as `close_breaker`) and `new_recovery` named as the
        endpoint's recovery, to release at once. The recovery it replaces, or None if the
        breaker was not open (nothing parked waits on a probe)."""
        try:
            old = self._db.update_item(
                TableName=self._table, Key=self.health_key(tenant, subscription_id),
                UpdateExpression=f"SET {_CLOSE_SET}, recovery = :new {_CLOSE_REMOVE}",
                ConditionExpression="#b <> :closed AND attribute_exists(recovery)",
                ExpressionAttributeNames={"#b": "breaker"},
                ExpressionAttributeValues=to_item({":closed": _CLOSED, ":zero": 0,
                                                   ":new": new_recovery}),
                ReturnValues="UPDATED_OLD")["Attributes"]
        except self._db.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(old)["recovery"]

    def mark_endpoint_disabled(self, tenant: str, subscription_id: str, reason: str,
                               at: datetime) -> None:
        self._update_health(tenant, subscription_id,
                            "SET disabled_reason = :reason, disabled_at = :at",
                            {":reason": reason, ":at": at.isoformat()},
                            condition="attribute_exists(pk)")


def health_of(item: dict[str, Any] | None) -> EndpointHealth:
    return EndpointHealth.model_validate(item) if item else EndpointHealth()
