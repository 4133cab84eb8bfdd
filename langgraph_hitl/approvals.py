"""`Approvals`: drive paused runs safely through a durable inbox.

LangGraph can pause a run, but it cannot list paused runs, knows nothing of who answers,
has no deadlines, lets a bad answer wedge a thread and lets two concurrent answers both
run. `Approvals` closes those gaps (guarantees G1, G2, G3, G6, G8).

Example:
    ```python
    with Approvals.open(builder, "sqlite:///hitl.db") as hitl:
        run = hitl.start("ticket-42", {"action": {"name": "delete_record", "args": {"id": 7}}})
        request = hitl.pending().items[0]
        hitl.decide(request.request_id, {"type": "approve"}, approver="alice")
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.types import Command

from ._runner import (
    DURABILITY,
    Page,
    PendingRequest,
    RecoveryReport,
    RunResult,
    _Core,
    interrupt_items,
    leased,
    log,
)
from .checkpoint import open_checkpointer
from .errors import ConflictError, NotPendingError
from .store import Store, open_store
from .store.inbox import RequestRow
from .store.lease import DEFAULT_TTL
from .types import SYSTEM_TIMEOUT

__all__ = ["Approvals", "Page", "PendingRequest", "RecoveryReport", "RunResult"]


def _compile(graph: Any, saver: Any) -> Any:
    from langgraph.graph import StateGraph

    if isinstance(graph, StateGraph):
        return graph.compile(checkpointer=saver)
    if hasattr(graph, "copy") and hasattr(graph, "get_state"):
        return graph.copy(update={"checkpointer": saver})
    msg = f"Approvals needs a StateGraph builder or a compiled graph, got {type(graph).__name__}."
    raise TypeError(msg)


class Approvals(_Core):
    """The runner: start runs, list and decide requests, expire, recover.

    Build it with `Approvals.open(builder, url)`, which opens the checkpointer and the store
    on the same database and closes both on exit.
    """

    @classmethod
    @contextmanager
    def open(
        cls,
        graph: Any,
        url: str = "sqlite:///hitl.db",
        *,
        clock: Callable[[], float] | None = None,
        notifier: Any = None,
        hmac_key: bytes | None = None,
        name: str = "",
        lease_s: float = DEFAULT_TTL,
    ) -> Iterator[Approvals]:
        """Open checkpoints and inbox at `url` and yield a runner for `graph`.

        Args:
            graph: A `StateGraph` builder (compiled here with the checkpointer) or a compiled graph.
            url: `sqlite:///path.db` (default) or `postgresql://...`.
            clock: Returns epoch seconds; pass `testing.FakeClock()` to control deadlines.
            notifier: Receives `on_pending`, `on_decision`, `on_timeout` (e.g. `notify.WebhookNotifier`).
            hmac_key: Keys the audit chain's hashes.
            name: The graph's name, recorded with its requests.

        Raises:
            CheckpointerError: The URL is unsupported or the database cannot be opened.
        """
        with open_checkpointer(url) as saver:
            store = open_store(url, clock=clock, hmac_key=hmac_key)
            try:
                yield cls(_compile(graph, saver), store, notifier=notifier, name=name, lease_s=lease_s)
            finally:
                store.close()

    def __init__(
        self, graph: Any, store: Store, *, notifier: Any = None, name: str = "", lease_s: float = DEFAULT_TTL
    ) -> None:
        super().__init__(graph, store, notifier=notifier, name=name, lease_s=lease_s)

    def _state(self, thread_id: str) -> Any:
        return self.graph.get_state(self._config(thread_id))

    @leased
    def start(self, thread_id: str, input: Any, *, abandon: bool = False) -> RunResult:
        """Run the graph on `thread_id` with `input` until it pauses or ends, and index its questions.

        Args:
            thread_id: The thread; a finished thread takes new input, a paused one does not.
            input: The graph's input.
            abandon: Allow new input to a paused thread; its pending requests are cancelled.
                `start(thread_id, None)` continues a thread stopped at a static breakpoint.

        Raises:
            ThreadStateError: The thread is paused and `abandon` is False, or its input cannot be saved.
            ConflictError: Another run of the thread is in progress (a start, a decision, a recovery).
        """
        self._check_start(thread_id, input)
        if not self.store.inbox.claim_start(thread_id, graph=self.name):  # one run of a thread at a time
            self._raise_busy(thread_id)
        try:
            self._prepare_start(thread_id, self._state(thread_id), abandon=abandon, input=input)
        except BaseException:
            self.store.inbox.mark_thread(thread_id, "idle", graph=self.name)
            raise
        try:
            self.graph.invoke(input, self._config(thread_id), durability=DURABILITY)
        except Exception as exc:
            # Whatever the run left (a question asked before the failure, or nothing) is indexed
            # and the thread marked idle: never left in flight for a run that is over.
            self._index_state(thread_id, self._state(thread_id))
            self._raise_start_failure(thread_id, exc)
        state = self._state(thread_id)
        return self._result(thread_id, state, self._index_state(thread_id, state))

    @leased
    def decide(self, request_id: str, decision: Any, *, approver: str) -> RunResult:
        """Validate `decision` for `request_id` and resume the paused run with it.

        Args:
            request_id: The request's id (or a unique prefix of at least 6 characters).
            decision: `{"type": "approve" | "edit" | "reject" | "respond" | "revise", ...}` or
                langchain's `{"decisions": [...]}`.
            approver: Who decides; authenticated by the caller.

        Returns:
            The thread's state after the resume: done, or paused at the next question.

        Raises:
            NotPendingError: Unknown, expired, cancelled or stale request.
            ConflictError: Another decision was accepted first.
            DecisionError: Malformed, type not allowed, wrong confirmation phrase.
            AuthorizationError: Approver not allowed, excluded, or the requester.
        """
        row = self._row(request_id)
        valid, approver = self._validate(row, decision, approver)
        self._check_live(row, self._state(row.thread_id))
        claimed = self._claim(row, valid, approver)
        result = self._resume(claimed, self._answer(row, valid))
        self._notify("on_decision", row.request_id, self._answer(row, valid), thread_id=row.thread_id)
        return result

    def _resume(self, claimed: RequestRow, decision: dict[str, Any], *, expired: bool = False) -> RunResult:
        request_id, thread_id, interrupt_id = claimed.request_id, claimed.thread_id, claimed.interrupt_id
        config = self._config(thread_id, decider=claimed.decided_by, decided_at=claimed.decided_at)
        try:
            self.graph.invoke(Command(resume={interrupt_id: decision}), config, durability=DURABILITY)
        except BaseException as exc:
            state = self._state(thread_id)
            if interrupt_id in {iid for iid, _, _ in interrupt_items(state)}:
                self._release(claimed, exc)  # the graph never took the answer
            else:
                self._index_state(thread_id, state, resumed=request_id, expired=expired)
            raise
        state = self._state(thread_id)
        return self._result(
            thread_id, state, self._index_state(thread_id, state, resumed=request_id, expired=expired)
        )

    @leased
    def refresh(self, thread_id: str) -> list[PendingRequest]:
        """Ask the thread's current questions again and index them (after you changed its state yourself).

        After `update_state` LangGraph shows no interrupt until the paused node runs again; this
        runs it, so the question is asked (and indexed) again with a fresh interrupt id.
        """
        self._continue(thread_id, RecoveryReport())
        return self._index_state(thread_id, self._state(thread_id))

    @leased
    def expire_overdue(self, now: float | None = None) -> list[str]:
        """Resolve every request past its deadline with its `on_timeout` (G6).

        `reject` (default) fails closed; `approve` applies to soft gates only; `escalate` asks
        the next reviewer tier with a new deadline. The graph sees a decision from
        `system:timeout`, never a human rejection. Safe to run from several processes.

        Returns:
            The request ids resolved.
        """
        moment = self.clock() if now is None else now
        done: list[str] = []
        while True:
            rows = [r for r in self.store.inbox.overdue(moment, limit=100) if r.request_id not in done]
            if not rows:
                return done
            for row in rows:
                decision = self._timeout_decision(row)
                try:
                    self._check_live(row, self._state(row.thread_id))
                except ConflictError:
                    done.append(row.request_id)  # decided meanwhile by another process; not ours to expire
                    continue
                except NotPendingError:
                    # Stale: the thread's action changed. Ask about what it is now.
                    done.append(row.request_id)
                    self._reask(row.thread_id)
                    continue
                try:
                    claimed = self._claim(row, decision, SYSTEM_TIMEOUT)
                except (ConflictError, NotPendingError):
                    done.append(row.request_id)  # decided or cancelled meanwhile; not ours to expire
                    continue
                self._resume(claimed, self._answer(row, decision), expired=True)
                self._notify(
                    "on_timeout", row.request_id, thread_id=row.thread_id, outcome=decision[0]["type"]
                )
                done.append(row.request_id)

    @leased
    def recover(self, *, older_than: float = 0.0) -> RecoveryReport:
        """Finish what a crash interrupted (G3).

        Re-drives decided-but-not-resumed requests (only if the thread is still paused at that
        exact interrupt), continues runs that died between a resume and the next pause, and
        re-indexes threads that were in flight. Claims younger than `older_than` seconds are
        left to the process that holds them; pass 0 right after a crash in a single process.
        """
        report = RecoveryReport()
        cutoff = self.clock() - older_than
        for row, lease_until in self.store.inbox.deciding(older_than=cutoff):
            try:
                self._recover_claim(row, lease_until, report)
            except Exception as exc:  # one thread's failure must not stop the others' recovery
                log.exception("recover: request %s on thread %s failed", row.request_id, row.thread_id)
                report.failed[row.thread_id] = f"{type(exc).__name__}: {exc}"
        for thread_id, updated_at, lease_until in self.store.inbox.threads_in_flight(older_than=cutoff):
            if thread_id in report.failed:
                continue
            try:
                if not self.store.inbox.claim_thread(thread_id, updated_at, lease_until):
                    continue
                self._continue(thread_id, report)
                self._index_state(thread_id, self._state(thread_id))
                report.reindexed.append(thread_id)
            except Exception as exc:
                log.exception("recover: thread %s failed", thread_id)
                report.failed[thread_id] = f"{type(exc).__name__}: {exc}"
        return report

    def _recover_claim(self, row: RequestRow, lease_until: float | None, report: RecoveryReport) -> None:
        if row.decided_at is None or not self.store.inbox.renew_claim(
            row.request_id, row.decided_at, lease_until
        ):
            return
        state = self._state(row.thread_id)
        expired = row.decided_by == "system:timeout"
        if row.interrupt_id in {iid for iid, _, _ in interrupt_items(state)} and row.decision is not None:
            self._resume(row, row.decision, expired=expired)
            report.redriven.append(row.request_id)
        else:
            self._continue(row.thread_id, report)
            self._index_state(
                row.thread_id, self._state(row.thread_id), resumed=row.request_id, expired=expired
            )
            report.already_resumed.append(row.request_id)

    def _reask(self, thread_id: str) -> None:
        """Index the question a thread asks now, if no process is driving it (it is then marked in flight)."""
        if self.store.inbox.take_idle_thread(thread_id):
            self._continue(thread_id, RecoveryReport())
            self._index_state(thread_id, self._state(thread_id))

    def _continue(self, thread_id: str, report: RecoveryReport) -> None:
        state = self._state(thread_id)
        # A crash after a task's writes were saved but before the next checkpoint leaves `next`
        # empty and the finished task in `tasks`: the run is unfinished all the same.
        if (state.next or state.tasks) and not interrupt_items(state) and not state.interrupts:
            self.graph.invoke(None, self._config(thread_id), durability=DURABILITY)
            report.continued.append(thread_id)

    def pending(
        self,
        *,
        approver: str | None = None,
        risk: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Pending requests, newest first; reads only the inbox tables.

        Args:
            approver: Only requests this person may decide (compared as canonical identities).
            risk: Only this risk level (`low`, `medium`, `high`, `critical`).
            limit: Page size (1-500).
            cursor: The previous page's `next_cursor`.

        Raises:
            ValueError: A bad `risk`, `limit` or `cursor`.
            AuthorizationError: `approver` is not a valid name.
        """
        return self._read_pending(approver=approver, risk=risk, limit=limit, cursor=cursor)

    def get(self, request_id: str) -> PendingRequest:
        """One request by id (or unique prefix of at least 6 characters), whatever its status.

        Raises:
            NotPendingError: No such request.
        """
        return self._read_get(request_id)

    def history(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's audit events, oldest first."""
        return self._read_history(thread_id)

    def stats(self, **kwargs: Any) -> Any:
        """Approval metrics per gate, action and approver (see `store.metrics.compute_stats`)."""
        return self._read_stats(**kwargs)

    def record_feedback(
        self,
        *,
        score: float,
        kind: str,
        actor: str,
        thread_id: str | None = None,
        request_id: str | None = None,
        comment: str | None = None,
    ) -> str:
        """Record a reviewer's score (0-1), kind and comment on a run's output; returns its id."""
        return self.store.feedback.record(
            score=score, kind=kind, actor=actor, thread_id=thread_id, request_id=request_id, comment=comment
        )
