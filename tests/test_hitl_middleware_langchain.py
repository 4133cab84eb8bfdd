"""langchain 1.4.7's own HumanInTheLoopMiddleware tests, run against langgraph_hitl's drop-in.

The tests are vendored unchanged in `vendored/langchain_hitl/upstream_test_human_in_the_loop.py`
(MIT, with its provenance in the header). This module imports that file, swaps its imports for
this package's (`HumanInTheLoopMiddleware`, the default edit notice, the per-call decision
schema builder) and collects its tests here. Two translations, no more:

- `unittest.mock.patch` of langchain's `interrupt` becomes `answering(...)`: the hook runs in a
  real one-node LangGraph graph with a real checkpointer, and the real `interrupt()` is answered
  with the mock's `return_value` (or `side_effect(question)`), so LangGraph checks the answer
  against the hook's `response_schema` exactly as in production. (`patch` of `get_config` is
  not needed inside a real run.)
- async tests get `pytest.mark.asyncio` (langchain runs pytest-asyncio in auto mode, this suite
  in strict mode).

Tests of langchain's private internals are skipped, each with its reason; the behaviours they
cover are tested through this package's own record in `test_hitl_middleware.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from typing_extensions import TypedDict

from langgraph_hitl.patterns import HumanInTheLoopMiddleware, _interrupt_on, hitl_middleware

VENDORED = Path(__file__).parent / "vendored" / "langchain_hitl"
MARKER = "# --- vendored file starts ---\n"
UPSTREAM_SHA256 = {
    "upstream_test_human_in_the_loop.py": "477b804705748da66a90562a224109ea92d73e223b31b42db2677d5df0258e70",
    "model.py": "a2d052706b934bef0fb28ba4f7734aeebf0c383209b30f08c578926bb63e40ac",
}

_PRIVATE_STATE = (
    "reads or plants langchain's private state key `hitl_edited_tool_calls`; this class never takes an "
    "edit from state, only from its own sealed record (receipts, G9)"
)
SKIPPED = {
    "test_human_in_the_loop_middleware_single_tool_edit": _PRIVATE_STATE,
    "test_human_in_the_loop_middleware_multiple_tools_edit_responses": _PRIVATE_STATE,
    "test_human_in_the_loop_middleware_edit_with_modified_args": _PRIVATE_STATE,
    "test_human_in_the_loop_middleware_boolean_configs": _PRIVATE_STATE,
    "test_human_in_the_loop_middleware_preserves_order_with_edits": _PRIVATE_STATE,
    "test_human_in_the_loop_middleware_edit_annotates_list_content": _PRIVATE_STATE,
    "test_human_in_the_loop_middleware_edit_annotates_command_result": _PRIVATE_STATE,
    "test_human_in_the_loop_middleware_edit_notice_is_not_duplicated": _PRIVATE_STATE,
    "test_human_in_the_loop_middleware_edit_annotates_async": _PRIVATE_STATE,
    "test_human_in_the_loop_middleware_edit_notice_is_customizable": _PRIVATE_STATE,
    "test_human_in_the_loop_middleware_edit_notice_can_be_disabled": _PRIVATE_STATE,
    "test_human_in_the_loop_middleware_edit_to_unknown_tool_raises": _PRIVATE_STATE,
    "test_a_turn_that_resolves_no_decisions_clears_the_previous_turns_edits": _PRIVATE_STATE,
    "test_recorded_edit_survives_a_later_tightening_of_allowed_decisions": _PRIVATE_STATE,
    "test_async_turn_that_resolves_no_decisions_clears_the_previous_turns_edits": _PRIVATE_STATE,
    "test_return_direct_routing_keeps_calls_with_unnamed_results": (
        "tests langchain's private `create_agent` edge `_make_tools_to_model_edge`, not the middleware"
    ),
}


def _body(name: str) -> str:
    text = (VENDORED / name).read_text(encoding="utf-8")
    return text.split(MARKER, 1)[1]


class _Slot(TypedDict, total=False):
    n: int


class Answering:
    """What `unittest.mock.patch(".../interrupt", ...)` becomes: real LangGraph answers the question.

    While active, `HumanInTheLoopMiddleware.after_model` called outside a graph runs inside a
    one-node graph compiled with `InMemorySaver`. A `return_value` is given as the resume of a
    run paused before that node, so the node runs once and its `interrupt()` returns the answer
    (after LangGraph checked it against the `response_schema`); a `side_effect` first sees the
    question from a run that pauses at it, and its answer resumes that run.
    """

    def __init__(self, side_effect: Callable[[Any], Any] | None = None, return_value: Any = None) -> None:
        self.side_effect = side_effect
        self.return_value = return_value
        self.asked: list[Any] = []
        self._saved: dict[str, Any] = {}

    def assert_not_called(self) -> None:
        """Like `Mock.assert_not_called`: no question was asked."""
        assert self.asked == [], f"interrupt() was called with {self.asked!r}"

    def _graph(self, hook: Callable[[], Any], result: dict[str, Any], *, pause: bool) -> Any:
        def node(_: _Slot) -> dict[str, Any]:
            result["value"] = hook()
            return {}

        builder = StateGraph(_Slot)
        builder.add_node("after_model", node)
        builder.add_edge(START, "after_model")
        builder.add_edge("after_model", END)
        return builder.compile(
            checkpointer=InMemorySaver(), interrupt_before=["after_model"] if pause else None
        )

    def run(self, hook: Callable[[], Any]) -> Any:
        result: dict[str, Any] = {}
        config: Any = {"configurable": {"thread_id": "vendored"}}
        if self.side_effect is None and self.return_value is not None:
            graph = self._graph(hook, result, pause=True)
            graph.invoke({"n": 0}, config)
            self.asked.append("(answered by return_value)")
            out = graph.invoke(Command(resume=self.return_value), config)
            assert "__interrupt__" not in out, (
                "LangGraph no longer hands a breakpoint's resume to the next interrupt()"
            )
        else:
            graph = self._graph(hook, result, pause=False)
            out = graph.invoke({"n": 0}, config)
            for _ in range(10):
                if "__interrupt__" not in out:
                    break
                question = out["__interrupt__"][0].value
                self.asked.append(question)
                answer = self.side_effect(question) if self.side_effect is not None else self.return_value
                out = graph.invoke(Command(resume=answer), config)
        assert "__interrupt__" not in out or self.side_effect is None, (
            "the hook kept asking"
        )  # None: nothing answers
        return result.get("value")

    def __enter__(self) -> Answering:
        self._saved = {k: HumanInTheLoopMiddleware.__dict__[k] for k in ("after_model", "aafter_model")}
        original = self._saved["after_model"]
        answering = self

        def after_model(mw: Any, state: Any, runtime: Any) -> Any:
            return answering.run(lambda: original(mw, state, runtime))

        async def aafter_model(mw: Any, state: Any, runtime: Any) -> Any:
            return await asyncio.to_thread(answering.run, lambda: original(mw, state, runtime))

        HumanInTheLoopMiddleware.after_model = after_model  # type: ignore[method-assign]
        HumanInTheLoopMiddleware.aafter_model = aafter_model  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        for key, value in self._saved.items():
            setattr(HumanInTheLoopMiddleware, key, value)


@contextmanager
def _no_op() -> Iterator[None]:
    yield


def answering(target: str, side_effect: Callable[[Any], Any] | None = None, return_value: Any = None) -> Any:
    """The vendored module's `patch`: see `Answering`."""
    if target.endswith(".get_config"):
        return _no_op()  # inside a real run LangGraph provides the config
    assert target == "langchain.agents.middleware.human_in_the_loop.interrupt", target
    return Answering(side_effect, return_value)


def _load() -> types.ModuleType:
    """Import the vendored tests with their imports pointed at this package."""
    name = "vendored.langchain_hitl.upstream_test_human_in_the_loop"
    pytest.register_assert_rewrite(name)
    model = importlib.import_module("vendored.langchain_hitl.model")
    aliases = {
        "tests": types.ModuleType("tests"),
        "tests.unit_tests": types.ModuleType("tests.unit_tests"),
        "tests.unit_tests.agents": types.ModuleType("tests.unit_tests.agents"),
        "tests.unit_tests.agents.model": model,
    }
    saved = {k: sys.modules.get(k) for k in aliases}
    sys.modules.update(aliases)
    try:
        module = importlib.import_module(name)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    module.HumanInTheLoopMiddleware = HumanInTheLoopMiddleware  # type: ignore[attr-defined]
    module._EDIT_NOTICE = hitl_middleware.EDIT_NOTICE  # type: ignore[attr-defined]
    module._decision_schema = _interrupt_on.decision_schema  # type: ignore[attr-defined]
    for public in ("Action", "Decision", "DecisionType", "InterruptMode", "InterruptOnConfig"):
        setattr(module, public, getattr(hitl_middleware, public))
    module.patch = answering  # type: ignore[attr-defined]
    return module


UPSTREAM = _load()


def _collect() -> dict[str, Any]:
    tests: dict[str, Any] = {}
    for name, fn in vars(UPSTREAM).items():
        if not name.startswith("test_") or not callable(fn):
            continue
        if name in SKIPPED:
            fn = pytest.mark.skip(reason=SKIPPED[name])(fn)
        elif inspect.iscoroutinefunction(fn):
            fn = pytest.mark.asyncio(fn)
        tests[name] = fn
    return tests


globals().update(_collect())


def test_vendored_files_are_langchains_as_released() -> None:
    """The vendored test file and fake model are byte for byte langchain 1.4.7's (below their headers)."""
    for name, digest in UPSTREAM_SHA256.items():
        assert hashlib.sha256(_body(name).encode("utf-8")).hexdigest() == digest, name
    assert (
        "MIT License" in (VENDORED / "LICENSE").read_text()
        and "LangChain, Inc." in (VENDORED / "LICENSE").read_text()
    )


def test_vendored_tests_all_accounted_for() -> None:
    """Every upstream test is collected here, and every skip names a test that exists."""
    upstream = {n for n in vars(UPSTREAM) if n.startswith("test_")}
    assert set(SKIPPED) <= upstream
    assert upstream <= set(globals())
    assert len(upstream) == 62


def test_default_edit_notice_is_langchains() -> None:
    """The default edit notice is langchain 1.4.7's text (the model reads it; prompts rely on it)."""
    from langchain.agents.middleware import human_in_the_loop as upstream

    assert hitl_middleware.EDIT_NOTICE == upstream._EDIT_NOTICE


def test_answering_harness_uses_the_real_interrupt() -> None:
    """The harness answers LangGraph's real interrupt: an answer failing the response schema raises before the hook sees it."""
    mw = HumanInTheLoopMiddleware(interrupt_on={"t": {"allowed_decisions": ["approve"]}})
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.runtime import Runtime

    state: Any = {
        "messages": [HumanMessage("x"), AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "1"}])]
    }
    with (
        answering(
            "langchain.agents.middleware.human_in_the_loop.interrupt",
            return_value={"decisions": [{"type": "reject"}]},
        ),
        pytest.raises(ValueError, match="Decision type 'reject' is not allowed for tool 't'"),
    ):
        mw.after_model(state, Runtime())
    with answering(
        "langchain.agents.middleware.human_in_the_loop.interrupt",
        side_effect=lambda q: {"decisions": [{"type": "approve"}]},
    ) as mock:
        out = mw.after_model(state, Runtime())
    assert out is not None and mock.asked[0]["action_requests"][0]["name"] == "t"


def _cases(fn: Any) -> int:
    """How many test cases pytest makes of `fn` (its parametrizations multiplied)."""
    count = 1
    for mark in getattr(fn, "pytestmark", []):
        if mark.name == "parametrize":
            count *= len(mark.args[1])
    return count


def test_readme_shows_the_swap_and_the_vendored_counts() -> None:
    """The README's one-line swap imports this class, and its pass/skip counts are this module's."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "from langgraph_hitl.patterns import HumanInTheLoopMiddleware" in readme
    tests = {n: fn for n, fn in vars(UPSTREAM).items() if n.startswith("test_")}
    skipped = sum(_cases(fn) for n, fn in tests.items() if n in SKIPPED)
    ran = sum(_cases(fn) for n, fn in tests.items() if n not in SKIPPED)
    assert f"{ran} pass, {skipped} skipped" in readme
