"""Standard Webhooks signatures, made by the `standardwebhooks` package itself."""

import base64
import os
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(24)).decode()


def signature_header(secrets: Iterable[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """`v1,<sig>` per secret, space separated: during a rotation both verify."""
    return " ".join(Webhook(secret).sign(msg_id, timestamp, body) for secret in secrets)
