"""Encryption of subscription signing secrets at rest (AES-256-GCM).

The key lives in Secrets Manager; it is read once per process and cached.
"""

import base64
import os
from functools import cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workflows.kernel import aws

_NONCE_BYTES = 12


def new_data_key() -> str:
    """A fresh key, as stored in the secret (base64)."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


@cache
def _cipher(secret_id: str) -> AESGCM:
    value = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    return AESGCM(base64.b64decode(value))


def encrypt(secret_id: str, plaintext: str, context: str) -> str:
    """`context` (the subscription's key) is authenticated: a ciphertext cannot be moved."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _cipher(secret_id).encrypt(nonce, plaintext.encode(), context.encode())
    return base64.b64encode(nonce + sealed).decode()


def decrypt(secret_id: str, ciphertext: str, context: str) -> str:
    raw = base64.b64decode(ciphertext)
    opened = _cipher(secret_id).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
    return opened.decode()


def reset() -> None:
    _cipher.cache_clear()
