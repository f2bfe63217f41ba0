"""API Gateway request models from the application's pydantic models.

pydantic writes JSON Schema 2020-12 with `$defs`; API Gateway validates draft 4. The schema is
translated, not re-typed: references inlined, `const` as a one-value `enum`, numeric exclusive
bounds as draft 4's boolean form, and only the keywords draft 4 validates kept (titles,
examples and formats are documentation; the API checks everything again in detail).
"""

from typing import Any

from pydantic import BaseModel

_KEPT = {"type", "properties", "required", "items", "enum", "minimum", "maximum",
         "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
         "minItems", "maxItems", "uniqueItems", "anyOf", "allOf", "oneOf",
         "additionalProperties", "minProperties", "maxProperties", "description"}


def draft4_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return _translate(schema, schema.get("$defs", {}))


def _translate(schema: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(schema, list):
        return [_translate(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _translate(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
    result: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword == "const":
            result["enum"] = [value]
        elif keyword in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            result["minimum" if keyword == "exclusiveMinimum" else "maximum"] = value
            result[keyword] = True
        elif keyword == "properties":
            result[keyword] = {name: _translate(inner, definitions)
                               for name, inner in value.items()}
        elif keyword in _KEPT:
            result[keyword] = _translate(value, definitions)
    return result
