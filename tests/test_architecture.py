"""The codebase's shape, checked: the two runners offer the same methods with the same
signatures, the package's imports form no cycle and point downward only (DESIGN.md's
layers), and the pre-commit hooks run exactly what `make lint` runs."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from langgraph_hitl import Approvals, AsyncApprovals

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "langgraph_hitl"

ASYNC_NAMES = {"stream": "astream", "decide_stream": "adecide_stream"}
"""Where the async twin takes LangGraph's async name (`astream`), the sync name -> the async one."""
ASYNC_ONLY = {"apending": "an alias of `pending`, kept from 0.1"}


def _public(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


def test_sync_and_async_runners_have_the_same_methods() -> None:
    sync, aio = _public(Approvals), _public(AsyncApprovals)
    expected = {ASYNC_NAMES.get(n, n) for n in sync} | set(ASYNC_ONLY)
    assert aio == expected, {"only sync": sorted(expected - aio), "only async": sorted(aio - expected)}


@pytest.mark.parametrize("name", sorted(_public(Approvals)))
def test_sync_and_async_signatures_match(name: str) -> None:
    """Same parameters (names, kinds, defaults, annotations); only the return type may differ
    (an awaitable, an async iterator, the async runner itself)."""
    sync, aio = getattr(Approvals, name), getattr(AsyncApprovals, ASYNC_NAMES.get(name, name))
    if not callable(sync):
        assert not callable(aio), name
        return
    ps, pa = inspect.signature(sync).parameters, inspect.signature(aio).parameters
    assert [(p.name, p.kind, p.default, p.annotation) for p in ps.values()] == [
        (p.name, p.kind, p.default, p.annotation) for p in pa.values()
    ], name


# -- imports ---------------------------------------------------------------------------------------------

LAYERS: list[tuple[str, ...]] = [
    # 1. vocabulary and integrity primitives: no LangGraph, no I/O
    (
        "types",
        "protocols",
        "errors",
        "_canonical",
        "_keys",
        "identity",
        "receipts",
        "decisions",
        "answer_schema",
        "_events",
        "graphspec",
        "_sqlite",
        "_storable",
        "request_rules",
        "agent_inbox",
        "_name_checks",
        "_lookalikes",
        "telemetry",
    ),
    (  # 2. pure policy
        "policy",
        "shadow",
        "policy_engine",
        "rubber_stamp",
        "policy_bands",
        "policy_rules",
        "policy_files",
        "_policy_text",
        "_policy_schema",
        "policy_lint",
        "tool_annotations",
    ),
    ("nodes", "patterns", "functional"),  # 3. graph nodes, never opening a database
    ("store", "checkpoint"),  # 4. persistence
    ("approvals", "server"),  # 5. the runners
    ("cli", "web", "notify", "mcp_server"),  # 6. interfaces, optional extras
    ("testing",),  # 7. helpers for users' tests
]
"""DESIGN.md's layers: a module may import its own layer and those below, never one above.
The package root (`langgraph_hitl/__init__.py`, the public face) re-exports lazily from all."""


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, *, module_level_only: bool) -> set[str]:
    """The package modules `name` imports (outside `if TYPE_CHECKING:`), as dotted names."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
        if module_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            skip.update(id(n) for n in ast.walk(node) if n is not node)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(
                    package[: len(package) - node.level + 1] + ([node.module] if node.module else [])
                )
            else:
                base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


def _layer(name: str) -> int | None:
    parts = name.split(".")
    if len(parts) == 1:
        return None  # the package root
    for index, members in enumerate(LAYERS):
        if parts[1] in members:
            return index
    raise AssertionError(f"{name} is in no layer: add it to LAYERS (and DESIGN.md)")


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        _layer(name)


def upward(graph: dict[str, set[str]]) -> list[str]:
    """The edges of `graph` (module -> modules it imports) that point to a higher layer."""
    found = []
    for name in sorted(graph):
        mine = _layer(name)
        for target in sorted(graph[name]):
            theirs = _layer(target)
            if mine is not None and theirs is not None and theirs > mine:
                found.append(f"{name} (layer {mine + 1}) imports {target} (layer {theirs + 1})")
    return found


def test_imports_point_downward_only() -> None:
    assert upward({name: _imports(name, module_level_only=False) for name in MODULES}) == []


def test_no_import_cycles() -> None:
    """Module-level imports form no cycle (a lazy import inside a function is how a lower module
    would have to break one, and the layering test above forbids the upward ones)."""
    graph = {name: _imports(name, module_level_only=True) for name in MODULES}
    # A package's __init__ importing its own submodules is not a cycle back to it.
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1 and not node.startswith(nxt + "."):
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_checkers_see_what_they_look_for() -> None:
    """A lower module importing a higher one, lazily inside a function, is reported."""
    assert upward(
        {"langgraph_hitl.nodes.audit": {"langgraph_hitl.store.inbox", "langgraph_hitl.policy"}}
    ) == ["langgraph_hitl.nodes.audit (layer 3) imports langgraph_hitl.store.inbox (layer 4)"]
    assert "langgraph_hitl.nodes.review" in _imports("langgraph_hitl.nodes.execute", module_level_only=True)


# -- tooling ---------------------------------------------------------------------------------------------


def test_pre_commit_runs_what_make_lint_runs() -> None:
    """`.pre-commit-config.yaml` is valid and its hooks are the Makefile's lint commands."""
    config = ROOT / ".pre-commit-config.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(config)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entries = re.findall(r"entry: (.+)", config.read_text(encoding="utf-8"))
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8").replace("$(VENV)", ".venv")
    for entry in entries:
        assert entry.strip() in makefile, entry
    assert len(entries) == 3


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's length without its docstring (a long Args section is not a long function)."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1 if body and body[-1].end_lineno else 0


def test_modules_and_functions_stay_small() -> None:
    """No module over 400 lines; no function body over 60 (split by concept when one grows)."""
    big = {
        name: n for name, p in MODULES.items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    long = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _body_lines(node) > 60:
                long[f"{name}.{node.name}"] = _body_lines(node)
    assert (big, long) == ({}, {})
