"""The routes that need no token: health, the OpenAPI document, Swagger UI.
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

from workflows import __version__
from workflows.api.problems import (
    patch_schema,
    to_json,
)
from workflows.api.resolver import (
    app,
    route,
)


@route("GET", "/health", None, summary="Is the API up",
       description="Answers `{status: ok, version}` while the API serves requests.")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


def openapi_schema() -> dict[str, Any]:
    return patch_schema(app.get_openapi_schema().model_dump(mode="json", by_alias=True,
                                                            exclude_none=True))


@route("GET", "/openapi.json", None, include_in_schema=False, summary="This API's OpenAPI document")
def openapi():  # a raw Response is not a schema
    return Response(200, "application/json", to_json(openapi_schema()))


@route("GET", "/docs", None, include_in_schema=False, summary="Swagger UI")
def docs():
    from pathlib import Path

    if (app.current_event.query_string_parameters or {}).get("format") == "json":
        return openapi()  # what the Swagger page itself may request

    from aws_lambda_powertools.event_handler import openapi as powertools_openapi

    assets = Path(powertools_openapi.__file__).parent / "swagger_ui"
    html = generate_swagger_html(to_json(openapi_schema()).replace("</", "<\\/"),
                                 (assets / "swagger-ui-bundle.min.js").read_text(),
                                 (assets / "swagger-ui.min.css").read_text(), "", None)
    return Response(200, "text/html", html)
