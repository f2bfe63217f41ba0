"""Fault rules in the shape of LocalStack's Chaos API, and the registry that draws them.

A rule: `{"service"?, "region"?, "operation"?, "probability"?, "error"?: {"statusCode"?,
"code"?}}`; a field left out matches everything, `probability` is 1 unless given, the error
is 503 `ServiceUnavailable` unless given (LocalStack's defaults). Stepwire's extensions:
`"latency_ms"` (delay the matching calls; alone, a rule only delays) and `"express":
"duplicate" | "restart"` (Express at-least-once, see `express.py`).

Service names are boto3's (LocalStack's): `dynamodb`, `lambda`, `sqs`, `stepfunctions`,
`secretsmanager`, `events`; `states` and `sfn` are read as `stepfunctions`.
"""

import json
import random
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ALIASES = {"states": "stepfunctions", "sfn": "stepfunctions",
           "secrets-manager": "secretsmanager", "eventbridge": "events"}
EXPRESS = ("duplicate", "restart")
DEFAULT_ERROR = (503, "ServiceUnavailable")
_FIELDS = {"service", "region", "operation", "probability", "error", "latency_ms", "express"}
_MAX_LATENCY_MS = 60_000


class InvalidRules(ValueError):
    """A rule set that cannot be applied; the message says which rule and why."""


def service_name(name: str) -> str:
    name = name.strip().lower()
    return ALIASES.get(name, name)


@dataclass(frozen=True)
class Rule:
    given: dict[str, Any]  # as sent: what GET answers
    service: str | None
    region: str | None
    operation: str | None  # lower case: `PutItem` and `putitem` are one operation
    probability: float
    error: tuple[int, str] | None  # (HTTP status, code); None: latency or express only
    latency: float  # seconds
    express: str | None

    def matches(self, service: str, region: str, operation: str | None) -> bool:
        return ((self.service is None or self.service == service)
                and (self.region is None or self.region == region)
                and (self.operation is None or self.operation == (operation or "").lower()))

    def key(self) -> tuple:
        """Two rules are one when they mean the same (DELETE finds a rule by it)."""
        return (self.service, self.region, self.operation, self.probability, self.error,
                self.latency, self.express)


def parse_rule(raw: Any, index: int = 0) -> Rule:
    where = f"rule {index}"
    if not isinstance(raw, dict):
        raise InvalidRules(f"{where}: a rule is a JSON object, not {type(raw).__name__}")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise InvalidRules(f"{where}: unknown field(s) {', '.join(unknown)}; a rule has "
                           f"{', '.join(sorted(_FIELDS))}")
    texts = {}
    for name in ("service", "region", "operation"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidRules(f"{where}: {name} must be a non-empty string")
        texts[name] = value.strip() if value is not None else None
    probability = raw.get("probability", 1)
    if isinstance(probability, bool) or not isinstance(probability, int | float) \
            or not 0 <= probability <= 1:
        raise InvalidRules(f"{where}: probability must be a number from 0 to 1")
    latency_ms = raw.get("latency_ms", 0)
    if isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float) \
            or not 0 <= latency_ms <= _MAX_LATENCY_MS:
        raise InvalidRules(f"{where}: latency_ms must be a number from 0 to {_MAX_LATENCY_MS}")
    express = raw.get("express")
    service = service_name(texts["service"]) if texts["service"] else None
    if express is not None:
        if express not in EXPRESS:
            raise InvalidRules(f"{where}: express must be one of {', '.join(EXPRESS)}")
        if service != "stepfunctions" or (texts["operation"] or "StartExecution") \
                .lower() != "startexecution" or "error" in raw or latency_ms:
            raise InvalidRules(f"{where}: an express rule has service stepfunctions (or "
                               "states), operation StartExecution or none, and no error "
                               "or latency_ms")
    error = None if express is not None or ("error" not in raw and latency_ms) \
        else _parse_error(raw.get("error", {}), where)
    return Rule(given=dict(raw), service=service, region=texts["region"],
                operation=texts["operation"].lower() if texts["operation"] else None,
                probability=float(probability), error=error, latency=latency_ms / 1000,
                express=express)


def _parse_error(raw: Any, where: str) -> tuple[int, str]:
    if not isinstance(raw, dict) or set(raw) - {"statusCode", "code"}:
        raise InvalidRules(f"{where}: error is an object with statusCode and code")
    status = raw.get("statusCode", DEFAULT_ERROR[0])
    code = raw.get("code", DEFAULT_ERROR[1])
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise InvalidRules(f"{where}: error.statusCode must be an HTTP error status (400-599)")
    if not isinstance(code, str) or not code.strip() or any(c in code for c in "\r\n;#"):
        raise InvalidRules(f"{where}: error.code must be an AWS error code such as "
                           "ThrottlingException")
    return status, code.strip()


def parse_rules(raw: Any) -> list[Rule]:
    """A JSON list of rules (one object is read as a list of one)."""
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise InvalidRules('the body is a JSON list of rules, e.g. [{"service": "dynamodb", '
                           '"probability": 0.5, "error": {"statusCode": 400, '
                           '"code": "ProvisionedThroughputExceededException"}}]')
    return [parse_rule(rule, index) for index, rule in enumerate(raw)]


def load_rules(path: str) -> list[dict[str, Any]]:
    """The rules of a file (`stepwire local --aws-faults FILE`), checked."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise InvalidRules(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InvalidRules(f"{path} is not JSON: {exc}") from None
    return [rule.given for rule in parse_rules(raw)]


@dataclass(frozen=True)
class Decision:
    latency: float  # seconds to wait before answering
    error: tuple[int, str] | None


class Faults:
    """The rules in force. `active` is read before anything else on every call: no rule, no
    work. Draws come from one generator, seeded for reproducible runs."""

    def __init__(self) -> None:
        self.active = False
        self._rules: tuple[Rule, ...] = ()
        self._latency = 0.0  # LocalStack's effects: every call
        self._lock = threading.Lock()
        self._random = random.Random()
        self.announce = False  # a line on stderr when the rules change (`stepwire local`)

    def seed(self, seed: int | None) -> None:
        with self._lock:
            self._random = random.Random(seed)

    def rules(self) -> list[dict[str, Any]]:
        return [rule.given for rule in self._rules]

    def add(self, raw: Any) -> list[dict[str, Any]]:
        rules = parse_rules(raw)
        return self._set(self._rules + tuple(rules), f"{len(rules)} added")

    def replace(self, raw: Any) -> list[dict[str, Any]]:
        rules = parse_rules(raw)
        return self._set(tuple(rules), "replaced")

    def remove(self, raw: Any) -> list[dict[str, Any]]:
        gone = {rule.key() for rule in parse_rules(raw)}
        kept = tuple(rule for rule in self._rules if rule.key() not in gone)
        return self._set(kept, f"{len(self._rules) - len(kept)} removed")

    def latency_ms(self) -> float:
        return self._latency * 1000

    def set_latency_ms(self, latency_ms: Any) -> None:
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float) \
                or not 0 <= latency_ms <= _MAX_LATENCY_MS:
            raise InvalidRules(f"latency must be milliseconds from 0 to {_MAX_LATENCY_MS}")
        with self._lock:
            self._latency = latency_ms / 1000
            self.active = bool(self._rules) or self._latency > 0
        self._report(f"latency of every call set to {latency_ms:g} ms")

    def _set(self, rules: tuple[Rule, ...], change: str) -> list[dict[str, Any]]:
        with self._lock:
            self._rules = rules
            self.active = bool(rules) or self._latency > 0
        self._report(f"fault rules {change}: {self.summary()}")
        return self.rules()

    def summary(self) -> str:
        rules = self._rules
        if not rules:
            return "none active"
        return f"{len(rules)} active (" + "; ".join(describe(rule) for rule in rules) + ")"

    def _report(self, line: str) -> None:
        if self.announce:
            print(f"aws faults: {line}", file=sys.stderr, flush=True)

    def touches(self, service: str) -> bool:
        """Whether any fault or delay may apply to calls of `service`."""
        return self.active and (self._latency > 0 or any(
            rule.express is None and rule.service in (None, service) for rule in self._rules))

    def decide(self, service: str, region: str, operation: str | None) -> Decision:
        """What one call gets: the delay of every matching rule drawn, and the error of the
        first matching fault rule drawn."""
        latency, error = self._latency, None
        for rule in self._rules:
            if rule.express is not None or not rule.matches(service, region, operation):
                continue
            if (rule.latency or error is None) and self._draw(rule.probability):
                latency += rule.latency
                if error is None and rule.error is not None:
                    error = rule.error
        return Decision(latency, error)

    def express(self, region: str) -> str | None:
        """For one Express StartExecution: "duplicate", "restart" or None."""
        for rule in self._rules:
            if rule.express is not None and rule.matches("stepfunctions", region,
                                                          "StartExecution") \
                    and self._draw(rule.probability):
                return rule.express
        return None

    def _draw(self, probability: float) -> bool:
        if probability >= 1:
            return True
        with self._lock:
            return self._random.random() < probability


def describe(rule: Rule) -> str:
    scope = "/".join(part for part in (rule.service or "*", rule.region, rule.operation)
                     if part)
    odds = "" if rule.probability >= 1 else f" p={rule.probability:g}"
    if rule.express:
        return f"{scope} express {rule.express}{odds}"
    effect = f"{rule.error[0]} {rule.error[1]}" if rule.error else ""
    delay = f" +{rule.latency * 1000:g} ms" if rule.latency else ""
    return f"{scope} {effect}{delay}{odds}".replace("  ", " ")


# One registry per process, as botocore's hooks are per process.
FAULTS = Faults()
