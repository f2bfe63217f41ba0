"""Opaque, tamper-proof page cursors.

A cursor is `base64url(json).base64url(hmac)`: the position of the last returned item, the
tenant and a digest of the list's filters, signed with a key derived from the data key. A
changed byte, another tenant's cursor or a cursor reused with other filters is refused.
"""

import base64
import hashlib
import hmac
import json
from functools import cache
from typing import Any

from workflows.kernel import aws
from workflows.kernel.errors import StepwireError

_VERSION = 1
_LABEL = b"stepwire/page-cursor/v1"


class InvalidCursor(StepwireError):
    error_name = "Api.InvalidCursor"


@cache
def _key(secret_id: str) -> bytes:
    material = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    return hmac.new(material.encode(), _LABEL, hashlib.sha256).digest()


def reset() -> None:
    _key.cache_clear()


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_secret(cls, secret_id: str) -> "CursorCodec":
        return cls(_key(secret_id))

    def encode(self, tenant: str, filters: dict[str, Any], position: dict[str, str]) -> str:
        payload = json.dumps({"v": _VERSION, "t": tenant, "f": _digest(filters), "p": position},
                             separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, cursor: str, tenant: str, filters: dict[str, Any]) -> dict[str, str]:
        try:
            body, _, signature = cursor.partition(".")
            payload = _unb64(body)
            valid = hmac.compare_digest(_unb64(signature), self._sign(payload))
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise InvalidCursor("the cursor is not valid (it must be passed back unchanged)")
        data = json.loads(payload)
        if data.get("v") != _VERSION or data.get("t") != tenant:
            raise InvalidCursor("the cursor is not valid for this tenant")
        if data.get("f") != _digest(filters):
            raise InvalidCursor("the cursor belongs to a list with other filters")
        position = data.get("p")
        if not isinstance(position, dict):
            raise InvalidCursor("the cursor is not valid")
        return position

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]


def _digest(filters: dict[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
