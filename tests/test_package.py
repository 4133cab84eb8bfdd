"""The package surface: curated exports, a light import, a typed package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import langgraph_hitl

HEAVY = (
    "fastapi",
    "typer",
    "psycopg",
    "langchain_openai",
    "playwright",
    "uvicorn",
    "httpx",
    "standardwebhooks",
    "cloudevents",
    "cedarpy",
    "mcp",
    "mcp_types",
)


def test_all_exports_resolve() -> None:
    """Every name in __all__ imports, and __all__ is sorted."""
    for name in langgraph_hitl.__all__:
        assert getattr(langgraph_hitl, name) is not None, name
    assert langgraph_hitl.__all__ == sorted(langgraph_hitl.__all__)
    assert set(langgraph_hitl.__all__) == {*langgraph_hitl._EXPORTS, "__version__"}


def test_unknown_attribute_is_attribute_error() -> None:
    """A misspelt name raises AttributeError naming it."""
    import pytest

    with pytest.raises(AttributeError, match="Approval"):
        langgraph_hitl.Approval  # noqa: B018


def test_import_does_not_pull_optional_extras() -> None:
    """`import langgraph_hitl` imports no optional extra, and not even LangGraph."""
    code = "import sys, langgraph_hitl; print(' '.join(m for m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    loaded = {m.split(".")[0] for m in out}
    assert not loaded & set(HEAVY)
    assert "langgraph" not in loaded


def test_runner_import_does_not_pull_optional_extras() -> None:
    """Using the runner and nodes still imports none of the optional extras (httpx comes with LangGraph itself)."""
    code = (
        "import sys, langgraph_hitl as h; h.Approvals; h.add_approval_flow; h.AsyncApprovals; "
        "print(' '.join(sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not {m.split(".")[0] for m in out} & (set(HEAVY) - {"httpx"})


def test_package_is_typed() -> None:
    """py.typed ships with the package."""
    assert (Path(langgraph_hitl.__file__).parent / "py.typed").exists()


def test_type_checkers_see_every_export() -> None:
    """The `if TYPE_CHECKING:` imports at the root name exactly `_EXPORTS`, each from its module,
    so editors and mypy see what `getattr` serves at run time."""
    import ast

    tree = ast.parse(Path(langgraph_hitl.__file__).read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))
    seen = {
        alias.name: (node.module or "")
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert seen == langgraph_hitl._EXPORTS


def test_every_error_class_is_reachable_from_the_root() -> None:
    """Each `HITLError` subclass a user can meet outside the web app can be caught by its root name."""
    import importlib
    import inspect
    import pkgutil

    found = set()
    for info in pkgutil.walk_packages(langgraph_hitl.__path__, "langgraph_hitl."):
        if info.name.startswith(("langgraph_hitl.web", "langgraph_hitl.cli")):
            continue  # the interfaces' own errors never leave them
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, langgraph_hitl.HITLError)
                and value.__module__ == info.name
            ):
                found.add(name)
    assert found <= set(langgraph_hitl.__all__), sorted(found - set(langgraph_hitl.__all__))
