"""Reading the graph: compiling it on the runner's saver, the questions and audit trails in a snapshot."""

from __future__ import annotations

from typing import Any, cast

from .._events import task_namespace
from ..checkpoint import redact
from ..errors import CheckpointerError
from ..types import ReviewRequest

__all__ = [
    "checkpoint_config",
    "checkpointed_trail",
    "compile_on",
    "interrupt_items",
    "live_interrupts",
    "trail_sources",
]


def compile_on(graph: Any, saver: Any, url: str) -> Any:
    """`graph` on `saver`: a builder is compiled with it; a compiled graph gets it, unless it has another."""
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph import StateGraph

    if isinstance(graph, StateGraph):
        return graph.compile(checkpointer=saver)
    if hasattr(graph, "copy") and hasattr(graph, "get_state"):
        own = getattr(graph, "checkpointer", None)
        if isinstance(own, BaseCheckpointSaver) and own is not saver:
            msg = (
                f"The graph was compiled with its own checkpointer ({type(own).__name__}), but the runner keeps "
                f"checkpoints in {redact(url)!r}, beside its inbox; replacing yours would silently leave your "
                "threads behind. Pass the StateGraph builder, or a graph compiled without a checkpointer "
                "(builder.compile()), and open() compiles it with the checkpointer for that URL."
            )
            raise CheckpointerError(msg)
        return graph.copy(update={"checkpointer": saver})
    msg = f"Approvals needs a StateGraph builder or a compiled graph, got {type(graph).__name__}."
    raise TypeError(msg)


def interrupt_items(state: Any) -> list[tuple[str, str, ReviewRequest]]:
    """The paused questions in a `StateSnapshot` that carry langgraph-hitl's payload."""
    items: list[tuple[str, str, ReviewRequest]] = []
    for intr in getattr(state, "interrupts", ()) or ():
        value = intr.value
        if isinstance(value, dict) and isinstance(value.get("hitl"), dict) and "action_requests" in value:
            items.append((str(intr.id), "", cast(ReviewRequest, value)))
    return items


def trail_sources(state: Any) -> list[list[Any] | str]:
    """Where the audit events of a `StateSnapshot` and of each subgraph paused in it are, parent first:
    an event list read from a snapshot, or the checkpoint namespace whose latest checkpoint holds them.

    A subgraph keeps its own state: an approval flow inside one (a node, parallel branches,
    `Send` fan-out, a graph called from a node, the functional API) writes its trail there,
    never into the parent's. A subgraph LangGraph finds in the graph comes with its own
    snapshot (the runner reads with `subgraphs=True`); one it cannot find (a graph called
    through a helper function) is in its latest checkpoint, in the paused task's namespace.
    (`AuditNode` writes a subgraph's trail itself when the subgraph finishes.)
    """
    values = getattr(state, "values", None)
    trail = values.get("audit_trail") if isinstance(values, dict) else None
    sources: list[list[Any] | str] = [list(trail) if isinstance(trail, list) else []]
    config = getattr(state, "config", None) or {}
    parent_ns = str((config.get("configurable") or {}).get("checkpoint_ns") or "")
    for task in getattr(state, "tasks", ()) or ():
        sub = getattr(task, "state", None)
        if sub is not None and not isinstance(sub, dict):  # a snapshot; a plain config when not read
            sources.extend(trail_sources(sub))
        elif sub is None and task.interrupts:
            sources.append(task_namespace(parent_ns, task.name, task.id))
    return sources


def checkpoint_config(thread_id: str, checkpoint_ns: str) -> dict[str, Any]:
    """The config that reads the latest checkpoint of `checkpoint_ns` in `thread_id` from a saver."""
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}}


def checkpointed_trail(found: Any) -> list[Any]:
    """`audit_trail` in a saver's `CheckpointTuple` (None: no checkpoint there, so no events)."""
    values = found.checkpoint.get("channel_values") if found is not None else None
    trail = values.get("audit_trail") if isinstance(values, dict) else None
    return list(trail) if isinstance(trail, list) else []


def live_interrupts(state: Any) -> set[str]:
    """The ids of the questions a snapshot is paused at."""
    return {iid for iid, _, _ in interrupt_items(state)}
