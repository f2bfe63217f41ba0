"""AWS faults on demand: LocalStack's Chaos API rule shape, served by `stepwire local`.

- `rules.py`: the rules (checked, matched, drawn) and the one registry every path consults;
- `wire.py`: which service, region and operation an HTTP request is, and AWS's error answer
  for it in the service's protocol;
- `hooks.py`: the rules on in-process boto3 calls (botocore's `before-call`, the SDK's
  retries drawn as well), started and stopped with the runtime;
- `endpoint.py`: the rules on the AWS endpoint (WSGI middleware), which also serves the chaos
  API, `/_stepwire/chaos/faults` and `/_stepwire/chaos/effects`;
- `express.py`: Express at-least-once: a started execution run twice, or restarted once.
"""

from stepwire.emulation.chaos.rules import FAULTS, Faults, InvalidRules, load_rules

__all__ = ["FAULTS", "Faults", "InvalidRules", "load_rules"]
