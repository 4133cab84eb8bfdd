"""Where it works: one scenario across LangGraph's surface (issue: native support, matrix).

The same assertions for every combination of
- how the graph is run: `invoke`, `ainvoke`, `stream`, `astream`;
- where the approval lives: in the graph itself (`flat`), in a subgraph called from a node
  (`subgraph`), in two parallel branches (`parallel`), in `Send` fan-out (`send`);
- the state schema: `TypedDict`, pydantic, dataclass;
- the checkpointer: SQLite (sync runs; LangGraph's `SqliteSaver` has no async methods), in-memory,
  async SQLite (async runs only), Postgres (its sync saver for sync runs, its async one for async).

Each run proposes deletes, pauses with one question per delete, is resumed (as an authenticated
user, by interrupt id) with approvals, and must then have run each handler exactly once and have,
in the audit log, `proposed` before `approved` before `executed` for every delete. Results go to
`test-artifacts/matrix.json`; `python scripts/readme_matrix.py` writes the README's table from it.
"""

from __future__ import annotations

import asyncio
import json
import operator
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send
from typing_extensions import TypedDict

from langgraph_hitl import (
    HITLDataclass,
    HITLModel,
    HITLState,
    Policy,
    aopen_checkpointer,
    open_checkpointer,
)
from langgraph_hitl.functional import approval_flow, request_approval
from langgraph_hitl.store import open_store
from langgraph_hitl.testing import authenticated

MODES = ["invoke", "ainvoke", "stream", "astream"]
SHAPES = ["flat", "subgraph", "parallel", "send"]
SCHEMAS = ["typeddict", "pydantic", "dataclass"]
SAVERS = ["sqlite", "memory", "async-sqlite", "postgres"]
RESULTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "matrix.json"


class TypedFlow(HITLState, total=False):
    pass


class ModelFlow(HITLModel):
    pass


@dataclass
class DataFlow(HITLDataclass):
    pass


FLOW_SCHEMAS: dict[str, Any] = {"typeddict": TypedFlow, "pydantic": ModelFlow, "dataclass": DataFlow}


class Parent(TypedDict, total=False):
    """A parent that knows nothing of approvals (no HITLState keys) for the subgraph shapes."""

    ids: list[int]
    outcomes: Annotated[list[str], operator.add]


class Branch(TypedDict):
    id: int


RAN: list[int] = []


def delete(args: dict[str, Any], *, idempotency_key: str) -> str:
    RAN.append(args["id"])
    return f"deleted {args['id']}"


POLICY = Policy({"delete_record": "irreversible_high"})


def build(shape: str, schema: str, store: Any) -> StateGraph[Any, Any, Any, Any]:
    flow_schema = FLOW_SCHEMAS[schema]
    if shape == "flat":
        from langgraph_hitl import add_approval_flow

        builder = StateGraph(flow_schema)
        builder.add_node("plan", lambda state: {})
        builder.add_edge(START, "plan")
        return add_approval_flow(builder, source="plan", target=END, policy=POLICY, handlers={"delete_record": delete},
                                 store=store)  # fmt: skip
    flow = approval_flow(POLICY, {"delete_record": delete}, store=store, state_schema=flow_schema)

    def approve(state: dict[str, Any]) -> dict[str, Any]:
        out = request_approval(flow, {"name": "delete_record", "args": {"id": state["id"]}})
        return {"outcomes": [str(out["status"])]}

    parent = StateGraph(Parent)
    if shape == "subgraph":
        parent.add_node("approve", lambda state: approve({"id": state["ids"][0]}))
        parent.add_edge(START, "approve")
        parent.add_edge("approve", END)
    elif shape == "parallel":
        parent.add_node("left", lambda state: approve({"id": state["ids"][0]}))
        parent.add_node("right", lambda state: approve({"id": state["ids"][1]}))
        parent.add_edge(START, "left")
        parent.add_edge(START, "right")
        parent.add_edge("left", END)
        parent.add_edge("right", END)
    else:  # send
        parent.add_node("approve", approve, input_schema=Branch)
        parent.add_conditional_edges(START, lambda state: [Send("approve", {"id": i}) for i in state["ids"]])
        parent.add_edge("approve", END)
    return parent


def first_input(shape: str) -> dict[str, Any]:
    if shape == "flat":
        return {"action": {"name": "delete_record", "args": {"id": 1}}}
    return {"ids": [1] if shape == "subgraph" else [1, 2]}


@contextmanager
def sync_saver(kind: str, url: str) -> Iterator[Any]:
    if kind == "memory":
        yield InMemorySaver()
    else:
        with open_checkpointer(url) as saver:
            yield saver


@asynccontextmanager
async def async_saver(kind: str, url: str) -> AsyncIterator[Any]:
    if kind == "memory":
        yield InMemorySaver()
    else:
        async with aopen_checkpointer(url) as saver:
            yield saver


def run_sync(graph: Any, mode: str, payload: Any, config: dict[str, Any]) -> Any:
    if mode == "invoke":
        graph.invoke(payload, config)
    else:
        for _ in graph.stream(payload, config, stream_mode="updates"):
            pass
    return graph.get_state(config)


async def run_async(graph: Any, mode: str, payload: Any, config: dict[str, Any]) -> Any:
    if mode == "ainvoke":
        await graph.ainvoke(payload, config)
    else:
        async for _ in graph.astream(payload, config, stream_mode="updates"):
            pass
    return await graph.aget_state(config)


def scenario(mode: str, shape: str, schema: str, saver: str, url: str, store_url: str) -> None:
    with open_store(store_url) as store:  # nodes take a store object, opened (and closed) here
        _scenario(mode, shape, schema, saver, url, store)


def _scenario(mode: str, shape: str, schema: str, saver: str, url: str, store: Any) -> None:
    builder = build(shape, schema, store)
    config = {"configurable": {"thread_id": f"{mode}-{shape}-{schema}"}}
    expected = 1 if shape in ("flat", "subgraph") else 2

    def check_paused(state: Any) -> dict[str, Any]:
        assert len(state.interrupts) == expected, state.interrupts
        assert RAN == []
        return {i.id: {"type": "approve"} for i in state.interrupts}

    if mode in ("invoke", "stream"):
        with sync_saver(saver, url) as cp:
            graph = builder.compile(checkpointer=cp)
            answers = check_paused(run_sync(graph, mode, first_input(shape), config))
            state = run_sync(graph, mode, Command(resume=answers), authenticated(config, "alice"))
    else:

        async def go() -> Any:
            async with async_saver(saver, url) as cp:
                graph = builder.compile(checkpointer=cp)
                answers = check_paused(await run_async(graph, mode, first_input(shape), config))
                return await run_async(graph, mode, Command(resume=answers), authenticated(config, "alice"))

        state = asyncio.run(go())
    assert not state.next and not state.interrupts, state
    assert sorted(RAN) == list(range(1, expected + 1)), RAN
    rows = [(e["event"], (e.get("args") or {}).get("id")) for e in store.audit.query(limit=1000)]
    assert store.audit.verify().ok
    for action in range(1, expected + 1):
        story = [event for event, ident in rows if ident == action]
        assert [e for e in story if e in ("proposed", "approved", "executed")] == [
            "proposed",
            "approved",
            "executed",
        ], rows


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[str, str]]:
    found: dict[str, str] = {}
    yield found
    if found:
        RESULTS.parent.mkdir(exist_ok=True)
        old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        RESULTS.write_text(json.dumps({**old, **found}, indent=1, sort_keys=True))


def applies(mode: str, saver: str) -> bool:
    """LangGraph's `SqliteSaver` has no async methods and `AsyncSqliteSaver` serves only async runs."""
    sync = mode in ("invoke", "stream")
    return not ((saver == "sqlite" and not sync) or (saver == "async-sqlite" and sync))


COMBOS = [
    pytest.param(mode, shape, schema, saver, id=f"{mode}-{shape}-{schema}-{saver}",
                 marks=[pytest.mark.postgres] if saver == "postgres" else [])
    for mode in MODES for shape in SHAPES for schema in SCHEMAS for saver in SAVERS
    if applies(mode, saver)
]  # fmt: skip


@pytest.mark.parametrize(("mode", "shape", "schema", "saver"), COMBOS)
def test_matrix(
    mode: str, shape: str, schema: str, saver: str, tmp_path: Path, request: pytest.FixtureRequest,
    outcomes: dict[str, str],
) -> None:  # fmt: skip
    """Pause, approve by interrupt id, execute once, audit in order: in every combination."""
    key = f"{mode}|{shape}|{schema}|{saver}"
    if saver == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'hitl.db'}"
    store = url if saver != "memory" else f"sqlite:///{tmp_path / 'audit.db'}"
    RAN.clear()
    outcomes[key] = "fail"
    scenario(mode, shape, schema, saver, url, store)
    outcomes[key] = "pass"


def test_readme_table_matches_the_matrix() -> None:
    """The README's "Where it works" table has a row per applicable run mode and checkpointer, a
    column per shape, and a count of schemas in each cell; under CI no cell may say it failed."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- matrix:start -->", 1)[-1].split("<!-- matrix:end -->", 1)[0]
    assert "<!-- matrix:start -->" in readme, "README has no matrix table; run scripts/readme_matrix.py"
    for name in (*MODES, *SHAPES, *SAVERS):
        assert name in section, name
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == sum(applies(mode, saver) for mode in MODES for saver in SAVERS)
    assert all(f"{len(SCHEMAS)}/3 schemas" in row or "/3**" in row for row in rows)
    assert os.environ.get("CI") != "true" or "fail" not in section
