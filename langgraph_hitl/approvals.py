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

import contextvars
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langgraph.types import Command, StreamMode

from ._runner import (
    PLAIN,
    Page,
    PendingRequest,
    RecoveryReport,
    RunOptions,
    RunResult,
    _Core,
    interrupt_items,
    leased,
    log,
    run_to_end,
)
from .checkpoint import open_checkpointer, redact
from .errors import CheckpointerError, ConflictError, NotPendingError
from .store import Store, open_store
from .store.inbox import RequestRow
from .store.lease import DEFAULT_TTL, hold
from .types import SYSTEM_TIMEOUT, Decision

__all__ = ["Approvals", "Page", "PendingRequest", "RecoveryReport", "RunResult", "RunStream"]


def _compile(graph: Any, saver: Any, url: str) -> Any:
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


class RunStream:
    """LangGraph's stream parts of one runner call, as it runs; `result` once it has ended.

    Returned by `Approvals.stream` and `Approvals.decide_stream`. Iterating it runs the graph
    (`graph.stream` with the runner's config), and when the run pauses or ends it is indexed
    exactly as by `start` / `decide`: its questions are in the inbox and its audit rows in the log
    before the iteration stops. Stop early (`break`) and close it, or use it in a `with` block:
    the run stops where it is and what it left is indexed (a decision the graph had not yet taken
    goes back to pending).

    The runner's lease on the thread lives in the stream's own context, so your loop body and
    other streams never share it.
    """

    def __init__(self, steps: Generator[Any, None, None]) -> None:
        self._steps = steps
        self._context = contextvars.copy_context()
        self._open = True
        self.result: RunResult | None = None
        """Where the thread stands (as `start` / `decide` return it), once the stream has ended."""

    def __iter__(self) -> RunStream:
        return self

    def __next__(self) -> Any:
        if not self._open:
            raise StopIteration
        try:
            item = self._context.run(next, self._steps)
        except BaseException:
            self._open = False
            raise
        if isinstance(item, RunResult):  # the steps' last item: let them finish (and release the lease)
            self.result, self._open = item, False
            self._context.run(next, self._steps, None)
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the run where it is and index what it left (nothing happens if it has ended)."""
        if self._open:
            self._open = False
            self._context.run(self._steps.close)

    def __enter__(self) -> RunStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class Approvals(_Core):
    """The runner: start runs, list and decide requests, expire, recover.

    Build it with `Approvals.open(builder, url)`, which opens the checkpointer and the store
    on the same database and closes both on exit.

    Every call that runs the graph takes `config=` (a `RunnableConfig`: callbacks, tags,
    metadata, recursion_limit, your own `configurable` keys) and `context=` (LangGraph's runtime
    context), passed to LangGraph with the runner's own keys, which always win; `stream` and
    `decide_stream` yield LangGraph's stream parts as the run goes.
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
            graph: A `StateGraph` builder (compiled here with the checkpointer) or a graph compiled
                without a checkpointer.
            url: `sqlite:///path.db` (default) or `postgresql://...`.
            clock: Returns epoch seconds; pass `testing.FakeClock()` to control deadlines.
            notifier: Receives `on_pending`, `on_decision`, `on_timeout` (e.g. `notify.WebhookNotifier`).
            hmac_key: Keys the audit chain's hashes.
            name: The graph's name, recorded with its requests.

        Raises:
            CheckpointerError: The URL is unsupported or the database cannot be opened, or `graph`
                was compiled with a checkpointer of its own.
        """
        with open_checkpointer(url) as saver:
            compiled = _compile(graph, saver, url)
            store = open_store(url, clock=clock, hmac_key=hmac_key)
            try:
                yield cls(compiled, store, notifier=notifier, name=name, lease_s=lease_s)
            finally:
                store.close()

    def __init__(
        self, graph: Any, store: Store, *, notifier: Any = None, name: str = "", lease_s: float = DEFAULT_TTL
    ) -> None:
        super().__init__(graph, store, notifier=notifier, name=name, lease_s=lease_s)

    def _state(self, thread_id: str) -> Any:
        return self.graph.get_state(self._config(thread_id), subgraphs=True)

    def _drive(self, input: Any, config: dict[str, Any], run: RunOptions) -> Generator[Any, None, None]:
        """Run the graph once: `invoke`, or `stream` when the caller reads the parts."""
        if run.stream_mode is None:
            self.graph.invoke(input, config, **run.graph_kwargs())
            return
        yield from self.graph.stream(input, config, **run.graph_kwargs())

    def _held(self, steps: Generator[Any, None, None]) -> Generator[Any, None, None]:
        """`steps` as one lease owner (what `leased` does for a method), for a stream."""
        with hold(self.store.backend, ttl=self.lease_s):
            yield from steps

    # -- starting -----------------------------------------------------------------------------------------

    @leased
    def start(
        self, thread_id: str, input: Any, *, abandon: bool = False, config: Any = None, context: Any = None
    ) -> RunResult:
        """Run the graph on `thread_id` with `input` until it pauses or ends, and index its questions.

        Args:
            thread_id: The thread; a finished thread takes new input, a paused one does not.
            input: The graph's input.
            abandon: Allow new input to a paused thread; its pending requests are cancelled.
                `start(thread_id, None)` continues a thread stopped at a static breakpoint.
            config: A `RunnableConfig` for the run (callbacks, tags, metadata, recursion_limit,
                your `configurable` keys); the runner's own keys win, and a different
                `configurable["thread_id"]` is refused.
            context: LangGraph's runtime context, for a graph built with `context_schema`.

        Raises:
            ThreadStateError: The thread is paused and `abandon` is False, or its input cannot be saved.
            ConflictError: Another run of the thread is in progress (a start, a decision, a recovery).
            ValueError: `config` sets a key the runner sets, or another thread.
        """
        run = self._options(config, context, thread_id=thread_id, call="start")
        self._check_start(thread_id, input)
        return run_to_end(self._started(thread_id, input, abandon=abandon, run=run))

    def stream(
        self,
        thread_id: str,
        input: Any,
        *,
        stream_mode: StreamMode | Sequence[StreamMode] = "values",
        subgraphs: bool = False,
        config: Any = None,
        context: Any = None,
        abandon: bool = False,
    ) -> RunStream:
        """`start`, yielding LangGraph's stream parts while the graph runs.

        Example:
            ```python
            stream = hitl.stream("ticket-42", input, stream_mode="updates")
            for update in stream:
                print(update)  # {"classify_and_gate": {...}}, ..., {"__interrupt__": (...)}
            stream.result.pending  # the questions it asked, already in the inbox
            ```

        Args:
            stream_mode: LangGraph's `stream_mode`: `values` (default), `updates`, `messages`,
                `custom`, `debug`, `tasks`, `checkpoints`, or a list of them (parts are then
                `(mode, chunk)` pairs).
            subgraphs: Stream the subgraphs' parts too (parts are then `(namespace, chunk)`).
            thread_id, input, config, context, abandon: As `start`.

        Returns:
            A `RunStream`: iterate it for the parts; its `result` is `start`'s `RunResult`.
            The graph runs as you iterate; errors `start` raises come from the iteration,
            except a bad `config`, `stream_mode` or `input`, refused here.
        """
        run = self._options(
            config, context, thread_id=thread_id, call="stream", stream_mode=stream_mode, subgraphs=subgraphs
        )
        self._check_start(thread_id, input)
        return RunStream(self._held(self._started(thread_id, input, abandon=abandon, run=run)))

    def _started(
        self, thread_id: str, input: Any, *, abandon: bool, run: RunOptions
    ) -> Generator[Any, None, None]:
        """The one start path: claim the thread, run the graph, index what it left; the `RunResult` last."""
        if not self.store.inbox.claim_start(thread_id, graph=self.name):  # one run of a thread at a time
            self._raise_busy(thread_id)
        try:
            self._prepare_start(thread_id, self._state(thread_id), abandon=abandon, input=input)
        except BaseException:
            self.store.inbox.mark_thread(thread_id, "idle", graph=self.name)
            raise
        try:
            yield from self._drive(input, self._config(thread_id, run=run), run)
        except (Exception, GeneratorExit) as exc:
            # Whatever the run left (a question asked before the failure, or nothing) is indexed
            # and the thread marked idle: never left in flight for a run that is over, a stream
            # closed early included.
            self._index_state(thread_id, self._state(thread_id))
            self._raise_start_failure(thread_id, exc)
        state = self._state(thread_id)
        yield self._result(thread_id, state, self._index_state(thread_id, state))

    # -- deciding -----------------------------------------------------------------------------------------

    @leased
    def decide(
        self, request_id: str, decision: Any, *, approver: str, config: Any = None, context: Any = None
    ) -> RunResult:
        """Validate `decision` for `request_id` and resume the paused run with it.

        Args:
            request_id: The request's id (or a unique prefix of at least 6 characters).
            decision: `{"type": "approve" | "edit" | "reject" | "respond" | "revise", ...}` or
                langchain's `{"decisions": [...]}`.
            approver: Who decides; authenticated by the caller.
            config: A `RunnableConfig` for the resumed run, as in `start`.
            context: LangGraph's runtime context, as in `start`.

        Returns:
            The thread's state after the resume: done, or paused at the next question.

        Raises:
            NotPendingError: Unknown, expired, cancelled or stale request.
            ConflictError: Another decision was accepted first.
            DecisionError: Malformed, type not allowed, wrong confirmation phrase.
            AuthorizationError: Approver not allowed, excluded, or the requester.
            ValueError: `config` sets a key the runner sets, or another thread.
        """
        row = self._row(request_id)
        run = self._options(config, context, thread_id=row.thread_id, call="decide")
        valid, approver = self._validate(row, decision, approver)
        return run_to_end(self._decided(row, valid, approver, run))

    def decide_stream(
        self,
        request_id: str,
        decision: Any,
        *,
        approver: str,
        stream_mode: StreamMode | Sequence[StreamMode] = "values",
        subgraphs: bool = False,
        config: Any = None,
        context: Any = None,
    ) -> RunStream:
        """`decide`, yielding LangGraph's stream parts while the resumed run goes on.

        The decision is checked here (a refused one raises now and stays pending); the claim,
        the resume and the index happen as you iterate, on `decide`'s one path.

        Args:
            stream_mode, subgraphs: As `stream`.
            request_id, decision, approver, config, context: As `decide`.

        Returns:
            A `RunStream`; its `result` is `decide`'s `RunResult`.
        """
        row = self._row(request_id)
        run = self._options(
            config, context, thread_id=row.thread_id, call="decide_stream", stream_mode=stream_mode,
            subgraphs=subgraphs,
        )  # fmt: skip
        valid, approver = self._validate(row, decision, approver)
        return RunStream(self._held(self._decided(row, valid, approver, run)))

    def _decided(
        self, row: RequestRow, valid: list[Decision], approver: str, run: RunOptions
    ) -> Generator[Any, None, None]:
        """The one decide path after validation: still live, claim, resume, notify; the `RunResult` last."""
        self._check_live(row, self._state(row.thread_id))
        claimed = self._claim(row, valid, approver)
        answer = self._answer(row, valid)
        result: Any = None
        for result in self._resume(claimed, answer, run=run):
            if not isinstance(result, RunResult):
                yield result
        self._notify("on_decision", row.request_id, answer, thread_id=row.thread_id)
        yield result

    def _resume(
        self, claimed: RequestRow, decision: dict[str, Any], *, expired: bool = False, run: RunOptions = PLAIN
    ) -> Generator[Any, None, None]:
        request_id, thread_id, interrupt_id = claimed.request_id, claimed.thread_id, claimed.interrupt_id
        config = self._config(thread_id, decider=claimed.decided_by, decided_at=claimed.decided_at, run=run)
        try:
            yield from self._drive(Command(resume={interrupt_id: decision}), config, run)
        except BaseException as exc:
            state = self._state(thread_id)
            if interrupt_id in {iid for iid, _, _ in interrupt_items(state)}:
                self._release(claimed, exc)  # the graph never took the answer
            else:
                self._index_state(thread_id, state, resumed=request_id, expired=expired)
            raise
        state = self._state(thread_id)
        yield self._result(
            thread_id, state, self._index_state(thread_id, state, resumed=request_id, expired=expired)
        )

    # -- keeping threads moving ---------------------------------------------------------------------------

    @leased
    def refresh(self, thread_id: str, *, config: Any = None, context: Any = None) -> list[PendingRequest]:
        """Ask the thread's current questions again and index them (after you changed its state yourself).

        After `update_state` LangGraph shows no interrupt until the paused node runs again; this
        runs it (with `config` and `context`, as in `start`), so the question is asked (and
        indexed) again with a fresh interrupt id.
        """
        run = self._options(config, context, thread_id=thread_id, call="refresh")
        self._continue(thread_id, RecoveryReport(), run)
        return self._index_state(thread_id, self._state(thread_id))

    @leased
    def expire_overdue(
        self, now: float | None = None, *, config: Any = None, context: Any = None
    ) -> list[str]:
        """Resolve every request past its deadline with its `on_timeout` (G6).

        `reject` (default) fails closed; `approve` applies to soft gates only; `escalate` asks
        the next reviewer tier with a new deadline. The graph sees a decision from
        `system:timeout`, never a human rejection. Safe to run from several processes.
        `config` and `context` go with every run it resumes (as in `start`, without a
        `thread_id` or `run_id`: it runs many threads).

        Returns:
            The request ids resolved.
        """
        run = self._options(config, context, thread_id=None, call="expire_overdue")
        moment = self.clock() if now is None else now
        done: list[str] = []
        while True:
            rows = [r for r in self.store.inbox.overdue(moment, limit=100) if r.request_id not in done]
            if not rows:
                return done
            for row in rows:
                self._expire(row, run)
                done.append(row.request_id)

    def _expire(self, row: RequestRow, run: RunOptions) -> None:
        """Resolve one overdue request, unless it was decided, cancelled or changed meanwhile."""
        decision = self._timeout_decision(row)
        try:
            self._check_live(row, self._state(row.thread_id))
        except ConflictError:
            return  # decided meanwhile by another process; not ours to expire
        except NotPendingError:
            self._reask(row.thread_id, run)  # stale: the thread's action changed; ask about what it is now
            return
        try:
            claimed = self._claim(row, decision, SYSTEM_TIMEOUT)
        except (ConflictError, NotPendingError):
            return  # decided or cancelled meanwhile; not ours to expire
        run_to_end(self._resume(claimed, self._answer(row, decision), expired=True, run=run))
        self._notify("on_timeout", row.request_id, thread_id=row.thread_id, outcome=decision[0]["type"])

    @leased
    def recover(self, *, older_than: float = 0.0, config: Any = None, context: Any = None) -> RecoveryReport:
        """Finish what a crash interrupted (G3).

        Re-drives decided-but-not-resumed requests (only if the thread is still paused at that
        exact interrupt), continues runs that died between a resume and the next pause, and
        re-indexes threads that were in flight. Claims younger than `older_than` seconds are
        left to the process that holds them; pass 0 right after a crash in a single process.
        `config` and `context` go with every run it drives, as in `expire_overdue`.
        """
        run = self._options(config, context, thread_id=None, call="recover")
        report = RecoveryReport()
        cutoff = self.clock() - older_than
        for row, lease_until in self.store.inbox.deciding(older_than=cutoff):
            try:
                self._recover_claim(row, lease_until, report, run)
            except Exception as exc:  # one thread's failure must not stop the others' recovery
                log.exception("recover: request %s on thread %s failed", row.request_id, row.thread_id)
                report.failed[row.thread_id] = f"{type(exc).__name__}: {exc}"
        for thread_id, updated_at, lease_until in self.store.inbox.threads_in_flight(older_than=cutoff):
            if thread_id in report.failed:
                continue
            try:
                if not self.store.inbox.claim_thread(thread_id, updated_at, lease_until):
                    continue
                self._continue(thread_id, report, run)
                self._index_state(thread_id, self._state(thread_id))
                report.reindexed.append(thread_id)
            except Exception as exc:
                log.exception("recover: thread %s failed", thread_id)
                report.failed[thread_id] = f"{type(exc).__name__}: {exc}"
        return report

    def _recover_claim(
        self, row: RequestRow, lease_until: float | None, report: RecoveryReport, run: RunOptions
    ) -> None:
        if row.decided_at is None or not self.store.inbox.renew_claim(
            row.request_id, row.decided_at, lease_until
        ):
            return
        state = self._state(row.thread_id)
        expired = row.decided_by == "system:timeout"
        if row.interrupt_id in {iid for iid, _, _ in interrupt_items(state)} and row.decision is not None:
            run_to_end(self._resume(row, row.decision, expired=expired, run=run))
            report.redriven.append(row.request_id)
        else:
            self._continue(row.thread_id, report, run)
            self._index_state(
                row.thread_id, self._state(row.thread_id), resumed=row.request_id, expired=expired
            )
            report.already_resumed.append(row.request_id)

    def _reask(self, thread_id: str, run: RunOptions) -> None:
        """Index the question a thread asks now, if no process is driving it (it is then marked in flight)."""
        if self.store.inbox.take_idle_thread(thread_id):
            self._continue(thread_id, RecoveryReport(), run)
            self._index_state(thread_id, self._state(thread_id))

    def _continue(self, thread_id: str, report: RecoveryReport, run: RunOptions) -> None:
        state = self._state(thread_id)
        # A crash after a task's writes were saved but before the next checkpoint leaves `next`
        # empty and the finished task in `tasks`: the run is unfinished all the same.
        if (state.next or state.tasks) and not state.interrupts:
            self.graph.invoke(None, self._config(thread_id, run=run), **run.graph_kwargs())
            report.continued.append(thread_id)

    # -- reading ------------------------------------------------------------------------------------------

    def pending(
        self,
        *,
        approver: str | None = None,
        risk: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        thread_id: str | None = None,
    ) -> Page:
        """Pending requests, newest first; reads only the inbox tables.

        Args:
            approver: Only requests this person may decide (compared as canonical identities).
            risk: Only this risk level (`low`, `medium`, `high`, `critical`).
            limit: Page size (1-500).
            cursor: The previous page's `next_cursor`.
            thread_id: Only the requests this thread waits on (an index lookup).

        Raises:
            ValueError: A bad `risk`, `limit`, `cursor` or `thread_id`.
            AuthorizationError: `approver` is not a valid name.
        """
        return self._read_pending(
            approver=approver, risk=risk, limit=limit, cursor=cursor, thread_id=thread_id
        )

    def resume(
        self,
        thread_id: str,
        decision: Any,
        *,
        approver: str,
        interrupt_id: str | None = None,
        config: Any = None,
        context: Any = None,
    ) -> RunResult:
        """Decide the question `thread_id` waits on, the way LangGraph users resume a thread.

        The same as `decide()` on the thread's one pending request (every check applies).

        Args:
            thread_id: The paused thread.
            decision: As for `decide()`.
            approver: Who decides; authenticated by the caller.
            interrupt_id: Which question, when the thread waits on several (parallel reviews).
            config: A `RunnableConfig` for the resumed run, as in `start`.
            context: LangGraph's runtime context, as in `start`.

        Raises:
            NotPendingError: The thread is unknown, finished or waits on nothing, naming it.
            DecisionError: The thread waits on several requests (listed) and `interrupt_id`
                names none; or as for `decide()`.
        """
        request_id = self._thread_request(thread_id, interrupt_id)
        return self.decide(request_id, decision, approver=approver, config=config, context=context)

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
