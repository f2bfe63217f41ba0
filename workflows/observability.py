"""The one logger of every handler (Powertools: structured JSON, correlation ids)."""

from aws_lambda_powertools import Logger

logger = Logger(service="stepwire")
