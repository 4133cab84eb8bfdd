"""OpenTelemetry spans for gates, reviews and executions: opt-in, and nearly free when off.

Spans are emitted only when OpenTelemetry is configured in the process: a tracer provider set
globally (`opentelemetry.trace.set_tracer_provider`, the OpenTelemetry idiom) or given to one
runner (`hitl.tracer_provider = provider`, which its graph's nodes then use too). The package
never imports `opentelemetry` itself: it looks in `sys.modules`, so with the API not installed,
not imported, or imported without a provider, each node pays a dictionary lookup and no more.

What is emitted (names and attributes follow the OpenTelemetry GenAI conventions where they
have one, `hitl.*` otherwise):
- `hitl.gate {tool}`: one per gate assessment (`ClassifyAndGateNode`).
- `hitl.review {tool}`: one per review, from the question (its start time is when the request
  was indexed) to the decision delivered to the graph; the `hitl.decision` event marks when the
  decision was accepted, and names the decider. Emitted by the runner, which knows both ends
  (see `approvals.tracing`).
- `execute_tool {tool}`: one per execution (`ExecuteNode`), current while the handler runs, so
  the handler's own spans are its children.
- `hitl.start`, `hitl.refresh`, `hitl.recover`: the runner's calls that run a graph.
An action that did not run says so: `hitl.executed=false` and `hitl.outcome` (`denied` on the
gate span; `rejected`, `timed_out`, `responded`, `revision_requested` on the review span;
`refused` or `failed` on the execute span). No span carries an action's arguments, a handler's
result or an error message: only digests, ids, names and the error's type.

Trace context crosses processes with the request: the runner stores the W3C `traceparent` of the
span current when it indexes a question (`hitl_requests.traceparent`), and the review span made
when someone decides, in any process, is its child.
"""

from __future__ import annotations

import functools
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

__all__ = [
    "TRACER_NAME",
    "active",
    "attributes_of",
    "current_traceparent",
    "parent_context",
    "traced_execution",
    "traced_gate",
    "tracer",
]

TRACER_NAME = "langgraph_hitl"
"""The instrumentation scope of every span the package emits."""

_F = TypeVar("_F", bound=Callable[..., Any])
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
"""The W3C `traceparent` the runner writes (version 00); anything else read back is ignored."""
_cache: tuple[Any, Any] = (None, None)
"""(provider, tracer): the last tracer made, so a node does not ask its provider every time."""


def trace_api() -> Any:
    """`opentelemetry.trace` when something in the process imported it, else None (never imports it)."""
    return sys.modules.get("opentelemetry.trace")


def tracer(provider: Any = None) -> Any:
    """The package's tracer from `provider` (None: the global one), or None when tracing is off.

    Off means: OpenTelemetry's API is not imported, or no provider is configured (the global one
    is still OpenTelemetry's proxy or no-op provider).
    """
    global _cache
    api = trace_api()
    if api is None:
        return None
    if provider is None:
        provider = api.get_tracer_provider()
        if isinstance(provider, (api.ProxyTracerProvider, api.NoOpTracerProvider)):
            return None
    cached_provider, cached = _cache
    if cached_provider is provider:
        return cached
    version = getattr(sys.modules.get("langgraph_hitl"), "__version__", None)
    made = provider.get_tracer(TRACER_NAME, version)
    _cache = (provider, made)
    return made


def active(config: Any) -> Any:
    """The tracer for a node run with `config` (the runner's provider, if it set one), or None."""
    if trace_api() is None:
        return None
    conf = config.get("configurable") if isinstance(config, Mapping) else None
    provider = conf.get("hitl_tracer_provider") if isinstance(conf, Mapping) else None
    if provider is not None and not callable(getattr(provider, "get_tracer", None)):
        provider = None  # not a provider (a value a remote client put in the config): the global one
    return tracer(provider)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, or None when there is none (or no OpenTelemetry)."""
    api = trace_api()
    if api is None:
        return None
    ctx = api.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags) & 0xFF:02x}"


def parent_context(traceparent: Any) -> Any:
    """An OpenTelemetry context whose span is the remote one `traceparent` names, or None.

    The value comes from the database, so anything but a well-formed version-00 traceparent
    with non-zero ids (garbage, a huge string, NUL, another type) is ignored: a decision is
    never refused, nor its span lost, because of what this column holds.
    """
    api = trace_api()
    if api is None or not isinstance(traceparent, str) or len(traceparent) != 55:
        return None
    match = _TRACEPARENT.fullmatch(traceparent)
    if match is None:
        return None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if not trace_id or not span_id:
        return None
    remote = api.SpanContext(
        trace_id=trace_id, span_id=span_id, is_remote=True, trace_flags=api.TraceFlags(int(match[3], 16))
    )
    return api.set_span_in_context(api.NonRecordingSpan(remote))


def epoch_ns(seconds: Any) -> int:
    """A timestamp for a span, from epoch seconds (the store's clock), never in the future."""
    now = time.time_ns()
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        return now
    return min(int(seconds * 1_000_000_000), now)


def attributes_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` without the Nones, each a type OpenTelemetry accepts (str, bool, int, float, or a
    list of str), long text cut to 256 characters."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float):
            out[key] = value
        elif isinstance(value, list | tuple):
            out[key] = [str(v)[:256] for v in value]
        else:
            out[key] = str(value)[:256]
    return out


def _field(state: Any, key: str) -> Any:
    """`state[key]` for a dict state, the attribute for a pydantic or dataclass state."""
    if isinstance(state, Mapping):
        return state.get(key)
    return getattr(state, key, None)


def _thread(config: Any) -> Any:
    conf = config.get("configurable") if isinstance(config, Mapping) else None
    return conf.get("thread_id") if isinstance(conf, Mapping) else None


# -- the gate ---------------------------------------------------------------------------------------------


def traced_gate(call: _F) -> _F:
    """Wrap `ClassifyAndGateNode.__call__`: a `hitl.gate {tool}` span per assessment, made from
    the node's own update (the sealed assessment), so the node's code is unchanged."""

    @functools.wraps(call)
    def run(node: Any, state: Any, config: Any) -> Any:
        traced = active(config)
        if traced is None:
            return call(node, state, config)
        began = time.time_ns()
        try:
            update = call(node, state, config)
        except Exception as exc:
            _failed_span(traced, f"hitl.gate {getattr(node, 'name', '')}", began, exc)
            raise
        try:
            _gate_span(traced, node, update, config, began)
        except Exception:  # telemetry never fails a run
            pass
        return update

    return cast(_F, run)


def _gate_span(traced: Any, node: Any, update: Mapping[str, Any], config: Any, began: int) -> None:
    action, gate = update.get("action") or {}, update.get("assessment") or {}
    status = update.get("status")
    name = str(action.get("name") or "")[:200]
    denied = status == "denied"
    values = {
        "gen_ai.tool.name": name,
        "gen_ai.conversation.id": _thread(config),
        "hitl.node": getattr(node, "name", None),
        "hitl.action_id": update.get("action_id"),
        "hitl.action_digest": gate.get("digest"),
        "hitl.risk": gate.get("risk"),
        "hitl.reversibility": gate.get("reversibility"),
        "hitl.gate_mode": gate.get("mode"),
        "hitl.required_approvals": gate.get("required_approvals"),
        "hitl.policy_version": gate.get("policy_version"),
        "hitl.status": status,
        "hitl.executed": False if denied else None,
        "hitl.outcome": "denied" if denied else None,
    }
    span = traced.start_span(f"hitl.gate {name}", attributes=attributes_of(values), start_time=began)
    span.end()


def _failed_span(traced: Any, name: str, began: int, exc: BaseException) -> None:
    """A span for a node call that raised (a bug or a bad policy): its error type, never its message."""
    try:
        span = traced.start_span(name, start_time=began, attributes={"error.type": type(exc).__qualname__})
        span.set_status(trace_api().Status(trace_api().StatusCode.ERROR, type(exc).__qualname__))
        span.end()
    except Exception:  # telemetry never hides the node's own error
        pass


# -- the execution ----------------------------------------------------------------------------------------


def traced_execution(call: _F) -> _F:
    """Wrap `ExecuteNode.__call__`: an `execute_tool {tool}` span per execution, current while the
    handler runs; nothing when the action in state is not approved (the node does nothing then)."""

    @functools.wraps(call)
    def run(node: Any, state: Any, config: Any) -> Any:
        traced = active(config)
        action = _field(state, getattr(node, "action_key", "action")) if traced is not None else None
        if traced is None or _field(state, "status") != "approved" or not isinstance(action, Mapping):
            return call(node, state, config)
        name = str(action.get("name") or "")[:200]
        gate = _field(state, "assessment")
        gate = gate if isinstance(gate, Mapping) else {}
        values = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "function",
            "gen_ai.conversation.id": _thread(config),
            "hitl.node": getattr(node, "name", None),
            "hitl.gate_mode": gate.get("mode"),
            "hitl.required_approvals": gate.get("required_approvals"),
        }
        api = trace_api()
        with traced.start_as_current_span(
            f"execute_tool {name}",
            kind=api.SpanKind.INTERNAL,
            attributes=attributes_of(values),
            record_exception=False,  # an exception's message may quote the arguments
            set_status_on_exception=False,  # (the SDK would write it as the status); set below
        ) as span:
            try:
                update = call(node, state, config)
            except Exception as exc:
                span.set_attributes({"error.type": type(exc).__qualname__, "hitl.executed": False})
                span.set_status(api.Status(api.StatusCode.ERROR, type(exc).__qualname__))
                raise
            try:
                _executed(span, api, update, gate)
            except Exception:  # telemetry never fails a run
                pass
            return update

    return cast(_F, run)


def _executed(span: Any, api: Any, update: Mapping[str, Any], gate: Mapping[str, Any]) -> None:
    """Set what the execution came to, from the node's own (sealed) audit event; the receipts
    bound the gate's digest when the action ran (the node checks that they do)."""
    trail = update.get("audit_trail") or [{}]
    event = trail[-1] if isinstance(trail[-1], Mapping) else {}
    found = event.get("detail")
    detail: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    status = update.get("status")
    outcome = {"executed": "executed", "failed": "failed"}.get(str(status), "refused")
    values: dict[str, Any] = {
        "gen_ai.tool.call.id": event.get("action_id"),
        "hitl.action_id": event.get("action_id"),
        "hitl.risk": event.get("risk"),
        "hitl.reversibility": event.get("reversibility"),
        "hitl.policy_version": event.get("policy_version"),
        "hitl.executed": status == "executed",
        "hitl.outcome": outcome,
        "hitl.replayed": bool(detail.get("replayed")) or None,
        "hitl.refusal_reason": detail.get("reason") if outcome == "refused" else None,
        "hitl.approver": detail.get("receipts") if isinstance(detail.get("receipts"), list) else None,
        "hitl.receipt_digest": gate.get("digest") if status == "executed" else None,
    }
    span.set_attributes(attributes_of(values))
    if outcome == "failed":
        error = str(detail.get("error") or "")
        kind = error.split(":", 1)[0] if ":" in error else "failed"
        span.set_attribute("error.type", kind[:100] if kind.isidentifier() else "failed")
        span.set_status(api.Status(api.StatusCode.ERROR, "the handler did not complete"))
