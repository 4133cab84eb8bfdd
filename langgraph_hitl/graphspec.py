"""Load a graph named the way `langgraph.json` names graphs: `path/to/file.py:attr` or `package.module:attr`.

The CLI (`--graph`) and the web inbox (`create_app(graph=...)`) share this loader. The
attribute may be a `StateGraph` builder, a compiled graph, or a function without arguments
returning either; a dotted attribute is followed.

Example:
    ```python
    from langgraph_hitl.graphspec import load_graph

    builder = load_graph("examples/quickstart.py:build_graph")
    ```
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
from pathlib import Path
from typing import Any

from .errors import HITLError

__all__ = ["GraphSpecError", "load_graph"]

HINT = "Name a graph as path/to/file.py:attribute, the way langgraph.json does."
_NOT_A_GRAPH_HINT = "Point at a builder, a compiled graph or a function without arguments."


class GraphSpecError(HITLError, ValueError):
    """A graph spec is malformed, or names a file, module or attribute that is missing or not a graph."""

    def __init__(self, message: str, *, hint: str = HINT) -> None:
        super().__init__(message)
        self.hint = hint


def load_graph(spec: str) -> Any:
    """Import the graph named by `spec` and return a builder or compiled graph.

    Args:
        spec: `path/to/file.py:attribute` or `package.module:attribute`.

    Raises:
        GraphSpecError: The spec is malformed; the file, module or attribute is missing; or it is
            not a graph (the message lists the graphs the file does have).
    """
    source, sep, attribute = spec.rpartition(":")
    if not sep or not source or not attribute:
        msg = f"Graph {spec!r} does not name an attribute: it is not 'path/to/file.py:attr' or 'package.module:attr'."
        raise GraphSpecError(msg)
    module = _import_source(source, spec)
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            found = ", ".join(_candidates(module)) or "none"
            msg = f"{source!r} has no attribute {attribute!r} (graph {spec!r}). Graphs and graph factories there: {found}."
            raise GraphSpecError(msg)
        target = getattr(target, part)
    if not _is_graph(target) and callable(target) and not inspect.isclass(target):
        required = [
            p.name
            for p in inspect.signature(target).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        if required:
            msg = f"{attribute!r} in {source!r} needs arguments ({', '.join(required)}); it is called with none."
            raise GraphSpecError(msg, hint=_NOT_A_GRAPH_HINT)
        target = target()
    if not _is_graph(target):
        msg = f"{spec!r} is a {type(target).__name__}, not a StateGraph builder or compiled graph."
        raise GraphSpecError(msg, hint=_NOT_A_GRAPH_HINT)
    return target


def _candidates(module: Any) -> list[str]:
    """Names a spec could point at: graphs, and functions defined in the module without arguments."""
    names = []
    for name, value in sorted(vars(module).items()):
        if name.startswith("_"):
            continue
        if _is_graph(value):
            names.append(name)
        elif (
            inspect.isfunction(value)
            and value.__module__ == module.__name__
            and not any(
                p.default is p.empty and p.kind is not p.VAR_POSITIONAL and p.kind is not p.VAR_KEYWORD
                for p in inspect.signature(value).parameters.values()
            )
        ):
            names.append(name)
    return names


def _is_graph(obj: Any) -> bool:
    builder = hasattr(obj, "add_node") and hasattr(obj, "compile")
    compiled = hasattr(obj, "get_state") and hasattr(obj, "invoke")
    return not inspect.isclass(obj) and (builder or compiled)


def _import_source(source: str, spec: str) -> Any:
    if not (source.endswith(".py") or "/" in source or os.sep in source):
        try:
            return importlib.import_module(source)
        except ModuleNotFoundError as exc:
            if exc.name and source.startswith(exc.name):
                msg = f"No module {source!r} (graph {spec!r})."
                raise GraphSpecError(msg) from None
            raise
    path = Path(source).expanduser().resolve()
    if not path.is_file():
        msg = f"Graph file {source!r} not found: it does not exist (looked at {str(path)!r}, graph {spec!r})."
        raise GraphSpecError(msg)
    name = "_langgraph_hitl_graph_" + re.sub(r"\W", "_", str(path))
    if name in sys.modules:
        return sys.modules[name]
    loaded = importlib.util.spec_from_file_location(name, path)
    if loaded is None or loaded.loader is None:
        msg = f"Cannot import {source!r} as Python (graph {spec!r})."
        raise GraphSpecError(msg)
    # Like running the file as a script: its folder is importable, so sibling modules resolve.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    module = importlib.util.module_from_spec(loaded)
    sys.modules[name] = module
    try:
        loaded.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
