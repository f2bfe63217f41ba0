"""The `stepwire` command: `stepwire local` runs the platform on this machine, `stepwire token`
prints a JWT for it (or for a deployed stack: `stepwire/token_command.py`), `stepwire revoke`
revokes tokens on it."""

import argparse
import ipaddress
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from stepwire.token_command import add_token_command, local_token
from workflows import __version__

if TYPE_CHECKING:  # at run time imported lazily, in `_local`
    from stepwire.runtime import LocalRuntime

# What an AWS CLI or SDK needs to talk to the local endpoint: a region and any keys.
AWS_CLI_ENVIRONMENT = ("AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local "
                       "AWS_SECRET_ACCESS_KEY=local")


def _local(args: argparse.Namespace) -> int:
    from stepwire.config import LocalConfig, PortInUse
    from stepwire.emulation.chaos import FAULTS, InvalidRules, load_rules
    from stepwire.gateway.api_gateway import CONNECTION_LIMIT
    from stepwire.gateway.connections import PER_CLIENT
    from stepwire.runtime import LocalRuntime
    from stepwire.state.state_dir import StateDirError

    try:
        faults = tuple(load_rules(args.aws_faults)) if args.aws_faults else ()
    except InvalidRules as exc:
        print(f"stepwire local: --aws-faults: {exc}", file=sys.stderr)
        return 2
    config = LocalConfig(aws_port=args.aws_port, api_port=args.api_port, host=args.host,
                         expose_aws_endpoint=args.expose_aws_endpoint,
                         retry_time_scale=args.retry_time_scale,
                         deny_private_targets=args.deny_private_targets,
                         connect_timeout=args.connect_timeout,
                         request_timeout=args.request_timeout,
                         api_rate=args.api_rate, api_burst=args.api_burst,
                         log_format=args.log_format,
                         state_dir=None if args.ephemeral else args.state_dir,
                         workers=args.workers, checkpoint_seconds=args.checkpoint_seconds,
                         pack_seconds=args.pack_seconds, aws_faults=faults,
                         aws_faults_seed=args.aws_faults_seed, reconcile=not args.no_reconciler)
    try:
        config.tenant_tiers()
    except ValueError as exc:  # --api-rate/--api-burst, STEPWIRE_TENANT_TIERS
        print(f"stepwire local: the tenants' tiers: {exc}", file=sys.stderr)
        return 2
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        runtime = LocalRuntime(config).start()
    except PortInUse as exc:
        print(f"stepwire local: {exc}", file=sys.stderr)
        return 1
    except StateDirError as exc:
        print(f"stepwire local: {exc}", file=sys.stderr)
        return 2
    targets = ("only public targets (--deny-private-targets)" if args.deny_private_targets
               else "loopback and private targets ALLOWED (pass --deny-private-targets to refuse)")
    exposure = ""
    if not ipaddress.ip_address(_resolved(args.host)).is_loopback:
        exposure = (f"  WARNING:      the API listens on {args.host}, reachable from the network"
                    + (" and so does the AWS endpoint, with every key and secret"
                       if args.expose_aws_endpoint else "")
                    + ": anyone who reaches it can load it (a denial of service: one process, "
                    f"{CONNECTION_LIMIT} connections, {PER_CLIENT} per address) and try "
                    "tokens; the console answers any Host name there\n")
    print(f"Stepwire {__version__} running locally\n"
          f"  API:          http://{args.host}:{args.api_port}\n"
          f"  AWS endpoint: {runtime.aws_endpoint}"
          f"  (aws --endpoint-url {runtime.aws_endpoint} ...)\n"
          f"  Console:      http://{args.host}:{args.api_port}/console/"
          "  (sign in with a token from `stepwire token`)\n"
          f"  API docs:     http://{args.host}:{args.api_port}/docs\n"
          f"  Webhooks:     {targets}\n"
          f"  Retry waits:  x{args.retry_time_scale:g}\n"
          f"  AWS CLI env:  {AWS_CLI_ENVIRONMENT} (the region and dummy keys any AWS "
          "client needs here)\n"
          f"  Ingress DLQ:  {_ingress_dead_letters(runtime)}"
          "  (events the ingress refused, with the reason)\n"
          f"  State:        {_state_line(runtime)}\n"
          f"  Workers:      {config.workers} executions at once; the rest queue\n"
          f"  AWS faults:   {'ACTIVE, ' if faults else ''}{FAULTS.summary()}  (rules: "
          f"{runtime.aws_endpoint}/_stepwire/chaos/faults)\n"
          f"{exposure}Ctrl-C to stop.", flush=True)
    while not stopped.wait(BACKLOG_REPORT_SECONDS):
        queued, computing = runtime.admission.status()
        if queued:
            print(f"backlog: {queued} executions queued, {computing} computing", flush=True)
    print("stopping...", flush=True)
    runtime.stop()
    print("stopped.", flush=True)
    # Executions still running resume at the next start (or end here, with --ephemeral);
    # some of moto's worker threads are not daemons and would hold the exit until they finish.
    os._exit(0)


BACKLOG_REPORT_SECONDS = 5.0


def _state_line(runtime: "LocalRuntime") -> str:
    if runtime.durability is None:
        return "in memory only (--ephemeral): gone when this process ends"
    resumed = runtime.durability.resumed
    return f"{runtime.config.state_dir} (resumed {resumed} unfinished executions)"


def _ingress_dead_letters(runtime: "LocalRuntime") -> str:
    """The ingress dead-letter queue's URL on the AWS endpoint, as AWS clients use it."""
    assert runtime.resources is not None  # set once the runtime has started
    return runtime.aws_endpoint + urlsplit(runtime.resources.ingress_dead_letter_queue_url).path


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _resolved(host: str) -> str:
    try:
        return str(socket.getaddrinfo(host, None)[0][4][0])
    except (OSError, UnicodeError):
        return "0.0.0.0"


def _revoke(args: argparse.Namespace) -> int:
    """Revoke through the local API (POST /tokens/revocations) as the tenant's admin."""
    import httpx

    body = {name: value for name, value in (("jti", args.jti), ("sub", args.sub)) if value}
    if not body:
        print("stepwire revoke: name the token to revoke: --jti, --sub or both", file=sys.stderr)
        return 2
    token = local_token(args, "revoke", roles=["admin"], sub="local:stepwire-revoke", ttl=60)
    if isinstance(token, int):
        return token
    try:
        response = httpx.post(f"http://{args.host}:{args.api_port}/tokens/revocations",
                              json=body, headers={"Authorization": f"Bearer {token}"},
                              timeout=30)
    except httpx.HTTPError as exc:
        print(f"stepwire revoke: the API on port {args.api_port} did not answer: {exc}",
              file=sys.stderr)
        return 1
    print(response.text)
    return 0 if response.status_code == 201 else 1


def build_parser() -> argparse.ArgumentParser:
    defaults = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="stepwire", description="Stepwire webhook platform")
    parser.add_argument("--version", action="version", version=f"stepwire {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    local = commands.add_parser("local", help="run the whole platform on this machine",
                                description="Run the API, the workflows and the emulated AWS "
                                            "services in the foreground; Ctrl-C stops.",
                                formatter_class=defaults)
    local.add_argument("--api-port", type=int, default=8080, help="the HTTP API's port")
    local.add_argument("--aws-port", type=int, default=4566,
                       help="the emulated AWS endpoint's port (for the AWS CLI and SDKs)")
    local.add_argument("--host", default="127.0.0.1",
                       help="the API's listening address; the AWS endpoint stays on loopback "
                            "unless --expose-aws-endpoint")
    local.add_argument("--expose-aws-endpoint", action="store_true",
                       help="also serve the emulated AWS endpoint on --host: anyone who reaches "
                            "it can read every key and secret")
    local.add_argument("--retry-time-scale", type=float, default=1.0,
                       help="multiply every workflow wait by this factor (0.01: 100x shorter)")
    local.add_argument("--deny-private-targets", action="store_true",
                       help="refuse loopback and private webhook targets, as in the cloud")
    local.add_argument("--connect-timeout", type=float, default=5.0,
                       help="webhook connect timeout in seconds")
    local.add_argument("--request-timeout", type=float, default=15.0,
                       help="webhook whole-request timeout in seconds")
    local.add_argument("--api-rate", type=int, default=None,
                       help="API requests/s per tenant of the default tier (standard) here; "
                            "none: as in AWS, 20 (or STEPWIRE_TENANT_TIERS's)")
    local.add_argument("--api-burst", type=int, default=None,
                       help="the default tier's bursts here, at least --api-rate; none: as in "
                            "AWS, 40 (or --api-rate when larger)")
    local.add_argument("--log-format", choices=("human", "json"), default="human",
                       help="the activity lines on stderr (events, attempts, waits, dead "
                            "letters): one sentence each, or one JSON object each")
    local.add_argument("--state-dir", default=".stepwire",
                       help="where subscriptions, events, keys and unfinished work survive a "
                            "restart (default .stepwire); one instance per directory")
    local.add_argument("--ephemeral", action="store_true",
                       help="keep everything in memory only (tests)")
    local.add_argument("--workers", type=int, default=8,
                       help="executions computing at once; the rest wait in the admission queue")
    local.add_argument("--checkpoint-seconds", type=_positive, default=30.0,
                       help="how often the state directory's snapshot is rewritten (by a "
                            "forked child: the engine goes on; the journal holds the rest)")
    local.add_argument("--pack-seconds", type=_positive, default=10.0,
                       help="stored events, subscriptions and the like unused this long are "
                            "kept compressed in memory until next used")
    local.add_argument("--aws-faults", metavar="FILE", default=None,
                       help="start with the AWS fault rules of this JSON file (LocalStack's "
                            "Chaos API shape; change them at /_stepwire/chaos/faults)")
    local.add_argument("--aws-faults-seed", metavar="N", type=int, default=None,
                       help="seed the fault rules' probability draws: the same run, the same "
                            "faults")
    local.add_argument("--no-reconciler", action="store_true", help="do not run the "
                       "reconciler, which finishes what dead executions left, every 300 s x scale")
    local.set_defaults(run=_local)

    add_token_command(commands, defaults)

    revoke = commands.add_parser("revoke", help="revoke tokens of a tenant on the local instance",
                                 description="Revoke one token (--jti) or every token of a "
                                             "subject (--sub) on the running `stepwire local`.",
                                 formatter_class=defaults)
    revoke.add_argument("--tenant", required=True, help="the tenant whose tokens are revoked")
    revoke.add_argument("--jti", default=None, help="the one token with this jti")
    revoke.add_argument("--sub", default=None,
                        help="every token of this subject issued until now")
    revoke.add_argument("--api-port", type=int, default=8080,
                        help="the API port of the `stepwire local` to revoke on")
    revoke.add_argument("--aws-port", type=int, default=4566,
                        help="its AWS port (the admin token is signed with its key)")
    revoke.add_argument("--host", default="127.0.0.1", help="its address")
    revoke.add_argument("--secret-id", default="stepwire/jwt-signing-key",
                        help=argparse.SUPPRESS)
    revoke.set_defaults(run=_revoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `stepwire` alone: what it can do
        parser.print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
