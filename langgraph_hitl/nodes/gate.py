"""`ClassifyAndGateNode` and `risk_condition`: assess the proposed action and route it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig

from .._events import make_event
from ..decisions import MAX_ARGS_BYTES, args_problem
from ..errors import PolicyError
from ..policy import Policy
from ..policy_engine import assess_for
from ..receipts import action_digest, seal
from ..telemetry import traced_gate
from ..types import ActionRequest, Assessment, AuditEvent
from ._common import as_store, event_time, seal_key_of, step_key, thread_id_of
from ._halted import halt_over, harden
from ._view import view
from .authorization import requester_of
from .shadow_gate import observe

__all__ = ["ClassifyAndGateNode", "risk_condition"]


def _malformed(action: Any, action_key: str, max_args_bytes: int) -> str | None:
    if not isinstance(action, dict):
        return f"state[{action_key!r}] is {type(action).__name__}, not an action {{'name': ..., 'args': {{...}}}}"
    name, args = action.get("name"), action.get("args")
    if not isinstance(name, str) or not name or len(name) > 200 or args_problem({"n": name}, where="name"):
        return (
            f"state[{action_key!r}]['name'] is {ascii(name)[:80]}; it must be the action's name (plain text)"
        )
    if not isinstance(args, dict):
        return f"state[{action_key!r}]['args'] is {type(args).__name__}; it must be a JSON object"
    return args_problem(args, where=f"state[{action_key!r}]['args']", max_bytes=max_args_bytes)


class ClassifyAndGateNode:
    """Assess the action in state with a `Policy` and record what the gate decided.

    Writes `action_occurrence` (this step), `action_id` (from the action's digest), the
    sealed `assessment` (bound to the digest), `status` (`approved` for auto/notify gates, `denied`
    for deny, `proposed` when a person must decide) and the `proposed` plus
    `auto_approved` / `notified` / `denied` audit events. Follow it with `risk_condition`.

    Args:
        policy: The policy to assess with.
        action_key: The state key holding the proposed action.
        confidence_key: The state key holding the model's confidence, for confidence bands.
        requested_by: Who proposes actions when state has no `requested_by` (the agent's name).
        name: The node's name in the graph (used in audit events).
        store: Where the seal key comes from when no runner drives the graph (a `Store` from
            `open_store(url)`, the same as `ExecuteNode`'s; a URL is refused).
        max_args_bytes: The largest arguments accepted, as canonical JSON (default 256 KB, as for
            edits). A larger action is denied and replaced in state by its name with empty args,
            so later checkpoints do not carry it; pass a reference (an id, a URL) instead.
        executable: The action names that have a handler (`add_approval_flow` passes its
            handlers'); any other action is denied before a person is asked about it.
        shadow_policy: A candidate policy assessed beside `policy` on every proposal, never routing;
            each difference is a `shadow_differs` audit event (see `shadow`). Default: the runner's.

    Example:
        ```python
        builder.add_node("classify_and_gate", ClassifyAndGateNode(policy))
        builder.add_conditional_edges("classify_and_gate", risk_condition)
        ```
    """

    def __init__(
        self,
        policy: Policy,
        *,
        action_key: str = "action",
        confidence_key: str = "confidence",
        requested_by: str = "agent",
        name: str = "classify_and_gate",
        store: Any = None,
        max_args_bytes: int = MAX_ARGS_BYTES,
        executable: Collection[str] | None = None,
        shadow_policy: Policy | None = None,
    ) -> None:
        if not isinstance(policy, Policy):
            msg = f"ClassifyAndGateNode needs a Policy, got {type(policy).__name__}. Build one with Policy({{...}})."
            raise PolicyError(msg)
        if shadow_policy is not None and not isinstance(shadow_policy, Policy):
            msg = f"shadow_policy is a {type(shadow_policy).__name__}; pass the candidate Policy, or None."
            raise PolicyError(msg)
        self.policy = policy
        self.action_key = action_key
        self.confidence_key = confidence_key
        self.requested_by = requested_by
        self.name = name
        self.store = as_store(store, where="store")
        if not isinstance(max_args_bytes, int) or max_args_bytes < 1:
            msg = f"max_args_bytes={max_args_bytes!r}; use a positive number of bytes."
            raise PolicyError(msg)
        self.max_args_bytes = max_args_bytes
        self.executable = None if executable is None else frozenset(executable)
        self.shadow_policy = shadow_policy

    @traced_gate  # a span per call when OpenTelemetry is configured (see `telemetry`)
    def __call__(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        state = view(state)  # type: ignore[assignment]  # TypedDict, pydantic or dataclass state
        thread_id = thread_id_of(config)
        ts = event_time(config)
        action, assessment = self._assess(state)
        observe(  # shadow mode: audits what a candidate policy would decide; never changes the run
            self.shadow_policy, config, self.store, action=action, enforced=assessment, node=self.name,
            confidence=_confidence(state.get(self.confidence_key)),
            requester=state.get("requested_by") or self.requested_by,
        )  # fmt: skip
        halt = halt_over(self.store, config, action["name"], thread_id)
        if halt is not None:  # the stop switch: nothing is auto-approved under a halt
            assessment = harden(assessment, halt)
        occurrence = step_key(config, self.name)
        digest = action_digest(action, thread_id=thread_id, occurrence=occurrence)
        action_id = digest[:32]
        key = seal_key_of(config, self.store)
        requester = state.get("requested_by") or self.requested_by
        # The proposer is sealed with the gate: rewriting `requested_by` later cannot unlock self-approval.
        proposer = requester_of({"requested_by": requester})
        assessment = seal(  # type: ignore[assignment]
            {**assessment, "digest": digest, "occurrence": occurrence, "requested_by": proposer}, key
        )
        status, events = _gate_events(
            action, assessment, action_id=action_id, requester=requester, thread_id=thread_id, ts=ts,
            confidence=_confidence(state.get(self.confidence_key)),
        )  # fmt: skip
        return {
            "action": action,
            "action_id": action_id,
            "action_occurrence": occurrence,
            "assessment": assessment,
            "status": status,
            "review_message": None,
            "result": None,
            "requested_by": requester,
            "audit_trail": [seal(e, key) for e in events],
        }

    def _assess(self, state: Mapping[str, Any]) -> tuple[ActionRequest, Assessment]:
        """The action in state as the gate keeps it, and its assessment (not yet sealed).

        A malformed action is kept as its name with empty args and denied; so is an action no
        handler runs.
        """
        raw: Any = state.get(self.action_key)
        problem = _malformed(raw, self.action_key, self.max_args_bytes)
        if problem is not None:
            action: ActionRequest = {
                "name": str(raw.get("name")) if isinstance(raw, dict) else "<malformed>",
                "args": {},
            }
            return action, self._denied(action, problem)
        action = {"name": raw["name"], "args": raw["args"]}
        if isinstance(raw.get("description"), str):
            action["description"] = raw["description"]
        if self.executable is not None and action["name"] not in self.executable:
            known = ", ".join(sorted(self.executable)) or "none"
            # Nobody is asked to approve what cannot run: the answer would be wasted.
            return action, self._denied(action, f"no handler for {action['name']!r} (handlers: {known})")
        confidence = _confidence(state.get(self.confidence_key))
        requester = state.get("requested_by") or self.requested_by  # an engine's principal
        return action, assess_for(self.policy, action, confidence=confidence, requester=requester)

    def _denied(self, action: ActionRequest, problem: str) -> Assessment:
        return {
            "action_name": action["name"],
            "args_hash": "",
            "risk": "critical",
            "reversibility": "irreversible_high",
            "mode": "deny",
            "reasons": [f"malformed action, denied (fail closed): {problem}"],
            "required_approvals": 0,
            "approvers": None,
            "escalation": [],
            "timeout_s": None,
            "on_timeout": "reject",
            "allowed_decisions": ["reject"],
            "verify_phrase": None,
            "impact": "Not run.",
            "policy_version": self.policy.version,
        }


def _confidence(value: Any) -> float | None:
    """The model's confidence, when it is a number in [0, 1]; anything else is no confidence."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        return None
    return value


def _gate_events(
    action: ActionRequest,
    assessment: Assessment,
    *,
    action_id: str,
    requester: str,
    thread_id: str | None,
    ts: str,
    confidence: float | None = None,
) -> tuple[str, list[AuditEvent]]:
    """The status the gate leaves, and its audit events: `proposed` (with the approvals needed and
    the confidence the gate was given, so `policy backtest` replays it faithfully), then what the
    gate did about it."""
    mode = assessment["mode"]

    def event(
        name: str, actor: str, *, decision: str | None = None, detail: dict[str, Any] | None = None
    ) -> AuditEvent:
        return make_event(
            name,
            action_id=action_id,
            actor=actor,
            thread_id=thread_id,
            action=dict(action),
            assessment=dict(assessment),
            decision=decision,
            detail=detail,
            ts=ts,
        )

    proposed: dict[str, Any] = {
        "mode": mode,
        "reasons": assessment["reasons"],
        "required_approvals": assessment["required_approvals"],
    }
    if confidence is not None:
        proposed["confidence"] = confidence
    events = [event("proposed", requester, detail=proposed)]
    if mode in ("auto", "notify"):
        events.append(event("auto_approved" if mode == "auto" else "notified", "auto", decision="approved"))
        return "approved", events
    if mode == "deny":
        events.append(
            event("denied", "policy", decision="rejected", detail={"reasons": assessment["reasons"]})
        )
        return "denied", events
    return "proposed", events


def risk_condition(state: dict[str, Any]) -> Literal["execute", "review", "audit"]:
    """Route after the gate: `execute` (auto, notify), `review` (a person decides), `audit` (denied)."""
    state = view(state)  # type: ignore[assignment]  # TypedDict, pydantic or dataclass state
    status = state.get("status")
    if status == "approved":
        return "execute"
    if status == "proposed":
        return "review"
    return "audit"
