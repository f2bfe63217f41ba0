"""pydantic's JSON Schema translated to the draft 4 that API Gateway validates."""

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from stacks.api_models import draft4_schema

pytestmark = pytest.mark.unit


class Inner(BaseModel):
    kind: Literal["a"]


class Outer(BaseModel):
    """Docs only."""

    count: int = Field(gt=0, lt=10, examples=[3])
    inner: Inner
    tags: list[str] = Field(default_factory=list, max_length=3)


def test_references_are_inlined_and_keywords_are_draft_4():
    schema = draft4_schema(Outer)
    assert schema["properties"]["count"] == {"type": "integer", "minimum": 0,
                                             "exclusiveMinimum": True, "maximum": 10,
                                             "exclusiveMaximum": True}
    assert schema["properties"]["inner"] == {"type": "object", "required": ["kind"],
                                             "properties": {"kind": {"enum": ["a"],
                                                                     "type": "string"}}}
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"},
                                            "maxItems": 3}
    assert schema["required"] == ["count", "inner"]
    assert "$defs" not in str(schema) and "title" not in schema and "examples" not in str(schema)
