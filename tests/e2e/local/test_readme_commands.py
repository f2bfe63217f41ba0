"""The README's AWS commands, run as a newcomer runs them: their SDK equivalent in a fresh
process whose only AWS configuration is the line the README (and the banner) gives."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from stepwire.cli import AWS_CLI_ENVIRONMENT
from tests.e2e.api.test_api_http import eventually
from tests.e2e.conftest import ROOT, LocalProcess

pytestmark = pytest.mark.e2e
README = (ROOT / "README.md").read_text()


def documented_environment() -> dict[str, str]:
    [line] = re.findall(r"^export (AWS_.*)$", README, re.MULTILINE)
    assert line == AWS_CLI_ENVIRONMENT, "the README and the banner give the same environment"
    return dict(pair.split("=", 1) for pair in line.split())


def documented_commands() -> tuple[str, list[dict], str]:
    arn = re.search(r"--state-machine-arn (\S+)", README)[1]
    entries = re.search(r"put-events --entries \\\n\s*'(.*?)'", README, re.DOTALL)[1]
    queue = re.search(r"sqs receive-message .*?--queue-url (\S+)", README, re.DOTALL)[1]
    return arn, json.loads(entries), queue


def run_as_a_newcomer(local: LocalProcess, script: str, tmp_path: Path) -> dict:
    """A fresh Python with no AWS configuration but the documented environment."""
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), **documented_environment()}
    endpoint = local.aws_endpoint
    code = textwrap.dedent(f"""
        import json, sys, boto3, botocore.exceptions
        ENDPOINT = {endpoint!r}
    """) + textwrap.dedent(script)
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_documented_aws_commands_work_as_copied(local: LocalProcess, tmp_path: Path):
    # Given only the README's environment line, and the README's three commands
    arn, entries, refused_queue = documented_commands()
    tenantless = [{**entries[0], "Detail": json.dumps({"data": {"order": 43}})}]
    # When their SDK equivalents run (and redrive-execution, which is not supported locally)
    result = run_as_a_newcomer(local, f"""
        sfn = boto3.client("stepfunctions", endpoint_url=ENDPOINT)
        events = boto3.client("events", endpoint_url=ENDPOINT)
        listed = sfn.list_executions(stateMachineArn={arn!r})
        put = events.put_events(Entries={entries!r})
        refused = events.put_events(Entries={tenantless!r})
        sqs = boto3.client("sqs", endpoint_url=ENDPOINT)
        letters = []
        for _ in range(30):
            letters += sqs.receive_message(QueueUrl={refused_queue!r}, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", [])
            if letters:
                break
        try:
            sfn.redrive_execution(executionArn={arn!r}.replace("stateMachine", "execution")
                                  + ":x")
            redrive = None
        except botocore.exceptions.ClientError as exc:
            redrive = exc.response["Error"]
        print(json.dumps({{"listed": "executions" in listed,
                          "failed": put["FailedEntryCount"] + refused["FailedEntryCount"],
                          "redrive": redrive,
                          "refused": [json.loads(m["Body"]) for m in letters]}}))
    """, tmp_path)
    # Then the commands succeed
    assert result["listed"] and result["failed"] == 0
    # And the tenantless event is in the ingress dead-letter queue with the reason
    [letter] = result["refused"]
    assert letter["cause"] == "invalid event: detail.tenant: Field required"
    assert letter["event"]["detail"] == {"data": {"order": 43}}
    # And redrive-execution is an AWS error saying what to use instead
    assert result["redrive"]["Code"] == "ExecutionNotRedrivable"
    assert "POST /dead-letters/redrive" in result["redrive"]["Message"]
    # And the runtime says what it did with both events: one accepted, one refused with why
    log = eventually(lambda: (text := local.log()) and "accepted from eventbridge" in text
                     and "event.refused" in text and text)
    assert re.search(r"event \S+ from eventbridge refused: .*tenant.*ingress dead-letter queue",
                     log)


def test_the_banner_gives_the_same_environment_and_the_root_leads_to_the_console(
        local: LocalProcess):
    assert AWS_CLI_ENVIRONMENT in local.banner
    root = httpx.get(local.api_url + "/")
    assert root.status_code == 302 and root.headers["location"] == "/console/"
