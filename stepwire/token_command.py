"""`stepwire token`: a JWT for the local instance, or for a deployed stack (`--stack`).

Locally the signing key is read from the instance's AWS endpoint, and a tenant that is new is
registered (active, default tier) through the same use case as `POST /tenants`: its API key
is put in its tier's usage plan by invoking the instance's tenant-limits function over that
endpoint. For a deployed stack the key is read with the caller's AWS credentials: the stack's
outputs name the signing secret, the issuer and the audience; the current version of the
secret signs (its version id is the token's `kid`). Tenants of a deployed stack are created
by an operator (`POST /tenants`), never here. The token alone goes to stdout, notes to stderr.
"""

import argparse
import os
import sys
from typing import Any

from stepwire.host.provision import TENANT_LIMITS_FUNCTION

# What `stepwire local` provisions under: its table and data key.
LOCAL_PREFIX = "stepwire"
# The outputs of the deployed stack that `--stack` reads.
STACK_OUTPUTS = ("JwtSecretArn", "JwtIssuer", "JwtAudience")
LOCAL_KEYS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def add_token_command(commands: Any, formatter: type[argparse.HelpFormatter]) -> None:
    token = commands.add_parser(
        "token", help="print a JWT the local instance (or a deployed stack) accepts",
        description="Print (alone on stdout) a JWT signed with the current key of the running "
                    "`stepwire local`, or of a deployed stack with --stack.",
        formatter_class=formatter)
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--tenant", help="the tenant the token acts for; locally registered "
                                      "(active, tier standard) when it is new")
    who.add_argument("--operator", action="store_true",
                     help="the platform operator's token: manages tenants, no tenant's data")
    token.add_argument("--roles", default=None,
                       help="with --tenant, comma separated: admin,publisher,reader")
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    token.add_argument("--sub", default=None,
                       help="the subject; none: local:<tenant> or local:operator, with --stack "
                            "stepwire-token:<tenant> or stepwire-token:operator")
    token.add_argument("--stack", default=None,
                       help="sign for this deployed CloudFormation stack, with your AWS "
                            "credentials (reads its signing secret); registers no tenant")
    token.add_argument("--region", default=None,
                       help="with --stack: its Region; none: your AWS configuration's")
    token.add_argument("--aws-port", type=int, default=4566,
                       help="the AWS port of the `stepwire local` to sign for")
    token.add_argument("--host", default="127.0.0.1",
                       help="the address of that instance's AWS endpoint")
    token.add_argument("--secret-id", default=f"{LOCAL_PREFIX}/jwt-signing-key",
                       help=argparse.SUPPRESS)
    token.set_defaults(run=run_token)


def run_token(args: argparse.Namespace) -> int:
    roles = [r.strip() for r in (args.roles or "").split(",") if r.strip()]
    if args.operator and roles:
        return _fail("an operator token has no --roles (it acts on no tenant's data)", 2)
    if args.tenant and not roles:
        return _fail("--tenant needs --roles (comma separated: admin,publisher,reader)", 2)
    signer = _deployed_signer(args) if args.stack else _local_signer(args, "token")
    if isinstance(signer, int):
        return signer
    key, issuer, audience = signer
    prefix = "stepwire-token" if args.stack else "local"
    from workflows.auth.tokens import issue_operator_token, issue_token

    try:
        if args.operator:
            token = issue_operator_token(key, sub=args.sub or f"{prefix}:operator",
                                         issuer=issuer, audience=audience, ttl_seconds=args.ttl)
        else:
            token = issue_token(key, tenant=args.tenant, roles=roles,
                                sub=args.sub or f"{prefix}:{args.tenant}", issuer=issuer,
                                audience=audience, ttl_seconds=args.ttl)
    except ValueError as exc:  # bad roles or ttl: nothing registered
        return _fail(str(exc), 2)
    if args.tenant and args.stack:
        print(f"stepwire token: the stack's API refuses tenant '{args.tenant}' (403) unless it "
              "is registered and active: an operator creates it with POST /tenants (a token "
              "from `stepwire token --stack ... --operator`)", file=sys.stderr)
    elif args.tenant and (refused := _register_local(args)) is not None:
        return refused
    print(token)
    return 0


def _fail(message: str, code: int, command: str = "token") -> int:
    print(f"stepwire {command}: {message}", file=sys.stderr)
    return code


def _endpoint_client(args: argparse.Namespace, service: str) -> Any:
    import boto3

    return boto3.client(service, region_name="us-east-1",
                        endpoint_url=f"http://{args.host}:{args.aws_port}", **LOCAL_KEYS)


def _local_signer(args: argparse.Namespace, command: str) -> tuple[Any, str, str] | int:
    """(the current signing key of the instance on --aws-port, issuer, audience)"""
    from workflows.auth.tokens import signing_key
    from workflows.kernel.settings import Settings

    client = _endpoint_client(args, "secretsmanager")
    try:
        key = signing_key(client.get_secret_value(SecretId=args.secret_id))
    except Exception as exc:  # explain, do not trace
        return _fail(f"cannot read the signing key on port {args.aws_port} (is `stepwire "
                     f"local` running?): {exc}", 1, command)
    fields = Settings.model_fields
    return (key, os.environ.get("STEPWIRE_JWT_ISSUER", fields["jwt_issuer"].default),
            os.environ.get("STEPWIRE_JWT_AUDIENCE", fields["jwt_audience"].default))


def local_token(args: argparse.Namespace, command: str, *, roles: list[str], sub: str,
                ttl: int) -> str | int:
    """A token of `args.tenant` for the instance on --aws-port (no registration), or an exit
    code."""
    from workflows.auth.tokens import issue_token

    signer = _local_signer(args, command)
    if isinstance(signer, int):
        return signer
    key, issuer, audience = signer
    try:
        return issue_token(key, tenant=args.tenant, roles=roles, sub=sub, issuer=issuer,
                           audience=audience, ttl_seconds=ttl)
    except ValueError as exc:
        return _fail(str(exc), 2, command)


def _register_local(args: argparse.Namespace) -> int | None:
    """Register a new tenant on the local instance; an exit code when its tokens would be
    refused (suspended) or it could not be registered."""
    from stepwire.host.api_keys import configured_tiers
    from workflows.auth.usage_plans import DEFAULT_TIER
    from workflows.operations.tenants import Tenants, TenantStatus, apply_through_function
    from workflows.storage import Store

    store = Store(_endpoint_client(args, "dynamodb"), LOCAL_PREFIX,
                  data_key_secret_id=f"{LOCAL_PREFIX}/data-key")
    tenants = Tenants(store, configured_tiers(), apply_through_function(
        _endpoint_client(args, "lambda"), TENANT_LIMITS_FUNCTION))
    try:
        existing = store.get_tenant(args.tenant)
        if existing is None:
            tenants.ensure(args.tenant)
            print(f"stepwire token: registered tenant '{args.tenant}' (active, tier "
                  f"{DEFAULT_TIER})", file=sys.stderr)
        elif existing["status"] != TenantStatus.ACTIVE:
            return _fail(f"tenant '{args.tenant}' is {existing['status']}: its tokens are "
                         "refused (403). An operator resumes it: PATCH /tenants/"
                         f"{args.tenant} {{\"status\": \"active\"}} with a token from "
                         "`stepwire token --operator`", 1)
    except Exception as exc:  # explain, do not trace
        return _fail(f"cannot register tenant '{args.tenant}' on port {args.aws_port}: {exc}",
                     1)
    return None


def _deployed_signer(args: argparse.Namespace) -> tuple[Any, str, str] | int:
    """(the current signing key of the stack `args.stack`, issuer, audience)"""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from workflows.auth.tokens import signing_key

    try:
        session = boto3.session.Session(region_name=args.region)
        if session.region_name is None:
            return _fail("--stack needs a Region: --region, or AWS_REGION / your AWS "
                         "configuration's", 2)
        stacks = session.client("cloudformation").describe_stacks(StackName=args.stack)
        outputs = {o["OutputKey"]: o["OutputValue"]
                   for o in stacks["Stacks"][0].get("Outputs", [])}
        missing = [name for name in STACK_OUTPUTS if name not in outputs]
        if missing:
            return _fail(f"the stack {args.stack} has no output {', '.join(missing)}: is it a "
                         "Stepwire stack of this version (deploy it again)?", 1)
        secret = session.client("secretsmanager").get_secret_value(
            SecretId=outputs["JwtSecretArn"], VersionStage="AWSCURRENT")
    except (BotoCoreError, ClientError) as exc:
        return _fail(f"cannot read the signing key of the stack {args.stack} with your AWS "
                     f"credentials (cloudformation:DescribeStacks, secretsmanager:"
                     f"GetSecretValue on its JWT secret): {exc}", 1)
    return signing_key(secret), outputs["JwtIssuer"], outputs["JwtAudience"]
