"""The API Gateway API key of each tenant: derived from the tenant, never stored or looked up.

The REST API reads API keys from the authorizer (`ApiKeySourceType.AUTHORIZER`): the authorizer
returns the verified tenant's key as `usageIdentifierKey` and API Gateway throttles the request
in the usage plan that holds that key. The CDK app creates each provisioned tenant's key with
the same value, so neither side needs a table or an API call to find it. A client never presents
a key (a `x-api-key` header is ignored with this source), so the value grants nothing: it only
names the tenant's bucket. The namespace (the stack's name) keeps two deployments in one Region
apart, since API key values are unique per account and Region.
"""

import hashlib
import hmac

# API Gateway requires at least 20 characters; the hex digest has 64, with a readable prefix.
_PREFIX = "stepwire-"


def tenant_usage_key(namespace: str, tenant: str) -> str:
    """The API key value of `tenant` in the deployment `namespace`."""
    digest = hmac.new(namespace.encode(), tenant.encode(), hashlib.sha256).hexdigest()
    return f"{_PREFIX}{digest}"
