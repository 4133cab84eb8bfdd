"""Whether an action may take effect: the sealed gate it is held to, who proposed it, its receipts.

The one execution rule is `authorize`: `ExecuteNode` runs a handler, and a pipeline stage or an
escalation level accepts a reviewed output, only when it gives no reason. A changed action is
held to a gate never softer than the authentic one before it (`gate_for`), and whoever proposed
it, as sealed by the gate and as named in state, may not approve it (`requesters`).
`nodes.review` re-exports all but `fixed_assessment`, its own fallback.
"""

from __future__ import annotations

from typing import Any, cast

from langchain_core.runnables import RunnableConfig

from .._canonical import args_hash
from ..errors import AuthorizationError
from ..identity import canonical_or_none
from ..policy import stricter
from ..receipts import Receipt, action_digest, counting, enough, seal, sealed
from ..types import ActionRequest, Assessment, DecisionRecord
from ._common import seal_key_of, thread_id_of

__all__ = [
    "authorize",
    "authorized_in",
    "bind_action",
    "fixed_assessment",
    "gate_for",
    "receipts_in",
    "requester_of",
    "requesters",
]


def fixed_assessment(action: ActionRequest) -> Assessment:
    """The assessment used when a review node runs without a gate before it (a fixed checkpoint)."""
    return {
        "action_name": action["name"],
        "args_hash": args_hash(action["args"]),
        "risk": "high",
        "reversibility": "irreversible_high",
        "mode": "hard",
        "reasons": ["fixed checkpoint: always reviewed"],
        "required_approvals": 1,
        "approvers": None,
        "escalation": [],
        "timeout_s": None,
        "on_timeout": "reject",
        "allowed_decisions": ["approve", "edit", "reject", "respond"],
        "verify_phrase": None,
        "impact": "Reviewed at a fixed checkpoint.",
        "policy_version": "fixed",
    }


def gate_for(old: Any, fresh: Assessment, *, why: str) -> Assessment:
    """The gate for a changed action: the fresh assessment, unless the old (authentic) one asks more."""
    if not isinstance(old, dict) or "mode" not in old or stricter(old, fresh):  # type: ignore[arg-type]
        return {**fresh, "reasons": [*fresh["reasons"], why]}
    kept: Any = {k: v for k, v in old.items() if k not in ("seal", "digest", "occurrence")}
    kept.update(
        action_name=fresh["action_name"], args_hash=fresh["args_hash"], reasons=[*old["reasons"], why]
    )
    return cast(Assessment, kept)


def bind_action(
    action: ActionRequest,
    assessment: Assessment,
    config: RunnableConfig | None,
    *,
    occurrence: str,
    requested_by: str,
    store: Any = None,
) -> dict[str, Any]:
    """The state keys that put `action` before a review node under `assessment` (G9).

    For nodes other than `ClassifyAndGateNode` that propose an action (pipeline stages,
    escalation levels): the action's id from its digest, its occurrence and the sealed assessment.
    """
    digest = action_digest(action, thread_id=thread_id_of(config), occurrence=occurrence)
    sealed_gate = seal(
        {
            **assessment,
            "digest": digest,
            "occurrence": occurrence,
            "requested_by": requester_of({"requested_by": requested_by}),
        },
        seal_key_of(config, store),
    )
    return {"action_id": digest[:32], "action_occurrence": occurrence, "assessment": sealed_gate}


def receipts_in(decisions: list[DecisionRecord]) -> list[Any]:
    """The receipts kept with the decisions in state."""
    return [r["receipt"] for r in decisions if r.get("receipt")]


def requester_of(state: dict[str, Any], default: str = "agent") -> str:
    """The canonical name of who proposed the action (kept as given if it is not a valid name)."""
    raw = state.get("requested_by") or default
    try:
        return canonical_or_none(raw, allow_system=True, field="requested_by") or default
    except AuthorizationError:
        return str(raw)


def requesters(state: dict[str, Any], assessment: Any) -> list[str]:
    """Who proposed the action: the name the gate sealed into its assessment, then the one in state.

    Both are excluded from approving it, so rewriting `requested_by` in state after the gate
    cannot let the requester approve their own action.
    """
    names: list[str] = []
    sealed_by = assessment.get("requested_by") if isinstance(assessment, dict) else None
    for raw in (sealed_by, state.get("requested_by") or "agent"):
        if not isinstance(raw, str) or not raw:
            continue
        try:
            name = canonical_or_none(raw, allow_system=True, field="requested_by") or raw
        except AuthorizationError:
            name = raw
        if name not in names:
            names.append(name)
    return names


def authorize(
    state: dict[str, Any], assessment: Any, digest: str, key: bytes | None
) -> tuple[list[Receipt], str | None]:
    """The receipts that let the action with `digest` take effect, or why it may not (G4, G9).

    The one execution rule: `ExecuteNode` runs a handler, and a pipeline stage or an escalation
    level accepts a reviewed output, only when this returns no reason.
    """
    if not isinstance(assessment, dict) or assessment.get("digest") != digest:
        return [], "the action is not the one that was assessed and approved (it changed); it is asked again"
    if not sealed(assessment, key):
        return [], "its assessment in state was not made by langgraph-hitl"
    if assessment.get("mode") in ("auto", "notify"):
        return [], None
    if assessment.get("mode") == "deny":
        return [], "the policy denies it"
    counted = counting(
        receipts_in(state.get("decisions") or []),
        digest=digest,
        gate=assessment,
        requester=requesters(state, assessment),
        key=key,
    )
    needed = max(1, int(assessment.get("required_approvals") or 1))
    if not enough(counted, needed):
        got = ", ".join(r["approver"] for r in counted) or "none"
        return counted, (
            f"it needs {needed} distinct approval(s) of exactly this action under its "
            f"{assessment.get('mode')} gate; valid receipts from: {got}"
        )
    return counted, None


def authorized_in(
    state: dict[str, Any], config: RunnableConfig | None, *, action_key: str = "action", store: Any = None
) -> str | None:
    """Why the action in state may not take effect now, or None (`authorize` on the state as it is)."""
    action = state.get(action_key)
    if not isinstance(action, dict):
        return "there is no action in state"
    occurrence = state.get("action_occurrence") or ""
    digest = action_digest(action, thread_id=thread_id_of(config), occurrence=occurrence)
    return authorize(state, state.get("assessment"), digest, seal_key_of(config, store))[1]
