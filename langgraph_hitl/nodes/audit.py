"""`AuditNode`: write the state's audit trail to the append-only audit log."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from .._events import in_subgraph, trusted_events
from ._common import as_store, event_time, resolve_store, runner_store, seal_key_of, thread_id_of
from ._view import view

__all__ = ["AuditNode"]


class AuditNode:
    """Append the events in `state["audit_trail"]` to the audit log.

    Only events that langgraph-hitl's nodes sealed for this thread become rows; anything else
    a node put in the list is dropped and a `refused` row says so (G11). Writes are idempotent by event id, so a re-run, a resume or the runner having written an
    event already never duplicates a row.

    Under `Approvals` with no `log` of its own, the node leaves the root graph's trail to the
    runner (which writes it with the run's index), and writes a subgraph's trail itself through
    the runner's store: a subgraph keeps its own state, which the runner cannot read once the
    subgraph has finished.

    Args:
        log: An `AuditLog` or a `Store` (from `open_store(url)`; a URL is refused); None uses
            the runner's store when `Approvals` drives the graph (and writes nothing otherwise).
        name: The node's name in the graph.

    Example:
        ```python
        store = open_store("sqlite:///hitl.db")  # closed by whoever opened it
        builder.add_node("audit", AuditNode(store))
        ```
    """

    def __init__(self, log: Any = None, *, name: str = "audit") -> None:
        self.log = as_store(log, where="log")
        self.name = name

    def __call__(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        state = view(state)  # type: ignore[assignment]  # TypedDict, pydantic or dataclass state
        conf = (config or {}).get("configurable") or {}
        if self.log is None and conf.get("hitl_runner_flushes"):
            if not in_subgraph(str(conf.get("checkpoint_ns") or "")):
                return {}  # the runner appends the trail in the transaction that indexes the run
            # A subgraph's trail stays in the subgraph's state, which the runner no longer sees once
            # the subgraph has finished: write it now, through the runner's store.
            store: Any = runner_store(config)
        else:
            store = resolve_store(self.log, config)
        log = getattr(store, "audit", store)
        events = state.get("audit_trail") or []
        if log is not None and events:  # G11: only events langgraph-hitl sealed become rows
            key, thread_id, ts = seal_key_of(config, self.log), thread_id_of(config), event_time(config)
            inbox = getattr(store, "inbox", None)

            def admit(fresh: list[Any]) -> list[dict[str, Any]]:
                kept = trusted_events(fresh, key=key, thread_id=thread_id, ts=ts)
                if inbox is not None and thread_id is not None:
                    # A plain Command(resume=...) answered a request the runner indexed: settle
                    # it with its decision, in the transaction that writes the decision's row.
                    inbox.settle_decided(thread_id, kept)
                return kept

            log.append(events, admit=admit)
        return {}
