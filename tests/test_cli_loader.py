"""`--graph file.py:attr` calls only graphs' factories: never a script's `main()` or any other function."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from langgraph_hitl import Approvals
from langgraph_hitl.graphspec import GraphSpecError, load_graph
from langgraph_hitl.store import open_store

from graphs import action, build

ROOT = Path(__file__).resolve().parent.parent

# A script a user might name by mistake: main() wipes the database; the graph factories are beside it.
SCRIPT = '''
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel

from graphs import build

if TYPE_CHECKING:
    import langgraph.graph.state as lgs

MARKER = Path(__file__).with_name("main-ran")


class MyGraph(StateGraph):
    """A subclass counts as a graph type."""


def main() -> None:
    MARKER.write_text("main() ran")
    Path("hitl.db").unlink(missing_ok=True)


def setup():
    MARKER.write_text("setup() ran")


def untyped_factory():
    MARKER.write_text("untyped_factory() ran")
    return build()


def any_factory() -> Any:
    MARKER.write_text("any_factory() ran")
    return build()


def build_graph() -> StateGraph[Any, Any, Any, Any]:
    return build()


def compiled() -> CompiledStateGraph[Any, Any, Any, Any]:
    return build().compile()


def pregel() -> "Pregel":
    return build().compile()


def subclass() -> MyGraph:
    return build()  # type: ignore[return-value]


def only_for_type_checkers() -> lgs.CompiledStateGraph[Any, Any, Any, Any]:
    return build().compile()


def either() -> StateGraph | CompiledStateGraph:
    return build()


def needs_arguments(name: str) -> StateGraph:
    return build()


def lies() -> StateGraph:
    return {"not": "a graph"}  # type: ignore[return-value]


builder = build()
'''


@pytest.fixture
def script(tmp_path: Path) -> Path:
    """SCRIPT as a file in the temp dir."""
    path = tmp_path / "script.py"
    path.write_text(SCRIPT)
    return path


@pytest.mark.parametrize(
    "attribute",
    ["build_graph", "compiled", "pregel", "subclass", "only_for_type_checkers", "either", "builder"],
)
def test_factories_annotated_to_return_a_graph_are_called(script: Path, attribute: str) -> None:
    """A StateGraph / CompiledStateGraph / Pregel return annotation (generic, a subclass, a string, a
    union, a name imported only for type checkers) makes a factory; a graph is taken as it is."""
    loaded = load_graph(f"{script}:{attribute}")
    assert hasattr(loaded, "compile") or hasattr(loaded, "get_state")
    assert not (script.parent / "main-ran").exists()


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("main", "is a function without a graph return annotation, so it is not called"),
        ("setup", "is a function without a graph return annotation, so it is not called"),
        ("untyped_factory", "is a function without a graph return annotation, so it is not called"),
        ("any_factory", "is a function without a graph return annotation, so it is not called"),
        ("MyGraph", "is the class MyGraph, so it is not called"),
        ("MARKER", "is a PosixPath, so it is not called"),
        ("needs_arguments", r"'needs_arguments' in .* needs arguments \(name\); it is called with none"),
        ("lies", "script.py:lies' returned a dict, not a StateGraph builder or compiled graph"),
    ],
)
def test_anything_else_is_refused_without_being_called(script: Path, attribute: str, message: str) -> None:
    """Functions without a graph return annotation, classes and other values are never called."""
    with pytest.raises(GraphSpecError, match=message) as info:
        load_graph(f"{script}:{attribute}")
    assert not (script.parent / "main-ran").exists()
    if attribute != "lies":
        assert (
            "annotate a factory without arguments to return one: def build_graph() -> StateGraph"
            in info.value.hint
        )


def test_typo_hint_lists_only_graphs_and_graph_factories(script: Path) -> None:
    """A missing attribute lists what may be named: graphs and argument-free graph factories, not main()."""
    with pytest.raises(GraphSpecError) as info:
        load_graph(f"{script}:buildgraph")
    assert str(info.value).endswith(
        "Graphs and graph factories there: build_graph, builder, compiled, either, lies, "
        "only_for_type_checkers, pregel, subclass."
    )


@pytest.mark.slow
def test_cli_never_runs_a_scripts_main(db_url: str, tmp_path: Path, script: Path) -> None:
    """`approve --graph script.py:main` in a real process: exit 2 naming the fix; main() never ran, the
    database and its pending request are intact."""
    with Approvals.open(build(), db_url) as hitl:
        rid = hitl.start("t", action("delete_record", id=7)).pending[0].request_id
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGGRAPH_HITL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
    for spec in (f"{script}:main", f"{ROOT / 'examples' / 'quickstart.py'}:main"):
        proc = subprocess.run(
            [sys.executable, "-m", "langgraph_hitl.cli", "--db", db_url, "approve", rid, "--as", "alice",
             "--graph", spec],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        error, hint = proc.stderr.splitlines()
        assert error.startswith(
            f"Error: '{spec}' is a function without a graph return annotation, so it is not"
        )
        assert hint.startswith("Hint: Point at a builder or a compiled graph, or annotate a factory")
    assert not (tmp_path / "main-ran").exists() and (tmp_path / "hitl.db").exists()
    with open_store(db_url) as store:
        row = store.inbox.get(rid)
    assert row is not None and row.status == "pending"


def test_module_spec_follows_the_same_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`package.module:attr` specs obey it too."""
    (tmp_path / "mymod.py").write_text(
        textwrap.dedent("""
        def main():
            raise SystemExit("main() ran")
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(GraphSpecError, match="'mymod:main' is a function without a graph return annotation"):
        load_graph("mymod:main")
