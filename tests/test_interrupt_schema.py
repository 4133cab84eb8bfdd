"""`INTERRUPT_SCHEMA`, what the review nodes hand `interrupt()`, accepts and refuses exactly what
`RESPONSE_SCHEMA` does (issue 16: LangGraph rebuilt the union's adapter on every resume and its JSON
schema on every question, 3.3 ms of each paused run).

The attack: any answer a client can send, shaped like a decision or not, through LangGraph's own
`interrupt()` validation (`TypeAdapter(schema).validate_python`), must come out the same as
through the union itself: the same value, or a `pydantic.ValidationError` LangGraph marks as an
invalid resume (so nothing is saved).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.errors import is_invalid_resume
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from pydantic import TypeAdapter, ValidationError
from typing_extensions import TypedDict

from langgraph_hitl.answer_schema import INTERRUPT_SCHEMA
from langgraph_hitl.decisions import RESPONSE_SCHEMA

_TEXT = st.text(max_size=12) | st.sampled_from(
    ["approve", "edit", "reject", "respond", "revise", "accept", "x"]
)
_SCALAR = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | _TEXT
_JSON = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=10,
)
_DECISION = st.fixed_dictionaries(
    {"type": st.sampled_from(["approve", "edit", "reject", "respond", "revise", "timeout", "bogus"])},
    optional={
        "message": _TEXT | st.integers(),
        "approver": _TEXT,
        "edited_action": st.fixed_dictionaries({"name": _TEXT, "args": st.dictionaries(_TEXT, _SCALAR)}),
        "verify": _TEXT,
        "args": st.none() | st.dictionaries(_TEXT, _SCALAR),
        "extra": _SCALAR,
    },
)
_INBOX = st.fixed_dictionaries(
    {"type": st.sampled_from(["accept", "edit", "response", "ignore", "nope"])},
    optional={"args": st.none() | _TEXT | st.dictionaries(_TEXT, _JSON)},
)
_ANSWER = (
    _JSON
    | _DECISION
    | _INBOX
    | st.lists(_DECISION | _INBOX, min_size=0, max_size=2)
    | st.fixed_dictionaries({"decisions": st.lists(_DECISION, max_size=3)})
)


def _outcome(schema: Any, value: Any) -> tuple[str, Any]:
    try:
        out = TypeAdapter(schema).validate_python(value)
    except ValidationError as exc:
        return "refused", sorted((str(e["loc"]), e["type"]) for e in exc.errors())
    return "accepted", TypeAdapter(Any).dump_python(out)


@settings(max_examples=600, deadline=None)
@given(answer=_ANSWER)
def test_the_same_answers_pass_and_fail_as_through_the_union(answer: Any) -> None:
    fast, union = _outcome(INTERRUPT_SCHEMA, answer), _outcome(RESPONSE_SCHEMA, answer)
    assert fast[0] == union[0], (answer, fast, union)
    if fast[0] == "accepted":
        assert fast[1] == union[1]
    else:  # the same errors, at the same places, inside the validator's own location
        assert [t for _, t in fast[1]] == [t for _, t in union[1]]


def test_clients_see_the_unions_json_schema_with_its_definitions_in_place() -> None:
    union = TypeAdapter(RESPONSE_SCHEMA).json_schema()
    fast = TypeAdapter(INTERRUPT_SCHEMA).json_schema()
    defs = union.pop("$defs")
    assert "$defs" not in json.dumps(fast) and "$ref" not in json.dumps(fast)

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(
                    {**defs[node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
                )
            return {k: resolve(v) for k, v in node.items()}
        return [resolve(v) for v in node] if isinstance(node, list) else node

    assert fast == resolve(union)
    fast["anyOf"].clear()  # a caller mutating its copy changes nobody else's
    assert TypeAdapter(INTERRUPT_SCHEMA).json_schema()["anyOf"]


class _State(TypedDict, total=False):
    answer: Any


def _ask(state: _State) -> _State:
    return {"answer": interrupt({"q": 1}, response_schema=INTERRUPT_SCHEMA)}


@pytest.mark.parametrize("bad", [{"type": "bogus"}, {"decisions": []}, 5, {"type": "approve", "extra": 1}])
def test_langgraph_refuses_a_bad_resume_before_saving_it(tmp_path: Any, bad: Any) -> None:
    """Through a real graph and checkpointer: the bad answer raises an invalid-resume error, the
    question stays answerable, and a good answer then goes through (no sticky bad answer)."""
    builder = StateGraph(_State)
    builder.add_node("ask", _ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    conn = sqlite3.connect(tmp_path / "g.db", check_same_thread=False)
    graph = builder.compile(checkpointer=SqliteSaver(conn))
    cfg = {"configurable": {"thread_id": "t"}}
    asked = graph.invoke({}, cfg)["__interrupt__"][0]
    assert asked.response_schema == TypeAdapter(INTERRUPT_SCHEMA).json_schema()
    with pytest.raises(ValidationError) as refused:
        graph.invoke(Command(resume={asked.id: bad}), cfg)
    assert is_invalid_resume(refused.value)
    assert [i.id for i in graph.get_state(cfg).interrupts] == [asked.id]
    out = graph.invoke(Command(resume={asked.id: {"type": "approve"}}), cfg)
    assert out["answer"].type == "approve"
    conn.close()
