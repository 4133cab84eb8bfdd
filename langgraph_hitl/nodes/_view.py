"""One way for nodes and conditions to read the graph's state, whatever its schema.

LangGraph hands a node its state as the schema's own type: a dict for a `TypedDict`, an
instance for a pydantic model or a dataclass. The nodes only read keys and return updates (a
dict, which LangGraph applies to every schema), so reading through `view()` is all they need.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["view"]


def view(state: Any) -> Mapping[str, Any]:
    """`state` as a read-only mapping of its fields.

    Raises:
        TypeError: `state` is none of a mapping, a pydantic model or a dataclass instance.
    """
    if isinstance(state, Mapping):
        return state
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    fields = getattr(type(state), "model_fields", None)
    if isinstance(fields, Mapping):
        return {name: getattr(state, name) for name in fields}
    msg = (
        f"The graph's state is a {type(state).__name__}; langgraph-hitl's nodes read a TypedDict, a "
        "pydantic model or a dataclass state. Use one of those as the StateGraph's schema."
    )
    raise TypeError(msg)
