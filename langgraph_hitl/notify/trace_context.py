"""W3C trace context for webhook deliveries: the span active when an event happens goes with it.

When the runner calls a notifier hook inside an OpenTelemetry span, the delivery carries that
span's `traceparent` (and `tracestate`, baggage, whatever the global propagator injects), taken
when the event is enqueued, so the receiver's work joins the trace of the run that caused it,
however late the worker thread posts it. Without OpenTelemetry, or with no span active, no
header is added, and OpenTelemetry is never imported here: if the application has not imported
it, no span can be active.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["trace_headers"]

logger = logging.getLogger("langgraph_hitl.notify")


def trace_headers() -> dict[str, str]:
    """The current span's propagation headers (`traceparent`, ...), or `{}` without one; never raises.

    Example:
        >>> trace_headers()  # no span is active here
        {}
    """
    if "opentelemetry.trace" not in sys.modules:
        return {}
    try:
        from opentelemetry import propagate, trace

        if not trace.get_current_span().get_span_context().is_valid:
            return {}
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return carrier
    except Exception:  # tracing is an aid; it must never cost a delivery
        logger.debug("No trace context for a webhook delivery.", exc_info=True)
        return {}
