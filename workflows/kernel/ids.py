"""Identifiers and Step Functions execution names."""

import hashlib
import os
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Parts joined with "--" stay readable (and unambiguous) when they hold no "-" at all;
# Step Functions allows at most 80 characters of [A-Za-z0-9_-].
_NAME_SAFE = re.compile(r"^[A-Za-z0-9_]+$")
_NAME_MAX = 80


def new_id(prefix: str) -> str:
    """A time-ordered, random id (ULID layout: 48-bit ms time + 80 random bits)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def execution_name(*parts: str) -> str:
    """A deterministic execution name for `parts`: a repeat start of the same work is idempotent.

    Readable when the parts are name-safe and short enough, otherwise a digest of them.
    """
    joined = "--".join(parts)
    if all(_NAME_SAFE.fullmatch(part) for part in parts) and len(joined) <= _NAME_MAX:
        return joined
    return "h-" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:64]


def webhook_id(tenant: str, event_id: str, subscription_id: str) -> str:
    """The `webhook-id` of one event to one subscription: the same across retries and replays."""
    digest = hashlib.sha256(f"{tenant}\x00{event_id}\x00{subscription_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def derived_name(name: str, suffix: str) -> str:
    """An execution name derived from another one (`<name>--<suffix>`), within 80 characters."""
    joined = f"{name}--{suffix}"
    if len(joined) <= _NAME_MAX:
        return joined
    return "h-" + hashlib.sha256(f"{name}\x00{suffix}".encode()).hexdigest()[:64]
