"""What a halt (the stop switch, `store.halts`) does to a gate: every gate under it is hard.

`ClassifyAndGateNode` asks the store for a halt covering the action it assesses. Under one,
nothing is auto-approved (auto, notify and soft gates become hard), no timeout approves, and the
halt is the first reason a reviewer reads. The handler still does not start while the halt is
on (`Ledger.begin` refuses it); an approval given meanwhile runs once the halt is lifted.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from ..policy import MODE_ORDER
from ..types import Assessment
from ._common import resolve_store

__all__ = ["halt_over", "harden"]


def halt_over(explicit_store: Any, config: RunnableConfig | None, action: str, thread_id: str | None) -> Any:
    """The active halt covering `action` on `thread_id`, or None (also when no store is at hand)."""
    store = resolve_store(explicit_store, config)
    halts = getattr(store, "halts", None)
    if halts is None:
        return None
    return halts.blocking(action=action, thread_id=thread_id)


def harden(assessment: Assessment, halt: Any) -> Assessment:
    """`assessment` as a hard gate (at least), rejecting on timeout, with the halt as its first reason."""
    mode = assessment["mode"]
    if MODE_ORDER[mode] >= MODE_ORDER["hard"]:
        hardened = mode
    else:
        hardened = "hard"
    reasons = [
        f"{halt.describe()}: every gate under it is hard, and nothing runs until it is lifted",
        *assessment["reasons"],
    ]
    return {
        **assessment,
        "mode": hardened,
        "reasons": reasons,
        "on_timeout": "reject" if assessment["on_timeout"] == "approve" else assessment["on_timeout"],
        "required_approvals": max(1, assessment["required_approvals"]) if hardened != "deny" else 0,
    }
