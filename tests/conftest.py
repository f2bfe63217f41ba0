"""Session-wide: record the AWS calls each Lambda handler makes (tests/support/aws_calls.py).

Installed when this file is imported, before the tiers' conftest files import the runtime
(which keeps references to the handlers)."""

from tests.support import aws_calls

aws_calls.install()
