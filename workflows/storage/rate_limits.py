"""The rate limit's records, in the endpoint's own partition: its theoretical arrival time
(`PACE`) and the slots reserved for deliveries that wait (`HELD#<webhook-id>`, marked `used`
once taken; both removed by the TTL an hour after their slot)."""

from decimal import Decimal
from typing import Any

from workflows.delivery.rate_limit import KEPT_SECONDS, Pacing, Slot
from workflows.storage import table
from workflows.storage.items import TableAccess, from_item, key, to_item

PACE = "PACE"
HELD = "HELD#"
TAT = "tat"
USED = "used"
# An idle endpoint's TAT set by another delivery between the read and the write sends the
# update down the busy path: two turns, three when the TAT expired meanwhile.
_TURNS = 3


class RateLimitStore(TableAccess):
    def take_delivery_slot(self, tenant: str, subscription_id: str, webhook_id: str,
                           pacing: Pacing, now: float) -> Slot:
        """This delivery's turn at the endpoint: one read (its TAT and any slot reserved for
        it) and, unless it comes back for its reserved slot, one conditional UpdateItem of the
        TAT. A slot too far ahead to wait for in the task is reserved for it (one PutItem),
        and the answer says how long to wait; a reserved slot is used once (one UpdateItem
        instead of the TAT's)."""
        partition = table.rate_window_partition(tenant, subscription_id)
        held_key = key(partition, HELD + webhook_id)
        tat, held = self._read_pace(partition, held_key)
        if held is not None and pacing.sendable(held, now):
            if self._use_reservation(held_key, held):
                return Slot(at=held)
        elif held is not None and held > now:  # back too early: keep the reservation
            return Slot(at=held, wait=pacing.wait_seconds(held, now),
                        ahead=pacing.ahead(held, now))
        slot = self._advance(partition, tat, pacing, now)
        if pacing.sendable(slot, now):
            return Slot(at=slot)
        self._db.put_item(TableName=self._table, Item={**held_key, **to_item({
            TAT: _number(slot), table.TTL_ATTRIBUTE: int(slot) + KEPT_SECONDS})})
        return Slot(at=slot, wait=pacing.wait_seconds(slot, now), ahead=pacing.ahead(slot, now))

    def _read_pace(self, partition: str, held_key: dict) -> tuple[float | None, float | None]:
        pace_key = key(partition, PACE)
        request: dict[str, Any] = {self._table: {"Keys": [pace_key, held_key],
                                                 "ConsistentRead": True}}
        found: dict[str, float] = {}
        while request:
            answer = self._db.batch_get_item(RequestItems=request)
            for raw in answer["Responses"].get(self._table, []):
                item = from_item(raw)
                if not item.get(USED):
                    found[item[table.SORT_KEY]] = float(item[TAT])
            request = answer.get("UnprocessedKeys") or {}
        return found.get(PACE), found.get(held_key[table.SORT_KEY]["S"])

    def _use_reservation(self, held_key: dict, slot: float) -> bool:
        """Mark the reservation used, unless another run of the same notification did first
        (the item stays until its TTL: what waited can be counted)."""
        try:
            self._db.update_item(TableName=self._table, Key=held_key,
                                 UpdateExpression=f"SET {USED} = :yes",
                                 ConditionExpression=f"{TAT} = :slot AND "
                                                     f"attribute_not_exists({USED})",
                                 ExpressionAttributeValues=to_item({":slot": _number(slot),
                                                                    ":yes": True}))
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def _advance(self, partition: str, tat: float | None, pacing: Pacing, now: float) -> float:
        """Take the next free slot with one conditional UpdateItem. A busy endpoint's TAT is
        moved by arithmetic in the table (no race to lose: concurrent deliveries get
        consecutive slots); an idle one's is set from now, and a delivery that finds another
        got there first takes the busy path."""
        for _ in range(_TURNS):
            busy = tat is not None and tat >= now
            expires = int(pacing.slot(tat, now)) + KEPT_SECONDS
            request: dict[str, Any] = {
                "TableName": self._table, "Key": key(partition, PACE),
                "ExpressionAttributeNames": {"#tat": TAT, "#ttl": table.TTL_ATTRIBUTE},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
            if busy:
                request.update(
                    UpdateExpression="SET #tat = #tat + :interval, #ttl = :expires",
                    ConditionExpression="#tat >= :now", ReturnValues="UPDATED_OLD",
                    ExpressionAttributeValues=to_item({
                        ":interval": _number(pacing.interval), ":now": _number(now),
                        ":expires": expires}))
            else:
                request.update(
                    UpdateExpression="SET #tat = :next, #ttl = :expires",
                    ConditionExpression="attribute_not_exists(#tat) OR #tat < :now",
                    ExpressionAttributeValues=to_item({
                        ":next": _number(now + pacing.interval), ":now": _number(now),
                        ":expires": expires}))
            try:
                answer = self._db.update_item(**request)
            except self._db.exceptions.ConditionalCheckFailedException as exc:
                found = exc.response.get("Item")  # (not every emulation answers it: read)
                current = from_item(found) if found else self._get(key(partition, PACE)) or {}
                tat = float(current[TAT]) if TAT in current else None
                continue
            return float(from_item(answer["Attributes"])[TAT]) if busy else now
        raise RuntimeError("the endpoint's rate limit changed under every try")


def _number(value: float) -> Decimal:
    """A float as DynamoDB keeps it: the shortest decimal that reads back as the same float."""
    return Decimal(repr(value))
