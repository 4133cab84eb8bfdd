"""The runners: `Approvals` (sync) and `AsyncApprovals` (asyncio), one set of operations for both.

- `flow`: the operations (start, decide, resume, refresh, expire, recover), written once as
  generators of effects;
- `sync` / `aio`: the two runners, which perform those effects with plain calls or awaited;
- `core`: the steps on the store they share (checks, index, claim, receipts, release), and
  `reading` the reads; `options` checks what callers pass; `graphs` reads the graph's snapshots;
- `models`: what they return; `streams`: `RunStream` and `AsyncRunStream`.
"""

from __future__ import annotations

from .aio import AsyncApprovals
from .models import Page, PendingRequest, RecoveryReport, RunResult
from .streams import AsyncRunStream, RunStream
from .sync import Approvals

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
