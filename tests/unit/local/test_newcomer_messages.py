"""What a user reads: the activity lines, the dead letter's cause, the command line's help and
its errors, and the AWS error for what the local endpoint cannot do."""

import io
import json
import re
import socket
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.test import Client

from stepwire import cli
from stepwire.config import PortInUse, ensure_free
from stepwire.emulation.aws_endpoint import refuse_unsupported
from stepwire.emulation.cloudwatch import MetricsRecorder
from stepwire.gateway.console_routes import LocalConsole
from stepwire.host.activity_log import ActivityPrinter, log_wait
from workflows.api.app import ROUTES
from workflows.delivery.failure import duration_text, gave_up
from workflows.kernel import activity
from workflows.kernel.models import Attempt, NotificationTarget, utc_now

pytestmark = pytest.mark.unit
TARGET = NotificationTarget(tenant="acme", event_id="evt_1", subscription_id="sub_1",
                            webhook_id="msg_1", execution_name="evt_1--sub_1")


@pytest.fixture
def printed():
    def capture(log_format: str) -> io.StringIO:
        stream = io.StringIO()
        activity.set_sink(ActivityPrinter(log_format, stream))
        return stream
    yield capture
    activity.set_sink(None)


def test_each_fact_is_one_human_line(printed):
    # Given the human format
    out = printed("human")
    # When an event is accepted, attempted twice, waits, and is dead-lettered
    activity.event_accepted(tenant="acme", event_id="evt_1", event_type="order.created",
                            source="api", notifications=1)
    activity.attempt(TARGET, number=1, status_code=503, latency_ms=12, error="HTTP 503")
    activity.waiting(TARGET, why="HTTP 503: the receiver's Retry-After", seconds=30)
    activity.attempt(TARGET, number=2, status_code=None, latency_ms=5000, error="timed out")
    activity.dead_lettered(TARGET, error="Delivery.Retryable",
                           cause="gave up after 2 attempts over 30s; last error: timed out")
    # Then each is one line that says it in words
    lines = out.getvalue().splitlines()
    assert len(lines) == 5
    assert "event evt_1 (order.created) accepted from api: 1 notification to deliver" in lines[0]
    assert "attempt 1 of event evt_1 to sub_1: failed (HTTP 503), HTTP 503 in 12 ms" in lines[1]
    assert "waits 30 s: HTTP 503: the receiver's Retry-After" in lines[2]
    assert "no response in 5000 ms" in lines[3]
    assert "dead-lettered: gave up after 2 attempts over 30s; last error: timed out" in lines[4]


def test_an_event_that_matched_nothing_says_so(printed):
    out = printed("human")
    activity.event_accepted(tenant="acme", event_id="evt_2", event_type="a.b", source="api",
                            notifications=0)
    assert "matched no active subscription" in out.getvalue()
    assert "unmatched" in out.getvalue()


def test_the_json_format_is_one_object_per_line_with_the_fields(printed):
    out = printed("json")
    activity.attempt(TARGET, number=1, status_code=200, latency_ms=7, error=None)
    activity.event_refused(reason="invalid event: tenant: Field required", source="eventbridge")
    activity.breaker_changed(subscription_id="sub_1", state="open", reason="5 failures")
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert third["message"] == "breaker of sub_1 is open: 5 failures"
    assert first["activity"] == "delivery.attempt" and first["delivered"] is True
    assert (first["status_code"], first["latency_ms"], first["event_id"]) == (200, 7, "evt_1")
    assert second == {**second, "activity": "event.refused", "source": "eventbridge",
                      "reason": "invalid event: tenant: Field required"}


def test_without_a_sink_the_records_are_powertools_log_lines(caplog):
    # Given no local sink (as in Lambda) and the logger at INFO
    from workflows.kernel.observability import logger
    level = logger.log_level
    logger.setLevel("INFO")
    try:
        # When an attempt is recorded
        activity.attempt(TARGET, number=1, status_code=200, latency_ms=7, error=None)
    finally:
        logger.setLevel(level)
    # Then it is a Powertools INFO line with the sentence and its fields as keys
    [record] = [r for r in caplog.records if getattr(r, "activity", None)]
    assert record.getMessage().startswith("attempt 1 of event evt_1")
    assert (record.activity, record.levelname, record.status_code) == (
        "delivery.attempt", "INFO", 200)


def test_a_failing_sink_never_fails_the_caller():
    def broken(record):
        raise OSError("closed")
    activity.set_sink(broken)
    try:
        activity.dead_lettered(TARGET, error="Delivery.Permanent", cause="HTTP 400")
    finally:
        activity.set_sink(None)


def test_the_dead_letter_says_it_gave_up_after_how_many_attempts_over_how_long():
    start = utc_now()
    attempts = [Attempt(at=start + timedelta(seconds=s), status_code=500, latency_ms=3,
                        error="HTTP 500") for s in (0, 5, 305, 2105, 99_705)]
    assert gave_up(attempts, "HTTP 500") == \
        "gave up after 5 attempts over 1d 3h; last error: HTTP 500"
    assert gave_up(attempts[:1], "HTTP 400 is not retried") == \
        "gave up after 1 attempt over 0s; last error: HTTP 400 is not retried"
    assert gave_up(attempts[:2], None) == "gave up after 2 attempts over 5s; last error: HTTP 500"
    assert gave_up([], "the subscription no longer exists") == \
        "gave up before any attempt: the subscription no longer exists"


@pytest.mark.parametrize(("seconds", "text"), [
    (0.4, "0.4s"), (12, "12s"), (303, "5m 3s"), (99_660, "1d 3h"), (3600, "1h"), (7260, "2h 1m")])
def test_durations_read_as_the_two_largest_units(seconds, text):
    assert duration_text(seconds) == text


def test_stepwire_without_a_command_prints_its_help(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "usage: stepwire" in out and "local" in out and "token" in out


def test_every_option_of_every_subcommand_has_help_with_its_default():
    parser = cli.build_parser()
    [commands] = [a for a in parser._actions if a.choices and "local" in a.choices]
    for name, sub in commands.choices.items():
        help_text = sub.format_help()
        for action in sub._actions:
            if action.help in (None, "==SUPPRESS==") or "-h" in action.option_strings:
                assert action.help == "==SUPPRESS==" or "-h" in action.option_strings, (
                    name, action.option_strings)
                continue
            assert action.help, (name, action.option_strings)
            if not action.required:
                assert "(default:" in " ".join(help_text.split()), (name, action.dest)
        assert "--log-format" in help_text or name != "local"


def test_a_port_in_use_is_named_with_the_option_that_changes_it(capsys):
    # Given a port that something else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # When the runtime checks it, and when `stepwire local` is started on it
        with pytest.raises(PortInUse) as refused:
            ensure_free("127.0.0.1", port, "--aws-port")
        code = cli.main(["local", "--api-port", str(port), "--aws-port", "0"])
    # Then the message names the port and the option, and the exit is non-zero
    assert f"port {port} is already in use" in str(refused.value)
    assert "--aws-port PORT" in str(refused.value)
    err = capsys.readouterr().err
    assert code == 1 and f"port {port}" in err and "--api-port" in err
    assert "Traceback" not in err


def test_redrive_execution_gets_the_aws_error_shape_pointing_to_the_api():
    # Given the middleware in front of an app that would fail
    def moto(environ, start_response):
        raise AssertionError("unsupported calls never reach moto")
    client = Client(refuse_unsupported(moto))
    # When the AWS CLI's redrive-execution arrives
    response = client.post("/", headers={"X-Amz-Target": "AWSStepFunctions.RedriveExecution",
                                         "Content-Type": "application/x-amz-json-1.0"},
                           data=json.dumps({"executionArn": "arn:x"}))
    # Then it is a 400 AWS error naming what to use instead
    body = response.get_json(force=True)
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == body["__type"] == "ExecutionNotRedrivable"
    assert "POST /dead-letters/redrive" in body["message"]


def test_a_wait_of_the_notification_workflow_says_how_long_and_why(printed):
    # Given the input a notification workflow's Wait state receives after a failed attempt
    out = printed("human")
    cause = json.dumps({"errorMessage": json.dumps({"detail": "HTTP 503"})})
    state_input = {"notification": TARGET.model_dump(), "attempt": 2,
                   "failure": {"Error": "Delivery.Retryable", "Cause": cause}}
    # When the engine is about to wait 300 s in it, and an ingest Wait is seen too
    log_wait("WaitBackoff", 300.0, state_input)
    log_wait("SomeIngestWait", 5.0, {"event": {}})
    # Then one line says which notification waits, how long and why
    [line] = out.getvalue().splitlines()
    assert "event evt_1 to sub_1 waits 300 s: WaitBackoff after HTTP 503" in line


def test_the_bare_root_leads_to_the_console():
    console = LocalConsole(sfn=None, metrics=MetricsRecorder())
    answer = console("GET", "/", {}, lambda token: None)
    assert answer is not None and (answer.status, answer.headers["Location"]) == (302,
                                                                                  "/console/")
    assert console("POST", "/", {}, lambda token: None) is None  # the API answers that


def test_a_refused_event_is_named_with_the_reason_and_where_it_went(printed):
    out = printed("human")
    activity.event_refused(reason="invalid event: detail.tenant: Field required",
                           source="eventbridge", received_id="6f1c-77")
    [line] = out.getvalue().splitlines()
    assert line.endswith("event 6f1c-77 from eventbridge refused: invalid event: detail.tenant: "
                         "Field required (sent to the ingress dead-letter queue with this "
                         "reason)")


ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()


def test_make_run_passes_its_options_to_stepwire_local():
    shown = subprocess.run(["make", "-n", "run", "ARGS=--retry-time-scale 0.01 --workers 2"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert re.search(r"stepwire local --retry-time-scale 0\.01 --workers 2$", shown, re.MULTILINE)
    assert 'make run ARGS="--retry-time-scale' in README


def test_the_readme_tours_every_route_with_an_example():
    tour = README.split("### The routes, one example each", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for row in re.findall(r"^\| (`[A-Z]+ /.*?) \| (.*?) \| (.*?) \|$", tour, re.MULTILINE):
        for route in re.findall(r"`([A-Z]+ /[^`]*)`", row[0]):
            rows[route] = row[2]
    for route in ROUTES:
        if route.public and route.path != "/health":
            continue  # /docs and /openapi.json: named above the table
        documented = f"{route.method} {re.sub(r'{[^}]+}', '{id}', route.path)}"
        assert documented in rows, f"{documented} is not in the README's tour"
        assert "$API" in rows[documented] or rows[documented].startswith("`-"), documented
