"""The app's one runner: graph loading, and every call into `Approvals` behind one lock.

The web app holds a single `Approvals` for its lifetime. Request handlers run in a thread
pool, so calls into the runner are serialised here: the runner's SQLite connection and
LangGraph's checkpointer are shared, and an inbox sees a handful of decisions per minute,
not thousands. Other processes (agents, the CLI, other inbox servers) coordinate with this
one through the database as usual.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..approvals import Approvals, Page, PendingRequest, RunResult
from ..approvals.halting import mark_halted
from ..approvals.reversal import Reversal, ReversibleAction
from ..decisions import validate_decision
from ..errors import AuthorizationError, HITLError
from ..store.audit import VerifyResult
from ..store.halts import Halt
from .outcome import Records, call_ids, outcome

__all__ = ["InboxService", "ReadOnlyInboxError", "resolve_graph"]


class ReadOnlyInboxError(HITLError):
    """The inbox was started without a graph, so it can show requests but not decide them."""


def resolve_graph(graph: Any) -> Any:
    """Resolve a graph given as `"path/to/file.py:attr"` or `"package.module:attr"`; anything else is returned as is.

    Raises:
        GraphSpecError: (a `ValueError`) the spec is malformed, or names nothing that is a graph.
    """
    if not isinstance(graph, str):
        return graph
    from ..graphspec import load_graph as _load

    return _load(graph)


class InboxService:
    """Thread-safe access to one `Approvals` for the web app.

    Args:
        approvals: The runner; its store is used for the inbox, audit log and metrics.
        can_decide: False when the app was started without a graph.
    """

    def __init__(self, approvals: Approvals, *, can_decide: bool = True) -> None:
        self.approvals = approvals
        self.can_decide = can_decide
        self._lock = threading.RLock()

    @property
    def clock(self) -> Callable[[], float]:
        """The store's clock (Unix seconds)."""
        return self.approvals.store.clock

    def pending(
        self,
        *,
        approver: str | None,
        risk: str | None,
        limit: int,
        cursor: str | None,
        thread_id: str | None = None,
    ) -> Page:
        """A page of pending requests, newest first (only `thread_id`'s, when given: an index lookup)."""
        with self._lock:
            return self.approvals.pending(
                approver=approver, risk=risk, limit=limit, cursor=cursor, thread_id=thread_id
            )

    def peek(self, request_id: str) -> PendingRequest:
        """One request, read without waiting for a decision in progress (`NotPendingError` if unknown).

        A store read only (its connection serialises itself): for answers due within seconds,
        like a Slack acknowledgement or a modal whose trigger expires.
        """
        return self.approvals.get(request_id)

    def thread(self, thread_id: str) -> list[PendingRequest]:
        """Every request of the thread, pending and decided, oldest first (an index lookup)."""
        with self._lock:
            rows = self.approvals.store.inbox.by_thread(thread_id)
            return mark_halted(self.approvals.store, [PendingRequest.from_row(r) for r in rows], rows)

    def get(self, request_id: str) -> PendingRequest:
        """One request, whatever its status (`NotPendingError` if unknown)."""
        with self._lock:
            return self.approvals.get(request_id)

    def history(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's audit events, oldest first."""
        with self._lock:
            return list(self.approvals.store.audit.query(thread_id=thread_id))

    def _need_graph(self, doing: str = "resume runs") -> None:
        if not self.can_decide:
            msg = (
                f"This inbox was started without a graph, so it cannot {doing}. "
                "Start it with create_app(graph='path/to/file.py:builder') to do it here."
            )
            raise ReadOnlyInboxError(msg)

    def decide(self, request_id: str, decision: Any, *, approver: str) -> RunResult:
        """Decide through `Approvals.decide` (it validates and authorises; see its errors)."""
        self._need_graph()
        with self._lock:
            return self.approvals.decide(request_id, decision, approver=approver)

    def halts(self, *, lifted: bool = False) -> list[Halt]:
        """`Approvals.halts`: the active halts, oldest first (with `lifted`, all, newest first)."""
        with self._lock:
            return self.approvals.halts(lifted=lifted)

    def halt(self, scope: str, *, reason: str, actor: str) -> Halt:
        """`Approvals.halt` as `actor` (the signed-in operator; the caller checks who may)."""
        with self._lock:
            return self.approvals.halt(scope, reason=reason, actor=actor)

    def unhalt(self, scope: str, *, reason: str, actor: str) -> Halt:
        """`Approvals.unhalt` as `actor` (the signed-in operator; the caller checks who may)."""
        with self._lock:
            return self.approvals.unhalt(scope, reason=reason, actor=actor)

    def resume_halted(self) -> list[str]:
        """`Approvals.resume_halted`: continue the runs a lifted halt stopped (needs the graph)."""
        self._need_graph("continue stopped runs")
        with self._lock:
            return self.approvals.resume_halted()

    def reversible(self) -> list[ReversibleAction]:
        """`Approvals.reversible`: executed actions inside their review window (none without a graph)."""
        if not self.can_decide:
            return []
        with self._lock:
            return self.approvals.reversible()

    def reverse(self, target: str, *, approver: str, reason: str) -> Reversal:
        """`Approvals.reverse` as `approver` (it checks the policy's `reverse:NAME` requirement)."""
        self._need_graph("run compensations")
        with self._lock:
            return self.approvals.reverse(target, approver=approver, reason=reason)

    def outcome(self, req: PendingRequest) -> dict[str, Any]:
        """What became of `req`, in plain words, with each call's result (see `outcome.outcome`)."""
        with self._lock:
            return outcome(req, self._records(req))

    def _records(self, req: PendingRequest) -> Records:
        store = self.approvals.store
        rows = store.inbox.by_thread(req.thread_id)
        seqs = [i for i, row in enumerate(rows) if row.request_id == req.request_id]
        later = rows[seqs[0] + 1 :] if seqs else []
        events = list(store.audit.query(thread_id=req.thread_id))
        ran = {str(e["action_id"]) for e in events if e.get("event") in ("executed", "failed")}
        return Records(
            events=events,
            later=[PendingRequest.from_row(r) for r in later if r.status == "pending"],
            ledger={a: entry for a in ran if (entry := store.ledger.get(a)) is not None},
            tool_results=self._tool_results(req) if any(call_ids(req)) else {},
        )

    def _tool_results(self, req: PendingRequest) -> dict[str, tuple[str, str]]:
        """The thread's `ToolMessage`s by tool-call id (needs the graph: empty in a read-only inbox)."""
        if self.approvals.graph is None:
            return {}
        state = self.approvals.graph.get_state({"configurable": {"thread_id": req.thread_id}})
        results: dict[str, tuple[str, str]] = {}
        for message in (state.values or {}).get("messages") or []:
            call = getattr(message, "tool_call_id", None)
            if isinstance(call, str):
                content = message.content
                text = content if isinstance(content, str) else str(content)
                results[call] = (str(getattr(message, "status", "success")), text)
        return results

    def audit(self, **filters: Any) -> list[dict[str, Any]]:
        """Audit rows, newest first (`AuditLog.query` filters)."""
        with self._lock:
            return list(self.approvals.store.audit.query(descending=True, **filters))

    def verify(self) -> VerifyResult:
        """Recompute the audit hash chain."""
        with self._lock:
            return self.approvals.store.audit.verify()

    def stats(self, *, since: str | None = None) -> dict[str, Any]:
        """Approval metrics (`store.metrics.compute_stats`)."""
        with self._lock:
            stats = self.approvals.stats(since=since) if since else self.approvals.stats()
        return dict(stats)

    def refusal(self, request: PendingRequest, approver: str) -> str | None:
        """Why `approver` may not decide `request` (not listed, excluded, requester), or None.

        A preview for the page only; `decide` enforces the same rules on the server.
        """
        payload = request.payload
        rules = list(payload["hitl"].get("calls") or [])
        probes = []
        for i, config in enumerate(payload["review_configs"]):
            probe: dict[str, Any] = {"type": (config["allowed_decisions"] or ["reject"])[0], "message": "-"}
            rule = rules[i] if i < len(rules) else payload["hitl"]
            if rule.get("verify_phrase"):
                probe["verify"] = rule["verify_phrase"]
            probes.append(probe)
        batch = {"decisions": probes}
        try:
            validate_decision(batch, request.payload, approver=approver)
        except AuthorizationError as exc:
            return str(exc)
        except HITLError:
            return None
        return None
