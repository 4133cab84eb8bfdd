"""What `Approvals` and `AsyncApprovals` share: everything except calling the graph.

The runner's rules, in the order a decision meets them:
1. The request must be in the inbox and pending (`NotPendingError`).
2. The decision must be valid for the request: shape, type, approver, four-eyes, phrase
   (`DecisionError`, `AuthorizationError`); a refusal is audited and the request stays pending.
3. The thread must still be paused at that exact interrupt (stale ids are cancelled).
4. Compare-and-set pending -> deciding, with the decision's audit event, in one transaction:
   one decision wins (`ConflictError` for the others).
5. Resume keyed by interrupt id; index what the graph asks next; mark the request resumed.
A crash anywhere leaves a `deciding` row or an `in_flight` thread that `recover()` finishes.
Both are leases (`store.lease`): while the process that claimed them runs, a heartbeat keeps
them, so `recover()` elsewhere never drives the same run twice.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, TypeVar, cast, get_args

from ._canonical import iso
from ._events import DECISION_EVENTS, decision_event_id, make_event, task_namespace, trusted_events
from .decisions import decider, validate_decision
from .errors import ConflictError, DecisionError, HITLError, NotPendingError, ThreadStateError
from .identity import canonical
from .receipts import Receipt, action_digest, issue
from .store import Store
from .store.inbox import RequestRow
from .store.lease import DEFAULT_TTL, hold
from .types import SYSTEM_TIMEOUT, ActionRequest, AuditEvent, Decision, ReviewRequest

__all__ = [
    "PLAIN",
    "Page",
    "PendingRequest",
    "RecoveryReport",
    "RunOptions",
    "RunResult",
    "checkpoint_config",
    "checkpointed_trail",
    "leased",
    "run_to_end",
    "trail_sources",
]

log = logging.getLogger("langgraph_hitl")

_F = TypeVar("_F", bound=Callable[..., Any])


def leased(method: _F) -> _F:
    """Run a runner method as one lease owner (`store.lease.hold`): what it claims stays leased
    by the heartbeat while it runs, and is free for `recover()` the moment it ends."""
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def run_async(self: _Core, *args: Any, **kwargs: Any) -> Any:
            with hold(self.store.backend, ttl=self.lease_s):
                return await method(self, *args, **kwargs)

        return cast(_F, run_async)

    @functools.wraps(method)
    def run(self: _Core, *args: Any, **kwargs: Any) -> Any:
        with hold(self.store.backend, ttl=self.lease_s):
            return method(self, *args, **kwargs)

    return cast(_F, run)


DURABILITY: Literal["sync"] = "sync"
"""How the runner has LangGraph save checkpoints: each step's before the next step starts.

LangGraph's default (`async`) saves in the background while the next node already runs, so a
crash can lose the checkpoint that fixed an action's id after its handler ran; recovery then
re-runs the gate, the action gets a new id, and the handler runs again under a new
idempotency key (G5). With `sync` a node's side effects never get ahead of the state before it.
"""


@dataclass(frozen=True)
class PendingRequest:
    """A question waiting in (or gone from) the inbox, as reviewers and tools see it."""

    request_id: str
    thread_id: str
    node: str
    stage: int
    action: ActionRequest
    risk: str
    status: str
    approvers: list[str] | None
    requested_by: str
    created_at: float
    deadline: float | None
    decided_by: str | None
    decision: dict[str, Any] | None
    payload: ReviewRequest
    interrupt_id: str = ""
    """LangGraph's id of the interrupt that asks it (pass it to `resume(..., interrupt_id=...)`)."""

    @classmethod
    def from_row(cls, row: RequestRow) -> PendingRequest:
        """Build from an inbox row."""
        return cls(
            request_id=row.request_id,
            thread_id=row.thread_id,
            node=row.node,
            stage=row.stage,
            action=row.action,
            risk=row.risk,
            status=row.status,
            approvers=row.approvers,
            requested_by=row.requested_by,
            created_at=row.created_at,
            deadline=row.deadline,
            decided_by=row.decided_by,
            decision=row.decision,
            payload=row.payload,
            interrupt_id=row.interrupt_id,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, with ISO 8601 times."""
        return {
            "request_id": self.request_id,
            "thread_id": self.thread_id,
            "node": self.node,
            "stage": self.stage,
            "action": self.action,
            "risk": self.risk,
            "status": self.status,
            "approvers": self.approvers,
            "requested_by": self.requested_by,
            "created_at": iso(self.created_at),
            "deadline": iso(self.deadline) if self.deadline else None,
            "decided_by": self.decided_by,
            "decision": self.decision,
            "payload": self.payload,
            "interrupt_id": self.interrupt_id,
        }


@dataclass(frozen=True)
class Page:
    """One page of pending requests, newest first."""

    items: list[PendingRequest]
    next_cursor: str | None
    """Pass as `cursor=` for the next page; None on the last page."""


@dataclass(frozen=True)
class RunResult:
    """Where a thread stands after `start`, `decide` or a timeout."""

    thread_id: str
    status: Literal["paused", "done"]
    pending: list[PendingRequest]
    values: dict[str, Any]


def run_to_end(steps: Iterable[Any]) -> RunResult:
    """Drive a runner's steps with nobody reading the stream: the last item is the run's `RunResult`."""
    result: Any = None
    for item in steps:
        result = item
    assert isinstance(result, RunResult)
    return result


@dataclass(frozen=True)
class RunOptions:
    """What one runner call hands to LangGraph besides the input: the caller's run config (merged
    under the runner's own keys by `_Core._config`), the runtime context, and how to stream."""

    config: Mapping[str, Any] | None = None
    """The caller's `RunnableConfig` (callbacks, tags, metadata, recursion_limit, configurable, ...)."""
    context: Any = None
    """LangGraph's runtime context (`context=` of `invoke`), for graphs built with `context_schema`."""
    stream_mode: Any = None
    """LangGraph's `stream_mode` when the caller reads the stream; None runs with `invoke`."""
    subgraphs: bool = False
    """Stream the parts of subgraphs too (LangGraph's `subgraphs=`)."""

    def graph_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `invoke` / `stream` besides the input and the config."""
        kwargs: dict[str, Any] = {"durability": DURABILITY}
        if self.context is not None:
            kwargs["context"] = self.context
        if self.stream_mode is not None:
            kwargs["stream_mode"] = self.stream_mode
            kwargs["subgraphs"] = self.subgraphs
        return kwargs


PLAIN = RunOptions()
"""A run with the runner's config alone: no caller config, no context, invoked."""


def _config_keys() -> tuple[str, ...]:
    """The keys of langchain's `RunnableConfig` (callbacks, configurable, metadata, recursion_limit, ...)."""
    from langchain_core.runnables import RunnableConfig

    return tuple(sorted(RunnableConfig.__annotations__))


def _stream_modes() -> tuple[str, ...]:
    """LangGraph's stream modes (`langgraph.types.StreamMode`)."""
    from langgraph.types import StreamMode

    return tuple(str(mode) for mode in get_args(StreamMode))


_RESERVED_WHY = {
    "checkpoint_id": "the runner runs a thread from its latest checkpoint; an older one would leave the inbox "
    "out of step with the thread (change state with graph.update_state, then refresh())",
    "checkpoint_ns": "the runner runs the root graph; subgraph namespaces are LangGraph's to set",
    "checkpoint_map": "the runner runs the root graph; subgraph namespaces are LangGraph's to set",
    "hitl_": "keys starting with 'hitl_' carry the runner's store and who decided (decide(approver=...))",
    "langgraph_auth_": "under the runner, who decides is decide(approver=...), never the run's config",
    "__": "keys starting with '__' are LangGraph's internal ones",
}


def _reserved(key: str) -> str | None:
    """Why a `configurable` key is the runner's (or LangGraph's) to set, or None when the caller may set it."""
    for name, why in _RESERVED_WHY.items():
        if key == name or (name.endswith("_") and key.startswith(name)):
            return why
    return None


def check_stream_mode(stream_mode: Any) -> Any:
    """`stream_mode` if LangGraph knows it (one mode or a list of modes); else a `ValueError` naming the fix."""
    allowed = _stream_modes()
    modes = [stream_mode] if isinstance(stream_mode, str) else stream_mode
    if isinstance(modes, Sequence) and modes and all(isinstance(m, str) and m in allowed for m in modes):
        return stream_mode if isinstance(stream_mode, str) else list(stream_mode)
    msg = f"stream_mode={stream_mode!r}. Allowed: one of {', '.join(allowed)}, or a list of them."
    raise ValueError(msg)


def check_run_config(config: Any, *, thread_id: str | None, call: str) -> Mapping[str, Any] | None:
    """A caller's `config=` as the runner can merge it, or an error saying what to change.

    Args:
        config: A `RunnableConfig` or None.
        thread_id: The one thread the call runs; None for calls that run many (`expire_overdue`, `recover`).
        call: The method's name, for the messages.

    Raises:
        TypeError: `config` (or its `configurable`) is not a dict.
        ValueError: An unknown key, a `thread_id` other than the call's, a key only the runner
            sets, or a `run_id` on a call that runs many threads.
    """
    if config is None:
        return None
    keys = _config_keys()
    if not isinstance(config, Mapping):
        msg = f"{call}(config={config!r:.80}): pass a RunnableConfig dict ({', '.join(keys)}) or None."
        raise TypeError(msg)
    unknown = sorted(str(k) for k in config if k not in keys)
    if unknown:
        msg = (
            f"{call}(config=...) has {', '.join(map(repr, unknown))}, not RunnableConfig keys. Allowed: "
            f"{', '.join(keys)}; runtime values go in context=, LangGraph options such as durability "
            "are the runner's."
        )
        raise ValueError(msg)
    if "run_id" in config and thread_id is None:
        msg = f"{call}(config=...) has run_id, which names one run; {call}() runs one per thread. Drop it."
        raise ValueError(msg)
    configurable = config.get("configurable")
    if configurable is None:
        return config
    if not isinstance(configurable, Mapping):
        msg = f"{call}(config=...): configurable={configurable!r:.80} must be a dict of your graph's keys."
        raise TypeError(msg)
    for key, value in configurable.items():
        _check_configurable(str(key), value, thread_id=thread_id, call=call)
    return config


def _check_configurable(key: str, value: Any, *, thread_id: str | None, call: str) -> None:
    if key == "thread_id":
        if thread_id is None:
            msg = (
                f"{call}(config=...) has configurable thread_id={value!r}, but {call}() runs many threads and "
                "sets each one's thread_id itself. Drop it from the config."
            )
            raise ValueError(msg)
        if str(value) != thread_id:
            msg = (
                f"{call}(config=...) has configurable thread_id={value!r}, but this call runs thread "
                f"{thread_id!r}: the runner sets thread_id itself. Drop it from the config, or run "
                f"thread {value!r} instead."
            )
            raise ValueError(msg)
        return
    why = _reserved(key)
    if why is not None:
        msg = (
            f"{call}(config=...) sets configurable {key!r}, which the runner does not take: {why}. Remove it."
        )
        raise ValueError(msg)


@dataclass
class RecoveryReport:
    """What `recover()` did."""

    redriven: list[str] = field(default_factory=list)
    """Requests whose decision was delivered to the graph after a crash."""
    already_resumed: list[str] = field(default_factory=list)
    """Claimed requests the graph had already taken; only the index was updated."""
    continued: list[str] = field(default_factory=list)
    """Threads whose interrupted run was continued to its next pause or end."""
    reindexed: list[str] = field(default_factory=list)
    """Threads whose pending questions were indexed again."""
    failed: dict[str, str] = field(default_factory=dict)
    """Threads recovery could not finish, with why; the others were recovered all the same, and the
    next `recover()` tries these again (their claim or in-flight mark stays)."""


def _utf8(text: str) -> str:
    """`text` with what a database cannot store (lone surrogates; NUL, which Postgres refuses) escaped,
    so a refusal can be recorded whatever it refuses."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


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


def _effect(row: RequestRow, kind: str) -> str:
    """What a decision does, for the audit row: a soft gate's timeout approves."""
    if kind == "timeout" and row.payload["hitl"].get("on_timeout") == "approve":
        return "approved"
    return DECISION_EVENTS[kind]


def _gate_of(row: RequestRow) -> dict[str, Any]:
    """What the audit log records about the gate a request went through."""
    hitl = row.payload["hitl"]
    return {
        "risk": hitl.get("risk"),
        "reversibility": hitl.get("reversibility"),
        "policy_version": hitl.get("policy_version"),
    }


def _unsaveable(value: Any, path: str, depth: int = 0) -> str | None:
    """Where `value` holds what LangGraph's checkpoints cannot save: text with a lone surrogate,
    an integer outside 64 bits. Only plain containers are walked; other objects are the graph's own."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path} holds text with a lone surrogate ({ascii(value)[:40]}), which is not valid UTF-8"
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if -(2**63) <= value < 2**64:
            return None
        return f"{path} holds an integer outside 64 bits ({str(value)[:24]}...); send it as text"
    if depth > 100:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}[{ascii(key)[:40]}]"
            found = _unsaveable(key, f"{path} key {ascii(key)[:40]}", depth + 1) or _unsaveable(
                item, where, depth + 1
            )
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _unsaveable(item, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


class _Core:
    """Store-side steps of the runner; subclasses add the graph calls (sync or async)."""

    def __init__(
        self, graph: Any, store: Store, *, notifier: Any = None, name: str = "", lease_s: float = DEFAULT_TTL
    ) -> None:
        if isinstance(lease_s, bool) or not isinstance(lease_s, int | float) or not lease_s > 0:
            msg = f"lease_s={lease_s!r}: give the lease length in seconds, a positive number (default 30)."
            raise ValueError(msg)
        self.graph = graph
        self.store = store
        self.notifier = notifier
        self.name = name
        self.lease_s = float(lease_s)

    @property
    def clock(self) -> Callable[[], float]:
        return self.store.clock

    def _config(
        self,
        thread_id: str,
        *,
        decider: str | None = None,
        decided_at: float | None = None,
        run: RunOptions = PLAIN,
    ) -> dict[str, Any]:
        """The run's config: the caller's (`run.config`: callbacks, tags, metadata, recursion_limit,
        their own `configurable` keys) under the runner's own keys, which always win.

        `hitl_decider` tells the review nodes who answered (they honour it only beside this
        process's `Store`, which no remote client can put in a config).
        """
        conf: dict[str, Any] = {"thread_id": thread_id, "hitl_store": self.store, "hitl_runner_flushes": True}
        if decider is not None:
            conf["hitl_decider"] = decider
            conf["hitl_decided_at"] = iso(decided_at if decided_at is not None else self.clock())
        if run.config is None:
            return {"configurable": conf}
        return {**run.config, "configurable": {**(run.config.get("configurable") or {}), **conf}}

    @staticmethod
    def _options(
        config: Any,
        context: Any,
        *,
        thread_id: str | None,
        call: str,
        stream_mode: Any = None,
        subgraphs: bool = False,
    ) -> RunOptions:
        """Check what a caller passes through to LangGraph, at the API edge (see `check_run_config`)."""
        if not isinstance(subgraphs, bool):
            msg = f"{call}(subgraphs={subgraphs!r}): pass True or False."
            raise TypeError(msg)
        return RunOptions(
            config=check_run_config(config, thread_id=thread_id, call=call),
            context=context,
            stream_mode=None if stream_mode is None else check_stream_mode(stream_mode),
            subgraphs=subgraphs,
        )

    # -- starting -----------------------------------------------------------------------------------------

    @staticmethod
    def _check_start(thread_id: Any, input: Any) -> None:
        from langgraph.types import Command

        if not isinstance(thread_id, str) or not thread_id:
            msg = f"thread_id={thread_id!r}: use a non-empty string."
            raise ThreadStateError(msg)
        if (
            len(thread_id) > 500
            or not thread_id.isprintable()
            or thread_id != thread_id.encode("utf-8", "replace").decode("utf-8")
        ):
            msg = (
                f"thread_id={ascii(thread_id)[:80]}: use at most 500 printable characters (no NUL, control "
                "characters or lone surrogates, which some stores cannot hold)."
            )
            raise ThreadStateError(msg)
        if isinstance(input, Command):
            msg = "start() takes the graph's input; answer a paused request with decide(request_id, ...)."
            raise ThreadStateError(msg)
        problem = _unsaveable(input, "input")
        if problem is not None:
            msg = (
                f"Thread {thread_id!r}: {problem}; no checkpoint store can save it, so the run would be lost. "
                "Fix the value before start(). Nothing was run."
            )
            raise ThreadStateError(msg)

    @staticmethod
    def _raise_busy(thread_id: str) -> None:
        msg = (
            f"Thread {thread_id!r} is being run right now (another start(), a decision, or a recovery of a "
            "crashed run); one run at a time. Try again when it pauses, or run recover() if its process died."
        )
        raise ConflictError(msg)

    @staticmethod
    def _raise_start_failure(thread_id: str, exc: BaseException) -> NoReturn:
        """Re-raise a failed start; a value LangGraph cannot save becomes a `ThreadStateError` naming the fix."""
        text = str(exc)
        if isinstance(exc, TypeError) and (
            "64-bit" in text or "serializ" in text or "msgpack" in text.lower() or "surrogate" in text
        ):
            msg = (
                f"Thread {thread_id!r}: the run's input or state could not be saved ({text}). Checkpoints hold "
                "plain JSON-like values: send integers beyond 64 bits as text and convert other objects "
                "before start(). Nothing is waiting; the thread can be started again."
            )
            raise ThreadStateError(msg) from exc
        raise exc

    def _prepare_start(self, thread_id: str, state: Any, *, abandon: bool, input: Any = ...) -> None:
        """G8: refuse new input to a paused thread unless abandoning it, which cancels its requests.

        `start(thread_id, None)` on a thread stopped at a static breakpoint (`interrupt_before` /
        `interrupt_after`: `next` set, no question asked) continues it, as `invoke(None)` does.
        """
        if not state.next:
            return
        if input is None and not state.interrupts and not interrupt_items(state):
            return  # a static breakpoint: None continues it; there is nothing to abandon
        if not abandon:
            waiting = [p["hitl"]["request_id"] for _, _, p in interrupt_items(state)]
            msg = (
                f"Thread {thread_id!r} is paused (waiting: {', '.join(waiting) or ', '.join(state.next)}). "
                "Decide its requests, or pass abandon=True to cancel them and start over."
            )
            raise ThreadStateError(msg)
        self.store.inbox.cancel_stale(thread_id, [])

    # -- indexing -----------------------------------------------------------------------------------------

    def _index_state(
        self,
        thread_id: str,
        state: Any,
        *,
        resumed: str | None = None,
        expired: bool = False,
        events: list[Any] | None = None,
    ) -> list[PendingRequest]:
        """Index the thread's questions, audit its events, settle `resumed`: one transaction.

        The events are the root's and those of approval flows paused inside subgraphs, so these
        are recorded when they pause, before any decision on them; `events` is them read
        already (the async runner reads checkpoints with its own saver's async calls).
        """
        items = interrupt_items(state)
        if events is None:
            events = self._audit_trail(thread_id, state)
        with self.store.transaction():
            if resumed is not None:
                (self.store.inbox.mark_expired if expired else self.store.inbox.mark_resumed)(resumed)
            new = self.store.inbox.index(thread_id, items, graph=self.name)
            if events:  # G11: only what langgraph-hitl's nodes sealed for this thread becomes a row
                key, ts = self.store.seal_key, iso(self.clock())

                def admit(fresh: list[Any]) -> list[AuditEvent]:
                    kept = trusted_events(fresh, key=key, thread_id=thread_id, ts=ts)
                    self.store.inbox.settle_decided(thread_id, kept)  # answered by a plain resume
                    return cast(list[AuditEvent], kept)

                self.store.audit.append(events, admit=admit)
            self.store.inbox.cancel_stale(thread_id, [p["hitl"]["request_id"] for _, _, p in items])
            self.store.inbox.mark_thread(thread_id, "idle", graph=self.name)
        pending = [self._pending_of(p["hitl"]["request_id"]) for _, _, p in items]
        if self.notifier is not None:
            for req in pending:
                if req.request_id in new:
                    self._notify("on_pending", req.payload, thread_id=thread_id)
        return pending

    def _audit_trail(self, thread_id: str, state: Any) -> list[Any]:
        """The events of `state` and of every subgraph paused in it, parent first (see `trail_sources`)."""
        saver = getattr(self.graph, "checkpointer", None)
        events: list[Any] = []
        for source in trail_sources(state):
            if isinstance(source, str):
                found = saver.get_tuple(checkpoint_config(thread_id, source)) if saver is not None else None
                source = checkpointed_trail(found)
            events.extend(source)
        return events

    def _result(self, thread_id: str, state: Any, pending: list[PendingRequest]) -> RunResult:
        values = dict(getattr(state, "values", {}) or {})
        paused = bool(getattr(state, "next", ()))
        return RunResult(
            thread_id=thread_id, status="paused" if paused else "done", pending=pending, values=values
        )

    def _pending_of(self, request_id: str) -> PendingRequest:
        row = self.store.inbox.get(request_id)
        assert row is not None
        return PendingRequest.from_row(row)

    # -- deciding -----------------------------------------------------------------------------------------

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

    def _validate(self, row: RequestRow, decision: Any, approver: str) -> tuple[list[Decision], str]:
        """The one decide path's checks (G1, G10): the decisions, and who decides (canonical)."""
        if not isinstance(approver, str) or not approver.strip():
            decider(approver)  # raises DecisionError: nobody is named, so there is no refusal to attribute
        if row.status != "pending":
            self.store.inbox._raise_not_pending(row.request_id)
        try:
            who = decider(approver)
            return validate_decision(decision, row.payload, approver=who), who
        except HITLError as exc:
            self._audit_refusal(row, approver, decision, str(exc))
            raise

    def _audit_refusal(self, row: RequestRow, approver: str, decision: Any, error: str) -> None:
        kind = decision.get("type") if isinstance(decision, dict) else None
        self.store.audit.append(
            [
                make_event(
                    "refused",
                    action_id=row.action_id,
                    actor=_utf8(approver[:200]) if isinstance(approver, str) else "?",
                    thread_id=row.thread_id,
                    action=dict(row.action),
                    assessment=_gate_of(row),
                    request_id=row.request_id,
                    decision=_utf8(str(kind)[:40]) if kind is not None else None,
                    detail={"error": _utf8(error[:2000])},
                    event_id=uuid.uuid4().hex,
                    ts=iso(self.clock()),
                )
            ]
        )

    def _check_live(self, row: RequestRow, state: Any) -> None:
        live = {iid for iid, _, _ in interrupt_items(state)}
        if row.interrupt_id not in live:
            # Cancel only this request: the snapshot may have been read while another process was
            # resuming the thread, and its other questions are that process's to index.
            if not self.store.inbox.cancel(row.request_id):
                self.store.inbox._raise_not_pending(row.request_id)
            msg = (
                f"Request {row.request_id} is stale: thread {row.thread_id!r} is no longer paused at it "
                "(it finished, was abandoned, or its state was changed). It was cancelled; "
                f"refresh({row.thread_id!r}) asks again."
            )
            raise NotPendingError(msg)

    @staticmethod
    def _answer(row: RequestRow, decisions: list[Decision]) -> dict[str, Any]:
        """The resume value: one decision, or `{"decisions": [...]}` for a request with several actions."""
        if len(row.payload["action_requests"]) == 1:
            return dict(decisions[0])
        return {"decisions": [dict(d) for d in decisions]}

    def _claim(self, row: RequestRow, decisions: list[Decision], approver: str) -> RequestRow:
        """Pending -> deciding with the decision's audit rows and receipts: one transaction (G2, G9)."""
        with self.store.transaction():
            claimed = self.store.inbox.claim(row.request_id, self._answer(row, decisions), approver=approver)
            decided_at = iso(claimed.decided_at if claimed.decided_at is not None else self.clock())
            events = []
            # Several actions in one request carry their own ids (`hitl.action_ids`), as the node records them.
            ids = row.payload["hitl"].get("action_ids") or [row.action_id]
            for i, (decision, asked) in enumerate(
                zip(decisions, row.payload["action_requests"], strict=False)
            ):
                kind = decision["type"]
                action_id = ids[i] if i < len(ids) else f"{row.action_id}#{i}"
                receipt = self._receipt(row, i, decision, approver, decided_at)
                if kind == "edit" and receipt is not None:
                    action_id = receipt["digest"][:32]  # an edit approves the edited action, a new one (G9)
                events.append(
                    make_event(
                        DECISION_EVENTS[kind],
                        action_id=action_id,
                        actor=approver,
                        thread_id=row.thread_id,
                        action=dict(asked),
                        assessment=_gate_of(row),
                        request_id=row.request_id,
                        decision=_effect(row, kind),
                        ts=decided_at,
                        detail={
                            "message": decision.get("message"),
                            "node": row.node,
                            "stage": row.stage,
                            "edited_action": decision.get("edited_action"),
                            **({"receipt": receipt} if receipt is not None else {}),
                        },
                        event_id=decision_event_id(action_id, row.request_id, kind),
                    )
                )
            self.store.audit.append(events)
            self.store.inbox.mark_thread(row.thread_id, "in_flight", graph=self.name)
        return claimed

    def _release(self, claimed: RequestRow, exc: BaseException) -> None:
        """Put a claimed request back to pending, with a row saying its decision did not take effect (G11)."""
        kind = (claimed.decision or {}).get("type")
        with self.store.transaction():
            self.store.inbox.release(claimed.request_id)
            self.store.inbox.mark_thread(claimed.thread_id, "idle", graph=self.name)  # nothing runs it now
            self.store.audit.append([make_event(
                "refused", action_id=claimed.action_id, actor=claimed.decided_by or "unknown",
                thread_id=claimed.thread_id, action=dict(claimed.action), assessment=_gate_of(claimed),
                request_id=claimed.request_id, decision=str(kind) if kind else None, event_id=uuid.uuid4().hex,
                ts=iso(self.clock()), detail={"released": True, "error": _utf8(
                    f"the decision was not delivered ({type(exc).__name__}: {str(exc)[:500]}); "
                    "the request is pending again, and the receipt written with the claim does not count")},
            )])  # fmt: skip

    def _receipt(
        self, row: RequestRow, index: int, decision: Decision, approver: str, decided_at: str
    ) -> Receipt | None:
        """The receipt the node will keep for an approving decision (the same fields, the same MAC)."""
        hitl = row.payload["hitl"]
        calls = hitl.get("calls") or []
        if index >= len(calls):
            return None
        call = calls[index]
        kind = decision["type"]
        if kind not in ("approve", "edit") and not (kind == "timeout" and _effect(row, kind) == "approved"):
            return None  # only approvals (a soft gate's timeout included) are receipts
        edited = decision.get("edited_action")
        digest = (
            action_digest(edited, thread_id=row.thread_id, occurrence=call["occurrence"])
            if kind == "edit" and edited
            else call["digest"]
        )
        return issue(
            request_id=row.request_id,
            digest=digest,
            approver=approver,
            stage=row.stage,
            decision=kind,
            gate=call,
            decided_at=decided_at,
            thread_id=row.thread_id,
            occurrence=call["occurrence"],
            key=self.store.seal_key,
        )

    def _timeout_decision(self, row: RequestRow) -> list[Decision]:
        hitl = row.payload["hitl"]
        kind = "escalate" if hitl.get("on_timeout") == "escalate" else "timeout"
        one: Decision = {"type": kind, "approver": SYSTEM_TIMEOUT}  # type: ignore[typeddict-item]
        return [dict(one) for _ in row.payload["action_requests"]]  # type: ignore[misc]

    def _notify(self, method: str, *args: Any, **kwargs: Any) -> None:
        hook = getattr(self.notifier, method, None)
        if hook is None:
            return
        try:
            hook(*args, **kwargs)
        except Exception:  # a notification must never fail or block a run
            log.exception("notifier %s failed", method)

    # -- reading (the twins expose these as `pending`, `get`, `history`, `stats`; awaited in the async one) --

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
        if thread_id is not None and (not isinstance(thread_id, str) or not thread_id):
            msg = f"thread_id={thread_id!r}: give the thread's id, a non-empty string."
            raise ValueError(msg)
        if risk is not None and risk not in ("low", "medium", "high", "critical"):
            msg = f"risk={risk!r}. Allowed: low, medium, high, critical."
            raise ValueError(msg)
        who = canonical(approver, field="approver") if approver is not None else None
        rows, nxt = self.store.inbox.pending(
            approver=who, risk=risk, limit=limit, cursor=cursor, thread_id=thread_id
        )
        return Page([PendingRequest.from_row(r) for r in rows], nxt)

    def _thread_request(self, thread_id: str, interrupt_id: str | None) -> str:
        """The request id the thread waits on, for `resume()`: its one pending request, or the one
        `interrupt_id` names.

        Raises:
            NotPendingError: The thread is unknown, finished, or waits on nothing (or not on `interrupt_id`).
            DecisionError: It waits on several requests and `interrupt_id` names none of them.
        """
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
        return PendingRequest.from_row(self._row(request_id))

    def _read_history(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's audit events, oldest first."""
        return self.store.audit.query(thread_id=thread_id)

    def _read_stats(self, **kwargs: Any) -> Any:
        """Approval metrics per gate, action and approver (see `store.metrics.compute_stats`)."""
        from .store.metrics import compute_stats

        return compute_stats(self.store.backend, **kwargs)
