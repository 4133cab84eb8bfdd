"""`Approvals`: drive paused runs safely through a durable inbox.

LangGraph can pause a run, but it cannot list paused runs, knows nothing of who answers,
has no deadlines, lets a bad answer wedge a thread and lets two concurrent answers both
run. `Approvals` closes those gaps (guarantees G1, G2, G3, G6, G8). Its operations are
`flow`'s, performed here with plain calls; `AsyncApprovals` performs the same ones awaited.

Example:
    ```python
    with Approvals.open(builder, "sqlite:///hitl.db") as hitl:
        run = hitl.start("ticket-42", {"action": {"name": "delete_record", "args": {"id": 7}}})
        request = hitl.pending().items[0]
        hitl.decide(request.request_id, {"type": "approve"}, approver="alice")
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from langgraph.types import StreamMode

from ..checkpoint import open_checkpointer
from ..protocols import Notifier
from ..store import open_store
from ..store.lease import DEFAULT_TTL, hold
from . import drive, flow
from .core import _Core, leased
from .flow import Db, Effect, GetState, Index, Run
from .graphs import compile_on
from .models import Page, PendingRequest, RecoveryReport, RunResult
from .oversight import Oversight
from .shadowing import ShadowPolicy, ShadowRunner
from .streams import RunStream

__all__ = ["Approvals"]


class Approvals(Oversight, ShadowRunner, _Core):
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
        notifier: Notifier | None = None,
        hmac_key: bytes | None = None,
        name: str = "",
        lease_s: float = DEFAULT_TTL,
        shadow_policy: ShadowPolicy = None,
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
            shadow_policy: A candidate `Policy` the graph's gates also assess with, never routing (`shadow`).

        Raises:
            CheckpointerError: The URL is unsupported or the database cannot be opened, or `graph`
                was compiled with a checkpointer of its own.
        """
        with open_checkpointer(url) as saver:
            compiled = compile_on(graph, saver, url)
            store = open_store(url, clock=clock, hmac_key=hmac_key)
            try:
                runner = cls(compiled, store, notifier=notifier, name=name, lease_s=lease_s)
                yield runner._shadowed(shadow_policy)
            finally:
                store.close()

    def _state(self, thread_id: str) -> Any:
        return self.graph.get_state(self._config(thread_id), subgraphs=True)

    def _held(self, steps: Generator[Any, None, None]) -> Generator[Any, None, None]:
        """`steps` as one lease owner (what `leased` does for a method), for a stream."""
        with hold(self.store.backend, ttl=self.lease_s):
            yield from steps

    def _perform(self, effect: Effect) -> Any:
        """Do one effect of a flow (see `flow`): a store step, a snapshot, an index, an `invoke`."""
        if isinstance(effect, Db):
            return effect.fn(*effect.args, **effect.kwargs)
        if isinstance(effect, GetState):
            return self._state(effect.thread_id)
        if isinstance(effect, Index):
            return self._index_state(
                effect.thread_id, effect.state, resumed=effect.resumed, expired=effect.expired
            )
        return self.graph.invoke(effect.input, effect.config, **effect.run.graph_kwargs())

    def _stream(self, effect: Run) -> Iterator[Any]:
        return self.graph.stream(effect.input, effect.config, **effect.run.graph_kwargs())  # type: ignore[no-any-return]

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
        return cast(
            RunResult,
            drive.run(self._perform, flow.started(self, thread_id, input, abandon=abandon, run=run)),
        )

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
        return RunStream(
            self._held(
                drive.steps(
                    self._perform,
                    self._stream,
                    flow.started(self, thread_id, input, abandon=abandon, run=run),
                )
            )
        )

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
        return cast(RunResult, drive.run(self._perform, flow.decided(self, row, valid, approver, run)))

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
        return RunStream(
            self._held(
                drive.steps(self._perform, self._stream, flow.decided(self, row, valid, approver, run))
            )
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
        return cast(list[PendingRequest], drive.run(self._perform, flow.refreshed(self, thread_id, run)))

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
        return cast(list[str], drive.run(self._perform, flow.expired_overdue(self, moment, run)))

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
        return cast(
            RecoveryReport, drive.run(self._perform, flow.recovered(self, self.clock() - older_than, run))
        )

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
