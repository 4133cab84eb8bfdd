"""The runners' reading calls (`pending`, `get`, `history`, `stats`, and the thread lookup of `resume`):
the inbox and audit tables only, never the checkpoints."""

from __future__ import annotations

from typing import Any

from ..errors import DecisionError, NotPendingError
from ..identity import canonical
from ..store import Store
from ..store.inbox import RequestRow
from ..types import RISKS
from .halting import mark_halted
from .models import Page, PendingRequest

__all__ = ["Reading"]


class Reading:
    """Reads for both runners; the twins expose them as `pending`, `get`, `history`, `stats`
    (awaited in the async one)."""

    store: Store

    def _row(self, request_id: str) -> RequestRow:
        if not isinstance(request_id, str) or not request_id:
            msg = f"request_id {request_id!r} must be the request's id text; list them with pending()."
            raise NotPendingError(msg)
        row = self.store.inbox.get(request_id)
        if row is None:
            matches = self.store.inbox.find(request_id) if len(request_id) >= 6 else []
            if len(matches) == 1:
                return matches[0]
            msg = f"No request {request_id!r} in the inbox. List waiting requests with pending()."
            raise NotPendingError(msg)
        return row

    def _read_pending(
        self,
        *,
        approver: str | None = None,
        risk: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        thread_id: str | None = None,
    ) -> Page:
        """`Approvals.pending` (documented there), for both runners."""
        if thread_id is not None:
            _check_thread_id(thread_id)
        if risk is not None and risk not in RISKS:
            msg = f"risk={risk!r}. Allowed: {', '.join(RISKS)}."
            raise ValueError(msg)
        who = canonical(approver, field="approver") if approver is not None else None
        rows, nxt = self.store.inbox.pending(
            approver=who, risk=risk, limit=limit, cursor=cursor, thread_id=thread_id
        )
        return Page(mark_halted(self.store, [PendingRequest.from_row(r) for r in rows], rows), nxt)

    def _thread_request(self, thread_id: str, interrupt_id: str | None) -> str:
        """The request id the thread waits on, for `resume()`: its one pending request, or the one
        `interrupt_id` names.

        Raises:
            NotPendingError: The thread is unknown, finished, or waits on nothing (or not on `interrupt_id`).
            DecisionError: It waits on several requests and `interrupt_id` names none of them.
        """
        _check_thread_id(thread_id)
        rows, _ = self.store.inbox.pending(limit=500, thread_id=thread_id)
        if interrupt_id is not None:
            rows = [r for r in rows if r.interrupt_id == interrupt_id]
            if not rows:
                msg = (
                    f"Thread {thread_id!r} has no pending request with interrupt id {interrupt_id!r}. "
                    f"List what it waits on with pending(thread_id={thread_id!r})."
                )
                raise NotPendingError(msg)
        if not rows:
            msg = (
                f"Thread {thread_id!r} waits on no request: it is unknown, finished, or running. "
                "Start it with start(), or list what waits with pending()."
            )
            raise NotPendingError(msg)
        if len(rows) > 1:
            listed = "; ".join(
                f"{r.request_id} (node {r.node!r}, interrupt {r.interrupt_id}, {r.action_name})" for r in rows
            )
            msg = (
                f"Thread {thread_id!r} waits on {len(rows)} requests: {listed}. "
                "Pick one with interrupt_id=..., or decide it by request id."
            )
            raise DecisionError(msg)
        return rows[0].request_id

    def _read_get(self, request_id: str) -> PendingRequest:
        """One request by id (or unique prefix of at least 6 characters), whatever its status.

        Raises:
            NotPendingError: No such request.
        """
        row = self._row(request_id)
        return mark_halted(self.store, [PendingRequest.from_row(row)], [row])[0]

    def _read_history(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's audit events, oldest first."""
        return self.store.audit.query(thread_id=thread_id)

    def _read_stats(self, **kwargs: Any) -> Any:
        """Approval metrics per gate, action and approver (see `store.metrics.compute_stats`)."""
        from ..store.metrics import compute_stats

        return compute_stats(self.store.backend, **{"clock": self.store.clock, **kwargs})


def _check_thread_id(thread_id: object) -> None:
    """A thread id the inbox can look up: non-empty text that is valid UTF-8 (else `ValueError` naming it)."""
    if not isinstance(thread_id, str) or not thread_id:
        msg = f"thread_id={thread_id!r}: give the thread's id, a non-empty string."
        raise ValueError(msg)
    try:
        thread_id.encode("utf-8")
    except UnicodeEncodeError:
        msg = (
            f"thread_id={ascii(thread_id)[:80]} is not valid UTF-8 (a lone surrogate): no thread can have it."
        )
        raise ValueError(msg) from None
