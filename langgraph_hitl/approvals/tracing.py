"""The runner's spans (see `telemetry` for what is emitted and how to turn it on).

`operation` wraps a runner call that runs the graph (`hitl.start`, `hitl.refresh`,
`hitl.recover`): the gate and execute spans of that run are its children, the questions it
indexes carry its `traceparent`, and it is the current span while notifier hooks are called.

`reviewed` (a context manager) is the review span of one claimed request: its parent is the context stored with the
request (so a decision made in another process, a day later, continues the trace of the run that
asked), its start is when the question was indexed, its `hitl.decision` event is when the decision
was accepted and by whom. It is current while the decision is delivered (the resumed run's spans
are its children) and while `on_decision` / `on_timeout` are called.

Both keep their span's context attached while the flow goes on, across its yields: a runner's
call drives its flow in one context (a stream in its own, see `RunStream`), so the span is
never left current in the caller's code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from .. import telemetry
from ..store.inbox import RequestRow
from ..types import Decision
from .receipting import effect_of

__all__ = ["operation", "review_span", "reviewed"]


def operation(core: Any, name: str, flow: Any, *, thread_id: str | None = None) -> Any:
    """Run `flow` inside a `hitl.{name}` span when tracing is on; else just run it."""
    traced = telemetry.tracer(getattr(core, "tracer_provider", None))
    if traced is None:
        return (yield from flow)
    values = {"gen_ai.conversation.id": thread_id, "hitl.graph": getattr(core, "name", None) or None}
    with traced.start_as_current_span(
        f"hitl.{name}",
        attributes=telemetry.attributes_of(values),
        record_exception=False,
        set_status_on_exception=False,  # else the SDK writes the error's message as the status: `_error`
    ) as span:
        try:
            result = yield from flow
        except Exception as exc:
            _error(span, exc)
            raise
        status = getattr(result, "status", None)
        if isinstance(status, str):
            span.set_attribute("hitl.status", status)
        return result


@contextmanager
def reviewed(core: Any, claimed: RequestRow, decisions: Sequence[Decision]) -> Iterator[None]:
    """The review span of `claimed`, current inside the block (which delivers `decisions`)."""
    traced = telemetry.tracer(getattr(core, "tracer_provider", None))
    if traced is None:
        yield
        return
    span = review_span(traced, claimed, decisions)
    api = telemetry.trace_api()
    with api.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        try:
            yield
        except Exception as exc:
            span.set_attribute("hitl.delivered", False)
            _error(span, exc)
            raise


def review_span(traced: Any, claimed: RequestRow, decisions: Sequence[Decision]) -> Any:
    """Start the review span of `claimed` (not ended, not current), with its decision event."""
    api = telemetry.trace_api()
    current = api.get_current_span().get_span_context()
    parent = telemetry.parent_context(claimed.traceparent)
    # The caller's own span (a web request, a CLI command) is linked, when the trace is the request's.
    links = [api.Link(current)] if parent is not None and current.is_valid else None
    kinds = [str(d.get("type")) for d in decisions]
    effects = [effect_of(claimed, k) if k in _KNOWN else k for k in kinds]
    hitl: Mapping[str, Any] = claimed.payload.get("hitl") or {}
    outcome = effects[0] if len(set(effects)) == 1 else "mixed"
    values = {
        "gen_ai.tool.name": claimed.action_name,
        "gen_ai.conversation.id": claimed.thread_id,
        "hitl.request_id": claimed.request_id,
        "hitl.action_id": claimed.action_id,
        "hitl.action_digest": hitl.get("digest"),
        "hitl.node": claimed.node,
        "hitl.stage": claimed.stage,
        "hitl.risk": claimed.risk,
        "hitl.reversibility": hitl.get("reversibility"),
        "hitl.gate_mode": hitl.get("mode"),
        "hitl.policy_version": hitl.get("policy_version"),
        "hitl.escalation_level": hitl.get("escalation_level"),
        "hitl.approver": claimed.decided_by,
        "hitl.decision": kinds[0] if len(set(kinds)) == 1 else "mixed",
        "hitl.decisions": kinds if len(kinds) > 1 else None,
        "hitl.outcome": outcome,
        "hitl.executed": False if all(e in _NOT_RUN for e in effects) else None,
    }
    span = traced.start_span(
        f"hitl.review {claimed.action_name}",
        context=parent,
        links=links,
        attributes=telemetry.attributes_of(values),
        start_time=telemetry.epoch_ns(claimed.created_at),
    )
    event = {
        "hitl.approver": claimed.decided_by,
        "hitl.decision": values["hitl.decision"],
        "hitl.outcome": outcome,
    }
    span.add_event(
        "hitl.decision",
        attributes=telemetry.attributes_of(event),
        timestamp=telemetry.epoch_ns(claimed.decided_at),
    )
    return span


_KNOWN = frozenset({"approve", "edit", "reject", "respond", "revise", "timeout", "escalate"})
_NOT_RUN = frozenset({"rejected", "timed_out", "responded", "revision_requested"})
"""Effects after which the action under review does not run (`hitl.executed=false`)."""


def _error(span: Any, exc: BaseException) -> None:
    """Mark `span` failed with the error's type only (messages may quote an action's arguments)."""
    api = telemetry.trace_api()
    span.set_attribute("error.type", type(exc).__qualname__)
    span.set_status(api.Status(api.StatusCode.ERROR, type(exc).__qualname__))
