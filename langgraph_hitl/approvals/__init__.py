"""The runners: `Approvals` (sync) and `AsyncApprovals` (asyncio), one set of operations for both.

- `flow`: the operations (start, decide, resume, refresh, expire, recover), written once as
  generators of effects;
- `sync` / `aio`: the two runners, which perform those effects with plain calls or awaited
  (`drive`);
- `core`: the steps on the store they share (checks, index, claim, release), `receipting` what a
  claim writes, `answered` who really answered (a plain resume racing the runner), and `reading`
  the reads; `options` checks what callers pass; `graphs` reads the graph's snapshots;
- `langgraph_server`: `ServerInbox`, the client of LangGraph Server (`server_requests` its
  helpers), and `ended_reviews`: `record_ended_reviews`;
- `models`: what they return (no LangGraph import, so the CLI's reading commands use it too);
  `streams`: `RunStream` and `AsyncRunStream`.

Names are imported on first use, so `from langgraph_hitl.approvals.models import PendingRequest`
does not import LangGraph.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Approvals": "sync",
    "AsyncApprovals": "aio",
    "AsyncRunStream": "streams",
    "Page": "models",
    "PendingRequest": "models",
    "RecoveryReport": "models",
    "RunResult": "models",
    "RunStream": "streams",
}

__all__ = [
    "Approvals",
    "AsyncApprovals",
    "AsyncRunStream",
    "Page",
    "PendingRequest",
    "RecoveryReport",
    "RunResult",
    "RunStream",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'langgraph_hitl.approvals' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .aio import AsyncApprovals
    from .models import Page, PendingRequest, RecoveryReport, RunResult
    from .streams import AsyncRunStream, RunStream
    from .sync import Approvals
