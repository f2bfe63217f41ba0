"""`application/problem+json` (RFC 9457) errors: one shape for every failure of the API."""

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import BaseModel

PROBLEM_CONTENT_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None,
            errors: list[FieldProblem] | None = None) -> Response:
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, errors=errors)
    return Response(status_code=status, content_type=PROBLEM_CONTENT_TYPE,
                    body=body.model_dump_json(exclude_none=True), headers=headers)


def validation_problem(exc: RequestValidationError) -> Response:
    """Malformed JSON is a 400; a body or parameter of the wrong shape is a 422 naming it."""
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "the request body is not valid JSON")
    fields = [FieldProblem(field=_field_name(e.get("loc", ())), message=str(e.get("msg", "")))
              for e in errors]
    detail = "; ".join(f"{f.field}: {f.message}" for f in fields) or "invalid request"
    return problem(422, detail, errors=fields)


def _field_name(loc: Any) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, rest = parts[0], parts[1:]
        return ".".join(rest) or where
    return ".".join(parts) or "request"


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response whose body is a Problem."""
    return {"description": description,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def patch_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Powertools documents its own 422 shape; ours is a Problem, so say so."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    field_schema = components["Problem"].pop("$defs", {}).get("FieldProblem")
    if field_schema:
        components["FieldProblem"] = field_schema
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = problem_response("The body or a parameter is invalid "
                                                    "(the fields are named)")
    return schema


def to_json(schema: dict[str, Any]) -> str:
    return json.dumps(schema, separators=(",", ":"))
