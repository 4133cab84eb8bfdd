"""Tests for langgraph_hitl.tool_annotations: MCP tool annotations as reversibility hints that a
policy can only make stricter, and the `tool_annotations` option of `ToolGateNode`."""

from __future__ import annotations

import itertools
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from mcp.types import Tool, ToolAnnotations

import langgraph_hitl.tool_annotations as module
from langgraph_hitl import Policy, Rule, open_checkpointer
from langgraph_hitl.errors import PolicyError
from langgraph_hitl.patterns import ToolGateNode, ToolGateState, tool_gate_condition
from langgraph_hitl.policy import MODE_ORDER
from langgraph_hitl.tool_annotations import (
    HINTS,
    policy_with_tool_annotations,
    reversibility_from_annotations,
)
from langgraph_hitl.types import RISK_ORDER

CLASSES = ["fully_reversible", "partially_reversible", "irreversible_low", "irreversible_high"]


def expected_class(read_only: Any, destructive: Any, idempotent: Any, open_world: Any) -> str | None:
    """The module docstring's table, row by row (only real bools count)."""
    hints = [h if isinstance(h, bool) else None for h in (read_only, destructive, idempotent, open_world)]
    read_only, destructive, idempotent, open_world = hints
    if all(h is None for h in hints):
        return None
    if read_only is True:
        return "fully_reversible" if open_world is False else "partially_reversible"
    if destructive is not False:
        return "irreversible_high"
    if idempotent is True:
        return "partially_reversible" if open_world is False else "irreversible_low"
    return "irreversible_low"


@pytest.mark.parametrize("combo", list(itertools.product([True, False, None], repeat=4)))
def test_every_combination_follows_the_documented_table(combo: tuple[bool | None, ...]) -> None:
    """All 81 combinations of the four hints (each true, false or absent) give the table's class,
    whether passed as wire names, snake_case names or an SDK `ToolAnnotations`."""
    wire = {name: value for name, value in zip(HINTS, combo, strict=True) if value is not None}
    snake = {re.sub("([A-Z])", r"_\1", k).lower(): v for k, v in wire.items()}
    sdk = ToolAnnotations(**snake)
    want = expected_class(*combo)
    assert reversibility_from_annotations(wire) == want
    assert reversibility_from_annotations(snake) == want
    assert reversibility_from_annotations(sdk) == want


def test_table_in_the_docstring_has_a_row_per_outcome() -> None:
    """The documented table names every class the function can give, and the no-hint row."""
    doc = module.__doc__ or ""
    for cls in CLASSES:
        assert f"`{cls}`" in doc, cls
    assert "no hint at all" in doc


@pytest.mark.parametrize("junk", ["true", 1, 0, "false", [], {}, 1.0])
def test_a_hint_that_is_not_a_bool_counts_as_absent(junk: Any) -> None:
    """`"true"`, `1` and the like are no claim: a lone one is no hint, beside others it is the strict default."""
    assert reversibility_from_annotations({"readOnlyHint": junk}) is None
    assert (
        reversibility_from_annotations({"readOnlyHint": junk, "openWorldHint": False}) == "irreversible_high"
    )
    assert (
        reversibility_from_annotations({"destructiveHint": junk, "idempotentHint": True})
        == "irreversible_high"
    )


def test_docstring_example_runs() -> None:
    """The module docstring's example runs as written."""
    code = re.search(r"```python\n(.*?)```", module.__doc__ or "", re.S)
    assert code is not None
    exec(compile(textwrap.dedent(code.group(1)), "tool_annotations-example", "exec"), {})


# -- the policy can only tighten ------------------------------------------------------------------

NAMES = ["search", "delete_record", "fetch", "Search"]
hint = st.sampled_from([True, False, None, "true", 1])
annotations = st.one_of(st.none(), st.fixed_dictionaries({}, optional={name: hint for name in HINTS}))
rules = st.lists(
    st.builds(
        Rule,
        name=st.just("r"),
        actions=st.sampled_from(["*", *NAMES]),
        risk=st.sampled_from([None, *RISK_ORDER]),
        mode=st.sampled_from(["soft", "hard", "verify", "deny"]),
    ),
    max_size=2,
)
policies = st.builds(
    Policy,
    actions=st.dictionaries(st.sampled_from(NAMES), st.sampled_from(CLASSES), max_size=3),
    rules=rules,
    verify_phrases=st.dictionaries(st.sampled_from(NAMES), st.just("YES {id}"), max_size=1),
    unknown=st.sampled_from(["hard", "verify", "deny"]),
)


def strictness(assessment: dict[str, Any]) -> tuple[int, int, int]:
    """How much a gate asks: its mode, its risk, how many approvals."""
    return (
        MODE_ORDER[assessment["mode"]],
        RISK_ORDER[assessment["risk"]],
        int(assessment["required_approvals"]),
    )


def at_least_as_strict(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether gate `a` asks at least what gate `b` asks, on every axis."""
    return all(x >= y for x, y in zip(strictness(a), strictness(b), strict=True))


@settings(max_examples=200, deadline=None)
@given(
    policy=policies,
    notes=st.dictionaries(st.sampled_from(NAMES), annotations, max_size=4),
    name=st.sampled_from(NAMES),
)
def test_annotations_never_loosen_the_policy(policy: Policy, notes: dict[str, Any], name: str) -> None:
    """For any policy and any annotations: a listed tool's gate is at least the policy's; an unlisted
    tool without hints, or under `unknown` verify/deny, gets exactly the policy's gate; and the
    policy's rules and phrases tighten the hinted class, never loosen it."""
    action = {"name": name, "args": {"id": 1}}
    own = policy.assess(action)
    got = policy_with_tool_annotations(policy, notes).assess(action)
    hinted = reversibility_from_annotations(notes.get(name))
    if name in policy.actions:
        assert at_least_as_strict(got, own), (got, own)
    elif hinted is None or policy.unknown != "hard":
        assert got == own
    if hinted is not None and (name in policy.actions or policy.unknown == "hard"):
        from_hint_alone = Policy(
            {name: hinted}, rules=policy.rules, verify_phrases=policy.verify_phrases
        ).assess(action)
        assert at_least_as_strict(got, from_hint_alone), (got, from_hint_alone)


@settings(max_examples=50, deadline=None)
@given(policy=policies, name=st.sampled_from(NAMES), open_world=st.sampled_from([False, None]))
def test_a_read_only_claim_never_softens_a_listed_tool(
    policy: Policy, name: str, open_world: bool | None
) -> None:
    """A server calling a listed tool read-only (the softest claim there is) changes nothing softer."""
    claim = {
        "readOnlyHint": True,
        "destructiveHint": False,
        "idempotentHint": True,
        "openWorldHint": open_world,
    }
    action = {"name": name, "args": {"id": 1}}
    got = policy_with_tool_annotations(policy, {name: claim}).assess(action)
    if name in policy.actions:
        assert at_least_as_strict(got, policy.assess(action))


def test_unlisted_tool_without_annotations_gets_the_strict_default() -> None:
    """No annotations, empty annotations or only junk: the unknown gate, as without hints."""
    policy = Policy({"search": "fully_reversible"})
    hinted = policy_with_tool_annotations(policy, {"a": None, "b": {}, "c": {"readOnlyHint": "yes"}})
    for name in ("a", "b", "c", "never-mentioned"):
        got = hinted.assess({"name": name, "args": {}})
        assert (got["mode"], got["reversibility"]) == ("hard", "irreversible_high")
    assert hinted.assess({"name": "search", "args": {}})["mode"] == "auto"


def test_sdk_tools_from_list_tools_are_accepted() -> None:
    """The `Tool`s a `ClientSession.list_tools()` returns are read by name and annotations."""
    tools = [
        Tool(
            name="lookup",
            input_schema={"type": "object"},
            annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
        ),
        Tool(
            name="wipe", input_schema={"type": "object"}, annotations=ToolAnnotations(destructive_hint=True)
        ),
        Tool(name="bare", input_schema={"type": "object"}),
    ]
    policy = policy_with_tool_annotations(Policy(), tools)
    assert dict(policy.actions) == {"lookup": "fully_reversible", "wipe": "irreversible_high"}


@pytest.mark.parametrize(
    ("tools", "match"),
    [
        ("search", "must map tool names"),
        ([{"name": "a"}, {"name": "a"}], "given twice"),
        ([{"name": ""}], "non-empty text"),
        ({7: {}}, "non-empty text"),
    ],
)
def test_bad_tool_lists_are_refused(tools: Any, match: str) -> None:
    """A string, a duplicate name or a nameless tool is a PolicyError naming the problem."""
    with pytest.raises(PolicyError, match=match):
        policy_with_tool_annotations(Policy(), tools)


def test_policy_must_be_a_policy() -> None:
    """Anything but a `Policy` is refused with its type named."""
    with pytest.raises(PolicyError, match="got dict"):
        policy_with_tool_annotations({}, {})  # type: ignore[arg-type]


# -- the tool gate ------------------------------------------------------------------------------------

RAN: list[str] = []


@tool
def lookup(q: str) -> str:
    """Look something up (its server says: read-only, closed world)."""
    RAN.append("lookup")
    return "found"


@tool
def wipe(table: str) -> str:
    """Wipe a table (its server says: destructive)."""
    RAN.append("wipe")
    return "wiped"


@tool
def delete_record(id: int) -> str:
    """Delete a record (the policy lists it; its server claims read-only)."""
    RAN.append("delete_record")
    return "deleted"


SERVER_HINTS = {
    "lookup": {"readOnlyHint": True, "openWorldHint": False},
    "wipe": {"destructiveHint": True},
    "delete_record": {"readOnlyHint": True, "openWorldHint": False},
}


def agent(tmp_path: Path, call: str) -> tuple[Any, Any]:
    """model (one tool call) -> gate with the servers' hints -> tools -> END, on a SQLite checkpointer."""

    def model(state: dict[str, Any]) -> dict[str, Any]:
        args = {"lookup": {"q": "x"}, "wipe": {"table": "t"}, "delete_record": {"id": 3}}[call]
        return {"messages": [AIMessage("", tool_calls=[{"name": call, "args": args, "id": "c1"}])]}

    gate = ToolGateNode(Policy({"delete_record": "irreversible_high"}), tool_annotations=SERVER_HINTS)
    builder = StateGraph(ToolGateState)
    builder.add_node("model", model)
    builder.add_node("tool_gate", gate)
    builder.add_node("tools", ToolNode([lookup, wipe, delete_record]))
    builder.add_edge(START, "model")
    builder.add_edge("model", "tool_gate")
    builder.add_conditional_edges("tool_gate", tool_gate_condition, ["tool_gate", "tools", "model", END])
    builder.add_edge("tools", END)
    return builder, open_checkpointer(f"sqlite:///{tmp_path / 'agent.db'}")


@pytest.mark.parametrize(("call", "asks"), [("lookup", False), ("wipe", True), ("delete_record", True)])
def test_tool_gate_takes_hints_for_unlisted_tools_only_as_defaults(
    tmp_path: Path, call: str, asks: bool
) -> None:
    """Unlisted read-only `lookup` runs unasked; unlisted destructive `wipe` is asked about; listed
    `delete_record` keeps its hard gate although its server claims read-only."""
    RAN.clear()
    builder, saver = agent(tmp_path, call)
    with saver as checkpointer:
        graph = builder.compile(checkpointer=checkpointer)
        out = graph.invoke({"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": call}})
    assert bool(out.get("__interrupt__")) is asks
    assert RAN == ([] if asks else [call])
    if asks:
        hitl = out["__interrupt__"][0].value["hitl"]
        assert hitl["calls"][0]["mode"] == "hard"
