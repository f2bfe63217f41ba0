"""Random keys held in Secrets Manager: the JWT signing key's rotation and first values.

Rotation follows the four steps Secrets Manager drives (createSecret, setSecret, testSecret,
finishSecret): a new random key is stored as AWSPENDING, checked, then promoted to AWSCURRENT.
Secrets Manager moves AWSPREVIOUS to the key it replaces, and the authorizer accepts both
AWSCURRENT and AWSPREVIOUS (the latter for the longest token lifetime after the rotation), so a
rotation never invalidates a live token. Two rotations in a row retire a leaked key.

Every key has the format of `secret_box.new_data_key` (32 random bytes, base64), the same as
the local runtime provisions.
"""

import base64
import binascii
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from workflows.kernel.errors import StepwireError
from workflows.secrets.secret_box import new_data_key

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
KEY_BYTES = 32


class RotationStep(StrEnum):
    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


class RotationRejected(StepwireError):
    """The request does not describe a rotation this secret is in the middle of."""

    error_name = "Rotation.Rejected"


class InvalidKey(StepwireError):
    error_name = "Rotation.InvalidKey"


def is_valid_key(value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == KEY_BYTES
    except (binascii.Error, ValueError):
        return False


def rotate(client: Any, secret_id: str, token: str, step: str) -> None:
    """One step of a rotation; `client` is a Secrets Manager client. Every step is idempotent."""
    step = RotationStep(step)
    stages = _versions(client, secret_id)
    if token not in stages:
        raise RotationRejected(f"version {token} is not a version of the secret")
    if CURRENT in stages[token]:
        return  # already promoted: a repeated finishSecret, or a rotation that completed
    if PENDING not in stages[token]:
        raise RotationRejected(f"version {token} is not staged as {PENDING}")
    {RotationStep.CREATE: _create, RotationStep.SET: _set, RotationStep.TEST: _test,
     RotationStep.FINISH: _finish}[step](client, secret_id, token)


def _versions(client: Any, secret_id: str) -> dict[str, list[str]]:
    description = client.describe_secret(SecretId=secret_id)
    if not description.get("RotationEnabled"):
        raise RotationRejected("rotation is not enabled on the secret")
    return description.get("VersionIdsToStages", {})


def _create(client: Any, secret_id: str, token: str) -> None:
    client.get_secret_value(SecretId=secret_id, VersionStage=CURRENT)  # it must exist
    try:
        client.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=PENDING)
        return  # a retried createSecret: the pending key is already there
    except client.exceptions.ResourceNotFoundException:
        pass
    client.put_secret_value(SecretId=secret_id, ClientRequestToken=token,
                            SecretString=new_data_key(), VersionStages=[PENDING])


def _set(client: Any, secret_id: str, token: str) -> None:
    """Nothing outside Secrets Manager holds the key: Stepwire reads it from the secret."""


def _test(client: Any, secret_id: str, token: str) -> None:
    value = client.get_secret_value(SecretId=secret_id, VersionId=token,
                                    VersionStage=PENDING)["SecretString"]
    if not is_valid_key(value):
        raise InvalidKey(f"the pending version is not a {KEY_BYTES}-byte base64 key")


def _finish(client: Any, secret_id: str, token: str) -> None:
    stages = client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    current = next((version for version, names in stages.items() if CURRENT in names), None)
    client.update_secret_version_stage(SecretId=secret_id, VersionStage=CURRENT,
                                       MoveToVersionId=token, RemoveFromVersionId=current)
    # A clean end state: no version left pending, so the next rotation can start.
    client.update_secret_version_stage(SecretId=secret_id, VersionStage=PENDING,
                                       RemoveFromVersionId=token)


def seed_keys(client: Any, secret_ids: Iterable[str]) -> list[str]:
    """Give each secret a proper key unless it already holds one; returns the seeded ids.

    CloudFormation can only generate passwords; the deployment calls this once after creating
    the secrets. A secret that already holds a key is left alone: re-keying the data key would
    make every stored subscription secret unreadable.
    """
    seeded = []
    for secret_id in secret_ids:
        value = client.get_secret_value(SecretId=secret_id, VersionStage=CURRENT)["SecretString"]
        if not is_valid_key(value):
            client.put_secret_value(SecretId=secret_id, SecretString=new_data_key(),
                                    VersionStages=[CURRENT])
            seeded.append(secret_id)
    return seeded
