"""`ServerInbox`: list and decide the approvals of graphs deployed on LangGraph Server.

A graph built with `add_approval_flow` needs nothing from `Approvals` to run on LangGraph
Server: its review nodes pause with a `ReviewRequest` and the server keeps the paused
thread. `ServerInbox` is the reviewer's side, through `langgraph_sdk`: it finds paused threads
with `threads.search(status="interrupted")`, turns their interrupts into the same
`PendingRequest` objects `Approvals.pending()` returns, validates a decision against the
request with `validate_decision` BEFORE anything is resumed, and resumes with a command keyed
by interrupt id (never `{}` or `None`, which LangGraph would accept and ignore).

What it guarantees, with nothing but the server behind it:
- An invalid decision (type not allowed, approver not listed, excluded or the requester,
  wrong confirmation phrase) never reaches the server (G1); the request stays pending.
- One decision wins per request on one server (G2, as far as the server allows): each resume
  is a run with `multitask_strategy="reject"`, so a second run on a thread that already has
  one pending or running is refused (HTTP 409, raised here as `ConflictError`); a resume that
  comes after the winner's run is keyed by an interrupt id the thread no longer waits on, so
  LangGraph ignores it, and `decide` reads the thread's `decisions` afterwards and raises
  `ConflictError` naming the winner (the same person sending the same decision twice is told
  it succeeded both times; it was applied once). Across several servers this holds only if they share
  the server's own database (LangGraph Platform's run queue), not merely a checkpointer.

What it cannot do without langgraph-hitl's own tables (use `Approvals` for those):
- No compare-and-set of our own: the server's per-thread run lock is the only arbiter, and
  a refused decision is not written to an audit log (the graph's `AuditNode` records only
  what the graph itself saw, and only if it was given a store).
- No deadlines: nothing expires overdue requests (`expire_overdue` needs the inbox index).
- No crash recovery of a half-delivered decision (`recover` needs the inbox index): a
  server that dies mid-run is LangGraph Server's to retry.
- Listing scans the server's interrupted threads (newest first); `get` finds only requests
  that are still pending, and names who decided one only if its thread is among the 200
  most recently updated (`NotPendingError` otherwise).

Needs the `server` extra: `pip install "langgraph-hitl[server]"` (langgraph_sdk is imported
only when a `ServerInbox` is built).

Example:
    ```python
    from langgraph_hitl.server import ServerInbox

    inbox = ServerInbox("http://127.0.0.1:2024", graph_id="approvals")
    page = inbox.pending(approver="alice")          # the runner's Page of PendingRequest
    request = page.items[0]
    print(request.request_id, request.action["name"], request.risk)
    run = inbox.decide(request.request_id, {"type": "approve"}, approver="alice")
    print(run.status, run.values["status"])         # done executed
    ```
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from ..decisions import decider, validate_decision
from ..errors import ConflictError, NotPendingError, ThreadStateError
from ..identity import canonical, same_person
from .models import Page, PendingRequest, RunResult
from .server_requests import flat_interrupts, is_review_request, may_decide, pending_request, server_time

__all__ = ["ServerInbox"]

_BATCH = 100
_RECENT = 200
"""How many recently updated threads `decide` searches to name who decided a request that no longer waits."""
_RISKS = ("low", "medium", "high", "critical")


class ServerInbox:
    """The pending approvals of a LangGraph Server deployment, with `Approvals`' reading and deciding API.

    Args:
        url: The server's base URL, e.g. `http://127.0.0.1:2024`.
        graph_id: Only threads run by this graph (the key in `langgraph.json`'s `graphs`);
            None lists every graph's requests.
        api_key: Sent as `x-api-key` (LangGraph Platform, or your custom auth's inbox token);
            None sends none, and `langgraph_sdk` does not read one from the environment.
        headers: Sent with every request (e.g. `{"Authorization": "Bearer ..."}`).
        approver_header: The header that names, with each decision, the person this inbox
            authenticated; the deployment's custom auth turns it into the run's
            `langgraph_auth_user_id` for the inbox's credential only (see
            `examples/server/auth.py`). None sends none (each person then calls with their own token).
        timeout: Seconds to wait for the server per request (a decision waits for its run).

    Raises:
        ImportError: langgraph_sdk is not installed.
    """

    def __init__(
        self,
        url: str,
        *,
        graph_id: str | None = None,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        approver_header: str | None = "x-hitl-approver",
        timeout: float = 60.0,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            msg = f"ServerInbox url={url!r}: give the server's base URL, e.g. http://127.0.0.1:2024."
            raise ValueError(msg)
        try:
            from langgraph_sdk import get_sync_client
        except ImportError as exc:
            msg = f'ServerInbox needs langgraph_sdk: pip install "langgraph-hitl[server]" ({exc}).'
            raise ImportError(msg) from exc
        self.url = url
        self.graph_id = graph_id
        self.approver_header = approver_header
        self.client = get_sync_client(url=url, api_key=api_key, headers=headers, timeout=timeout)

    # -- reading --------------------------------------------------------------------------------------

    def _threads(self) -> Iterator[dict[str, Any]]:
        """Threads that may hold a question, most recently updated first.

        `interrupted` ones, and those in `error`: a client's malformed resume fails the run (the
        response schema refuses it) and the server marks the thread `error`, while its question is
        still pending in the checkpoint. `_requests` keeps only threads with a live interrupt.
        """
        import heapq

        streams = [self._threads_with("interrupted"), self._threads_with("error")]
        yield from heapq.merge(*streams, key=lambda t: str(t.get("updated_at") or ""), reverse=True)

    def _threads_with(self, status: Literal["interrupted", "error"]) -> Iterator[dict[str, Any]]:
        metadata = {"graph_id": self.graph_id} if self.graph_id else None
        offset = 0
        while True:
            batch = self.client.threads.search(
                status=status,
                metadata=metadata,
                limit=_BATCH,
                offset=offset,
                sort_by="updated_at",
                sort_order="desc",
            )
            yield from (dict(thread) for thread in batch)
            if len(batch) < _BATCH:
                return
            offset += len(batch)

    def _requests(self) -> Iterator[tuple[PendingRequest, str, str]]:
        """Every pending request as `(request, interrupt_id, graph_id)`, newest first."""
        for thread in self._threads():
            paused_at = server_time(thread.get("updated_at"))
            graph_id = (thread.get("metadata") or {}).get("graph_id") or self.graph_id or ""
            raw = thread.get("interrupts")
            if not raw and thread.get("status") == "error":  # the failed run left no interrupts on the thread
                raw = self._state(thread["thread_id"]).get("interrupts")  # the checkpoint still has it
            for intr in flat_interrupts(raw):
                if is_review_request(intr.get("value")):
                    yield pending_request(thread["thread_id"], intr["value"], paused_at), intr["id"], graph_id

    def pending(
        self,
        *,
        approver: str | None = None,
        risk: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Pending requests on the server, newest first (the same `Page` as `Approvals.pending`).

        Args:
            approver: Only requests this person may decide (listed or open to anyone, and
                neither requested nor already approved by them).
            risk: Only this risk level (`low`, `medium`, `high`, `critical`).
            limit: Page size (1-500).
            cursor: The previous page's `next_cursor`.

        Raises:
            ValueError: A bad `risk`, `limit` or `cursor`.
        """
        if risk is not None and risk not in _RISKS:
            msg = f"risk={risk!r}. Allowed: {', '.join(_RISKS)}."
            raise ValueError(msg)
        if not 1 <= limit <= 500:
            msg = f"limit={limit!r}; use 1-500."
            raise ValueError(msg)
        skip = 0
        if cursor is not None:
            if not cursor.startswith("srv:") or not cursor[4:].isdigit():
                msg = f"Cursor {cursor!r} is not one this inbox issued; pass the next_cursor of the previous page."
                raise ValueError(msg)
            skip = int(cursor[4:])
        who = canonical(approver, field="approver") if approver is not None else None
        items: list[PendingRequest] = []
        seen = 0
        for request, _, _ in self._requests():
            if (risk and request.risk != risk) or (who and not may_decide(request, who)):
                continue
            seen += 1
            if seen <= skip:
                continue
            if len(items) == limit:
                return Page(items, f"srv:{skip + limit}")
            items.append(request)
        return Page(items, None)

    def _find(self, request_id: str) -> tuple[PendingRequest, str, str]:
        if not isinstance(request_id, str) or not request_id:
            msg = f"request_id {request_id!r} must be the request's id text; list them with pending()."
            raise NotPendingError(msg)
        matches = []
        for found in self._requests():
            rid = found[0].request_id
            if rid == request_id:
                return found
            if len(request_id) >= 6 and rid.startswith(request_id):
                matches.append(found)
        if len(matches) == 1:
            return matches[0]
        for thread in self.client.threads.search(
            limit=_RECENT,
            sort_by="updated_at",
            sort_order="desc",
            metadata={"graph_id": self.graph_id} if self.graph_id else None,
        ):
            winner = self._winner(dict(thread.get("values") or {}), request_id)
            if winner is not None:
                msg = (
                    f"Request {request_id} was already decided by {winner.get('approver')!r} "
                    f"({winner.get('type')}); one decision wins."
                )
                raise ConflictError(msg)
        msg = f"No pending request {request_id!r} on {self.url}. List waiting requests with pending()."
        raise NotPendingError(msg)

    def get(self, request_id: str) -> PendingRequest:
        """A pending request by id (or unique prefix of at least 6 characters).

        Raises:
            NotPendingError: No paused thread on the server waits on it.
        """
        return self._find(request_id)[0]

    # -- deciding -------------------------------------------------------------------------------------

    def _winner(self, values: dict[str, Any], request_id: str) -> dict[str, Any] | None:
        for record in values.get("decisions") or []:
            if record.get("request_id") == request_id and record.get("type") != "invalid":
                return dict(record)
        return None

    def _state(self, thread_id: str) -> dict[str, Any]:
        return dict(self.client.threads.get_state(thread_id))

    def decide(self, request_id: str, decision: Any, *, approver: str) -> RunResult:
        """Validate `decision` for `request_id`, then resume the paused thread on the server with it.

        Args:
            request_id: The request's id (or a unique prefix of at least 6 characters).
            decision: `{"type": "approve" | "edit" | "reject" | "respond" | "revise", ...}` or
                langchain's `{"decisions": [...]}`.
            approver: Who decides; authenticated by the caller.

        Returns:
            The thread after the resume: done, or paused at its next question.

        Raises:
            NotPendingError: No paused thread waits on the request (unknown, or moved on).
            ConflictError: Another decision was accepted first, or is being applied right now.
            DecisionError: Malformed, type not allowed, wrong confirmation phrase.
            AuthorizationError: Approver not allowed, excluded, or the requester.
            ThreadStateError: The resumed run failed on the server.
        """
        approver = decider(approver)
        request, interrupt_id, graph_id = self._find(request_id)
        rid, thread_id = request.request_id, request.thread_id
        valid = validate_decision(decision, request.payload, approver=approver)
        # One decision, or langchain's batch for a request with several actions (as the runner resumes).
        answer = dict(valid[0]) if len(valid) == 1 else {"decisions": [dict(d) for d in valid]}
        state = self._state(thread_id)
        if interrupt_id not in {i.get("id") for i in flat_interrupts(state.get("interrupts"))}:
            self._raise_moved_on(rid, thread_id, state)
        self._resume(rid, thread_id, graph_id, {interrupt_id: answer}, approver=approver)
        state = self._state(thread_id)
        winner = self._winner(dict(state.get("values") or {}), rid)
        if winner is None:
            msg = f"Request {rid}: the run resuming thread {thread_id!r} ended without applying the decision."
            raise ThreadStateError(msg)
        if not same_person(winner.get("approver"), approver) or winner.get("type") != valid[0]["type"]:
            msg = (
                f"Request {rid} was already decided by {winner.get('approver')!r} ({winner.get('type')}); "
                "one decision wins."
            )
            raise ConflictError(msg)
        return self._result(thread_id, state)

    def _resume(
        self, rid: str, thread_id: str, graph_id: str, resume: dict[str, Any], *, approver: str
    ) -> None:
        """Run `thread_id` on the server with `resume` (keyed by interrupt id); its failures as our errors."""
        import httpx

        try:
            # The server authenticates the inbox and takes the approver from this header (see
            # examples/server/auth.py); the graph reads it as `langgraph_auth_user_id`.
            headers = {self.approver_header: approver} if self.approver_header else None
            response = self.client.runs.wait(
                thread_id,
                graph_id,
                command={"resume": resume},
                multitask_strategy="reject",
                raise_error=False,
                headers=headers,
            )
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 409:
                msg = (
                    f"Request {rid}: thread {thread_id!r} is already being resumed (another decision is being "
                    "applied right now); one decision wins. Refresh and look again."
                )
                raise ConflictError(msg) from exc
            if exc.response.status_code == 404:
                msg = f"Request {rid}: thread {thread_id!r} or graph {graph_id!r} is gone from {self.url}."
                raise NotPendingError(msg) from exc
            raise
        if isinstance(response, dict) and isinstance(response.get("__error__"), dict):
            error = response["__error__"]
            msg = (
                f"Request {rid}: the run resuming thread {thread_id!r} failed on the server: "
                f"{error.get('error')}: {error.get('message')}"
            )
            raise ThreadStateError(msg)

    def _raise_moved_on(self, request_id: str, thread_id: str, state: dict[str, Any]) -> None:
        winner = self._winner(dict(state.get("values") or {}), request_id)
        if winner is not None:
            msg = (
                f"Request {request_id} was already decided by {winner.get('approver')!r} ({winner.get('type')}); "
                "one decision wins."
            )
            raise ConflictError(msg)
        msg = (
            f"Request {request_id} is stale: thread {thread_id!r} is no longer paused at it "
            "(it finished, was abandoned, or its state was changed)."
        )
        raise NotPendingError(msg)

    def _result(self, thread_id: str, state: dict[str, Any]) -> RunResult:
        paused_at = server_time(state.get("created_at"))
        pending = [
            pending_request(thread_id, i["value"], paused_at)
            for i in flat_interrupts(state.get("interrupts"))
            if is_review_request(i.get("value"))
        ]
        return RunResult(
            thread_id=thread_id,
            status="paused" if state.get("next") else "done",
            pending=pending,
            values=dict(state.get("values") or {}),
        )
