"""AWS clients, one per service and process: boto3 clients are thread-safe and costly to build."""

from functools import cache

import boto3
from botocore.config import Config

from workflows.kernel.settings import get_settings

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=50)


@cache
def client(service: str):  # boto3 client types are generated
    settings = get_settings()
    return boto3.client(service, region_name=settings.region,
                        endpoint_url=settings.aws_endpoint_url, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients and settings (the local runtime calls this when it starts)."""
    client.cache_clear()
    get_settings.cache_clear()
