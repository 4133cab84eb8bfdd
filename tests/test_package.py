"""The package surface: curated exports, a light import, a typed package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import langgraph_hitl

HEAVY = ("fastapi", "typer", "psycopg", "langchain_openai", "playwright", "uvicorn", "httpx")


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
