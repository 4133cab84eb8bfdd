"""The answer schema as the review nodes hand it to `interrupt(..., response_schema=...)`.

LangGraph builds a pydantic `TypeAdapter` of `response_schema` on every `interrupt()` call and
its JSON schema on every question: for the answer union (`decisions.RESPONSE_SCHEMA`) that cost
0.6 ms per resume and 3.3 ms per question. `INTERRUPT_SCHEMA` gives pydantic a plain validator
over the union's adapter and the union's JSON schema, each built once.
"""

from __future__ import annotations

import functools
import json
from typing import Any, cast

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from .decisions import RESPONSE_SCHEMA

__all__ = ["INTERRUPT_SCHEMA", "decision_answer"]


@functools.cache
def _response_adapter() -> TypeAdapter[Any]:
    return TypeAdapter(RESPONSE_SCHEMA)


@functools.cache
def _response_json() -> str:
    """`RESPONSE_SCHEMA`'s JSON schema with its `$defs` written in place (built once)."""
    schema = _response_adapter().json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return {
                    **inline(defs[ref[len("#/$defs/") :]]),
                    **{k: inline(v) for k, v in node.items() if k != "$ref"},
                }
            return {k: inline(v) for k, v in node.items()}
        return [inline(v) for v in node] if isinstance(node, list) else node

    return json.dumps(inline(schema))


def decision_answer(value: Any) -> Any:
    """Check a resume value against `RESPONSE_SCHEMA`; what `interrupt()` returns (a model or a list)."""
    return _response_adapter().validate_python(value)


class INTERRUPT_SCHEMA:  # noqa: N801 - passed where LangGraph takes a schema, named like one
    """`RESPONSE_SCHEMA` as the review nodes pass it to `interrupt(..., response_schema=...)`.

    LangGraph builds a `TypeAdapter` of the schema on every call and its JSON schema on every
    question: for the union itself that cost 0.6 ms per resume and 3.3 ms per question. This
    class gives pydantic a plain validator (the union's adapter, built once) and the JSON
    schema, built once: the same answers pass and fail (as `pydantic.ValidationError`, so an
    invalid resume is still refused before it is saved), and clients see the same schema
    with its definitions in place.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(decision_answer)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return cast(JsonSchemaValue, json.loads(_response_json()))
