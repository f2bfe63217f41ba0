"""The objects the use cases need, built from settings once per process."""

from datetime import timedelta
from functools import cache

from workflows import aws, secret_box
from workflows.settings import Settings, get_settings
from workflows.store import Store
from workflows.target_guard import TargetPolicy


@cache
def store() -> Store:
    settings = get_settings()
    return Store(aws.client("dynamodb"), settings.table_name,
                 data_key_secret_id=settings.data_key_secret_id,
                 retention=timedelta(days=settings.retention_days))


def target_policy(settings: Settings | None = None) -> TargetPolicy:
    settings = settings or get_settings()
    return TargetPolicy(allow_private=settings.allow_private_targets,
                        require_https=settings.require_https)


def reset() -> None:
    """Forget everything built from the environment (the local runtime calls this on start)."""
    store.cache_clear()
    secret_box.reset()
    aws.reset_clients()
