"""The `stepwire` command: `stepwire local` runs the platform on this machine."""

import argparse
import signal
import sys
import threading

from workflows import __version__


def _local(args: argparse.Namespace) -> int:
    from workflows.local.runtime import LocalConfig, LocalRuntime

    config = LocalConfig(aws_port=args.aws_port, api_port=args.api_port, host=args.host,
                         retry_time_scale=args.retry_time_scale,
                         deny_private_targets=args.deny_private_targets,
                         connect_timeout=args.connect_timeout,
                         request_timeout=args.request_timeout)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    runtime = LocalRuntime(config).start()
    targets = ("only public targets (--deny-private-targets)" if args.deny_private_targets
               else "loopback and private targets ALLOWED (pass --deny-private-targets to refuse)")
    print(f"Stepwire {__version__} running locally\n"
          f"  API:          http://{args.host}:{args.api_port}\n"
          f"  AWS endpoint: {runtime.aws_endpoint}"
          f"  (aws --endpoint-url {runtime.aws_endpoint} ...)\n"
          f"  Console:      http://{args.host}:{args.api_port}/console\n"
          f"  Webhooks:     {targets}\n"
          f"  Retry waits:  x{args.retry_time_scale:g}\n"
          "Ctrl-C to stop.", flush=True)
    stopped.wait()
    print("stopping...", flush=True)
    runtime.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stepwire", description="Stepwire webhook platform")
    parser.add_argument("--version", action="version", version=f"stepwire {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the whole platform on this machine")
    local.add_argument("--api-port", type=int, default=8080)
    local.add_argument("--aws-port", type=int, default=4566)
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--retry-time-scale", type=float, default=1.0,
                       help="multiply every workflow wait by this factor (0.01: 100x shorter)")
    local.add_argument("--deny-private-targets", action="store_true",
                       help="refuse loopback and private webhook targets, as in the cloud")
    local.add_argument("--connect-timeout", type=float, default=5.0,
                       help="webhook connect timeout in seconds")
    local.add_argument("--request-timeout", type=float, default=15.0,
                       help="webhook whole-request timeout in seconds")
    local.set_defaults(run=_local)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
