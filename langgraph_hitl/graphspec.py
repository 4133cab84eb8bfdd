"""Load a graph named the way `langgraph.json` names graphs: `path/to/file.py:attr` or `package.module:attr`.

The CLI (`--graph`) and the web inbox (`create_app(graph=...)`) share this loader. The
attribute may be a `StateGraph` builder, a compiled graph, or a function without arguments
that is annotated to return one (`-> StateGraph`, `-> CompiledStateGraph`, `-> Pregel`, a
subclass, or the same names as strings); a dotted attribute is followed. Nothing else is
called: a spec pointing at a script's `main()` by mistake is refused, not run.

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
import types
import typing
from pathlib import Path
from typing import Any

from .errors import HITLError

__all__ = ["GraphSpecError", "load_graph"]

HINT = "Name a graph as path/to/file.py:attribute, the way langgraph.json does."
_FACTORY_HINT = (
    "Point at a builder or a compiled graph, or annotate a factory without arguments to return one: "
    "def build_graph() -> StateGraph: ..."
)
_GRAPH_TYPE_NAMES = frozenset({"StateGraph", "CompiledStateGraph", "CompiledGraph", "Pregel"})
"""Return annotations that name a graph when a string annotation cannot be evaluated."""


class GraphSpecError(HITLError, ValueError):
    """A graph spec is malformed, or names a file, module or attribute that is missing or not a graph."""

    def __init__(self, message: str, *, hint: str = HINT) -> None:
        super().__init__(message)
        self.hint = hint


def load_graph(spec: str) -> Any:
    """Import the graph named by `spec` and return a builder or compiled graph.

    A function is called only when it takes no arguments and is annotated to return a graph.

    Args:
        spec: `path/to/file.py:attribute` or `package.module:attribute`.

    Raises:
        GraphSpecError: The spec is malformed; the file, module or attribute is missing; it is
            not a graph nor a factory annotated to return one (the message lists the graphs and
            graph factories the file does have); or the factory returned something else.
    """
    source, sep, attribute = spec.rpartition(":")
    if not sep or not source or not attribute:
        msg = f"Graph {spec!r} does not name an attribute: it is not 'path/to/file.py:attr' or 'package.module:attr'."
        raise GraphSpecError(msg)
    module = _import_source(source, spec)
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            msg = f"{source!r} has no attribute {attribute!r} (graph {spec!r}). {_found(module)}"
            raise GraphSpecError(msg)
        target = getattr(target, part)
    if is_graph(target):
        return target
    if not (inspect.isfunction(target) or inspect.ismethod(target)) or not returns_graph(target):
        msg = (
            f"{spec!r} is {_kind(target)}, so it is not called: only a StateGraph builder, a compiled graph "
            f"or a function annotated to return one (-> StateGraph, CompiledStateGraph, Pregel) is. "
            f"{_found(module)}"
        )
        raise GraphSpecError(msg, hint=_FACTORY_HINT)
    required = _required_parameters(target)
    if required:
        msg = f"{attribute!r} in {source!r} needs arguments ({', '.join(required)}); it is called with none."
        raise GraphSpecError(msg, hint=_FACTORY_HINT)
    built = target()
    if not is_graph(built):
        msg = f"{spec!r} returned a {type(built).__name__}, not a StateGraph builder or compiled graph."
        raise GraphSpecError(msg, hint=_FACTORY_HINT)
    return built


def is_graph(obj: Any) -> bool:
    """Whether `obj` is a `StateGraph` builder or a compiled graph (a `Pregel`)."""
    from langgraph.graph import StateGraph
    from langgraph.pregel import Pregel

    return isinstance(obj, StateGraph | Pregel)


def returns_graph(fn: Any) -> bool:
    """Whether `fn`'s return annotation is a graph type (or a union of them), evaluated or as text."""
    raw = getattr(fn, "__annotations__", {}).get("return", inspect.Signature.empty)
    if raw is inspect.Signature.empty:
        return False
    try:
        hint = typing.get_type_hints(fn).get("return")
    except Exception:  # an annotation naming something only imported for type checking
        return isinstance(raw, str) and _names_graph(raw)
    return _is_graph_type(hint)


def _is_graph_type(hint: Any) -> bool:
    from langgraph.graph import StateGraph
    from langgraph.pregel import Pregel

    origin = typing.get_origin(hint) or hint
    if origin in (typing.Union, types.UnionType):
        return all(_is_graph_type(arg) for arg in typing.get_args(hint))
    return isinstance(origin, type) and issubclass(origin, StateGraph | Pregel)


def _names_graph(text: str) -> bool:
    """`"StateGraph[Any, Any]"`, `"lg.CompiledStateGraph"`, `"StateGraph | Pregel"`: each alternative's
    last dotted name before any `[` is a graph type's."""
    parts = [p.split("[", 1)[0].strip().strip("'\"").rsplit(".", 1)[-1] for p in text.split("|")]
    return all(name in _GRAPH_TYPE_NAMES for name in parts)


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__name__}"
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        return "a function without a graph return annotation"
    return f"a {type(obj).__name__}"


def _required_parameters(fn: Any) -> list[str]:
    return [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _found(module: Any) -> str:
    found = ", ".join(_candidates(module)) or "none"
    return f"Graphs and graph factories there: {found}."


def _candidates(module: Any) -> list[str]:
    """Names a spec could point at: graphs, and functions defined in the module that take no
    arguments and are annotated to return a graph (only those are ever called)."""
    names = []
    for name, value in sorted(vars(module).items()):
        if name.startswith("_"):
            continue
        if is_graph(value) or (
            inspect.isfunction(value)
            and value.__module__ == module.__name__
            and not _required_parameters(value)
            and returns_graph(value)
        ):
            names.append(name)
    return names


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
