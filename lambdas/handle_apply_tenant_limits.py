"""Put a tenant's API key in its tier's usage plan: `{"tenant", "tier"}` → `{"usage_plan"}`.

Invoked by the API when an operator creates a tenant or changes its tier; the only function
allowed to create API keys and change usage plans.
"""

from typing import Any

from workflows import wiring
from workflows.kernel.observability import logger, traced_handler


@logger.inject_lambda_context
@traced_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    plan = wiring.usage_plan_keys().apply(str(event["tenant"]), str(event["tier"]))
    logger.info("tenant limits applied", extra={"tenant": event["tenant"], "usage_plan": plan})
    return {"usage_plan": plan}
