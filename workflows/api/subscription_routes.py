"""`/subscriptions`: create, list, read, change, delete, rotate the secret.
"""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from workflows import wiring
from workflows.api.problems import (
    problem_response,
)
from workflows.api.resolver import (
    BAD_CURSOR,
    DEFAULT_LIMIT,
    NOT_FOUND,
    Cursor,
    Limit,
    route,
    tenant,
)
from workflows.auth.roles import Permission
from workflows.operations import subscriptions


@route("POST", "/subscriptions", Permission.MANAGE_SUBSCRIPTIONS, status_code=201,
       shows_secret=True, responses={400: problem_response("The body is not valid JSON")},
       summary="Subscribe an endpoint to event types",
       description="Events whose type matches one of `event_types` (`order.created`, "
                   "`order.*`, `*`) are POSTed to `url`, signed with the returned `secret` "
                   "(Standard Webhooks; shown only here and on rotation: keep it). A URL that "
                   "does not resolve to a public address is a 422 naming `url`.")
def create_subscription(
        request: Annotated[subscriptions.NewSubscription, Body()],
) -> subscriptions.SubscriptionWithSecret:
    created = subscriptions.create_subscription(tenant(), request,
                                                store=wiring.store(),
                                                policy=wiring.target_policy())
    return subscriptions.SubscriptionWithSecret(
        **subscriptions.SubscriptionView.of(created).model_dump(), secret=created.secret)


@route("GET", "/subscriptions", Permission.READ, responses=BAD_CURSOR,
       summary="List your subscriptions",
       description="A page of up to `limit` subscriptions; pass `next_cursor` back as "
                   "`cursor` for the next page.")
def list_subscriptions(limit: Limit = DEFAULT_LIMIT,
                       cursor: Cursor = None) -> subscriptions.SubscriptionPage:
    return subscriptions.list_subscriptions(tenant(), limit, cursor,
                                            store=wiring.store(),
                                            codec=wiring.cursor_codec())


@route("GET", "/subscriptions/<subscription_id>", Permission.READ, responses=NOT_FOUND,
       summary="One subscription, with its endpoint's health",
       description="Its endpoint, event types, status and rate limit (never the secret), and "
                   "`health`: the breaker's state, failure streak, last error, parked "
                   "notifications, and why and since when it was disabled.")
def get_subscription(subscription_id: str) -> subscriptions.SubscriptionDetail:
    return subscriptions.subscription_detail(tenant(), subscription_id,
                                             store=wiring.store())


@route("PATCH", "/subscriptions/<subscription_id>", Permission.MANAGE_SUBSCRIPTIONS,
       responses={**NOT_FOUND, 400: problem_response("The body is not valid JSON")},
       summary="Change, pause or resume a subscription",
       description="Send only the fields to change: `url`, `event_types`, `description`, "
                   "`rate_limit`, or `status` (`paused` holds deliveries, `active` resumes; a "
                   "disabled subscription is re-enabled with `active`).")
def update_subscription(
        subscription_id: str, changes: Annotated[subscriptions.SubscriptionChanges, Body()],
) -> subscriptions.SubscriptionView:
    return subscriptions.SubscriptionView.of(subscriptions.update_subscription(
        tenant(), subscription_id, changes, store=wiring.store(),
        policy=wiring.target_policy(), recoveries=wiring.recovery_executions()))


@route("DELETE", "/subscriptions/<subscription_id>", Permission.MANAGE_SUBSCRIPTIONS,
       responses={**NOT_FOUND, 204: {"description": "Deleted"}},
       summary="Delete a subscription",
       description="No further event is delivered to it; past events keep their trace.")
def delete_subscription(subscription_id: str):  # 204, no body
    subscriptions.delete_subscription(tenant(), subscription_id,
                                      store=wiring.store())
    return Response(204, None, "")


@route("POST", "/subscriptions/<subscription_id>/rotate-secret",
       Permission.MANAGE_SUBSCRIPTIONS, shows_secret=True,
       responses={**NOT_FOUND, 400: problem_response("The body is not valid JSON")},
       summary="Rotate a subscription's signing secret",
       description="Returns the new secret (shown once). For 24 hours webhooks carry both "
                   "the new and the previous signature, so the receiver can switch without "
                   "missing one; a secret rotated out earlier stops signing. A leaked secret: "
                   "send `{\"expire_previous\": true}` and only the new secret signs, at once.")
def rotate_secret(
        subscription_id: str,
        request: Annotated[subscriptions.RotateSecretRequest | None, Body()] = None,
) -> subscriptions.RotatedSecret:
    return subscriptions.rotate_secret(
        tenant(), subscription_id, store=wiring.store(),
        expire_previous=(request or subscriptions.RotateSecretRequest()).expire_previous)
