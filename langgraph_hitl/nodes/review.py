"""`ReviewNode`, `SecondReviewNode` and `review_condition`: one question to a person, answered safely.

Each node calls `interrupt()` exactly once. Everything before it is derived from state, so a
re-run on resume asks the identical question. Nothing after it raises because of the
answer: an invalid answer is recorded as `refused` and the node is asked again through
`review_condition`, instead of wedging the thread (LangGraph replays a stored answer on
every later resume if the node raised after receiving it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt

from .._canonical import stable_id
from .._events import DECISION_EVENTS, decision_event_id, make_event
from ..decisions import DecisionBatchModel, DecisionModel, validate_decision
from ..errors import HITLError, PolicyError
from ..policy import Policy, stricter
from ..types import (
    DECISION_TYPES,
    ActionRequest,
    Assessment,
    Decision,
    DecisionRecord,
    OnTimeout,
    ReviewRequest,
)
from ._common import approvals_for, approvals_needed, event_time, step_key, thread_id_of

__all__ = ["ReviewNode", "SecondReviewNode", "review_condition"]

RESPONSE_SCHEMA: Any = DecisionModel | DecisionBatchModel


def _fixed_assessment(action: ActionRequest) -> Assessment:
    """The assessment used when a review node runs without a gate before it (a fixed checkpoint)."""
    from .._canonical import args_hash

    return {
        "action_name": action["name"], "args_hash": args_hash(action["args"]), "risk": "high",
        "reversibility": "irreversible_high", "mode": "hard", "reasons": ["fixed checkpoint: always reviewed"],
        "required_approvals": 1, "approvers": None, "escalation": [], "timeout_s": None, "on_timeout": "reject",
        "allowed_decisions": ["approve", "edit", "reject", "respond"], "verify_phrase": None,
        "impact": "Reviewed at a fixed checkpoint.", "policy_version": "fixed",
    }


class ReviewNode:
    """Ask a person to approve, edit, reject, respond to, or request revision of the action.

    Options given here override the assessment's for this node.

    Args:
        approvers: Who may decide (None: the assessment's approvers, else anyone but the requester).
        allowed_decisions: Decision types offered (default: the assessment's).
        timeout: Seconds before `on_timeout` applies (counted by the runner from indexing).
        on_timeout: `reject` (fail closed), `approve` (soft gates only) or `escalate`.
        stage: The stage number shown to reviewers (1 here, 2 for `SecondReviewNode`).
        policy: Re-assesses edited actions; an edit that needs a stricter gate is asked again.
            Without a policy every edit is reviewed again.
        name: The node's name in the graph.
        action_key: The state key holding the action.

    Example:
        ```python
        builder.add_node("review", ReviewNode(policy=policy, approvers=["alice", "bob"]))
        builder.add_conditional_edges("review", review_condition, {"revise": "plan", **defaults})
        ```
    """

    default_name = "review"
    default_stage = 1
    four_eyes = False

    def __init__(
        self,
        *,
        approvers: Sequence[str] | None = None,
        allowed_decisions: Sequence[str] | None = None,
        timeout: float | None = None,
        on_timeout: OnTimeout | None = None,
        stage: int | None = None,
        policy: Policy | None = None,
        name: str | None = None,
        action_key: str = "action",
    ) -> None:
        if approvers is not None and (isinstance(approvers, str) or not approvers):
            msg = f"approvers={approvers!r}; give a non-empty list of names, or None."
            raise PolicyError(msg)
        if allowed_decisions is not None:
            bad = [d for d in allowed_decisions if d not in DECISION_TYPES]
            if bad or "reject" not in allowed_decisions:
                msg = f"allowed_decisions={list(allowed_decisions)!r}; choose from {', '.join(DECISION_TYPES)}, including reject."
                raise PolicyError(msg)
        if timeout is not None and not timeout > 0:
            msg = f"timeout={timeout!r}; use a positive number of seconds or None."
            raise PolicyError(msg)
        if on_timeout is not None and on_timeout not in ("reject", "approve", "escalate"):
            msg = f"on_timeout={on_timeout!r}. Allowed: reject, approve, escalate."
            raise PolicyError(msg)
        self.approvers = list(approvers) if approvers is not None else None
        self.allowed_decisions = list(allowed_decisions) if allowed_decisions is not None else None
        self.timeout = timeout
        self.on_timeout = on_timeout
        self.stage = stage if stage is not None else self.default_stage
        self.policy = policy
        self.name = name or self.default_name
        self.action_key = action_key

    # -- before interrupt(): pure, derived from state -------------------------------------------------

    def build_request(self, state: dict[str, Any], config: RunnableConfig | None) -> ReviewRequest:
        """The exact question this node asks for `state` (deterministic)."""
        action: ActionRequest = state[self.action_key]
        assessment: Assessment = state.get("assessment") or _fixed_assessment(action)
        action_id: str = state.get("action_id") or stable_id(step_key(config, self.name), assessment["args_hash"])
        decisions: list[DecisionRecord] = state.get("decisions") or []
        mine = [r for r in decisions if r["action_id"] == action_id and r["node"] == self.name]
        level = sum(1 for r in mine if r["effect"] == "escalated")
        approvers = self.approvers if self.approvers is not None else assessment.get("approvers")
        if level:
            tiers = assessment.get("escalation") or []
            approvers = list(tiers[min(level, len(tiers)) - 1]) if tiers else approvers
        requester = state.get("requested_by") or "agent"
        exclude = [requester]
        if self.four_eyes:
            exclude += [a for a in approvals_for(decisions, action_id) if a not in exclude]
        allowed = self.allowed_decisions or list(assessment.get("allowed_decisions") or ["approve", "reject"])
        on_timeout: OnTimeout = self.on_timeout or assessment.get("on_timeout") or "reject"
        if on_timeout == "approve" and assessment["mode"] != "soft":
            on_timeout = "reject"
        if on_timeout == "escalate" and level >= len(assessment.get("escalation") or []):
            on_timeout = "reject"
        context = dict(state.get("hitl_context") or {})
        context.setdefault("earlier_actions", [
            {"action": e.get("action"), "event": e.get("event"), "actor": e.get("actor")}
            for e in (state.get("audit_trail") or [])[-6:] if e.get("action_id") != action_id
        ])
        return {
            "action_requests": [{"name": action["name"], "args": action["args"],
                                 "description": action.get("description") or _describe(action)}],
            "review_configs": [{"action_name": action["name"], "allowed_decisions": allowed}],
            "hitl": {
                "request_id": stable_id(action_id, self.name, len(mine)),
                "action_id": action_id,
                "node": self.name,
                "stage": self.stage,
                "risk": assessment["risk"],
                "reversibility": assessment["reversibility"],
                "mode": assessment["mode"],
                "reasons": list(assessment["reasons"]),
                "approvers": list(approvers) if approvers is not None else None,
                "exclude_approvers": exclude,
                "requested_by": requester,
                "timeout_s": self.timeout if self.timeout is not None else assessment.get("timeout_s"),
                "on_timeout": on_timeout,
                "verify_phrase": assessment.get("verify_phrase"),
                "impact": assessment.get("impact", ""),
                "context": context,
                "policy_version": assessment.get("policy_version", ""),
                "escalation_level": level,
            },
        }

    # -- the node --------------------------------------------------------------------------------------

    def __call__(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        request = self.build_request(state, config)
        answer = interrupt(request, response_schema=RESPONSE_SCHEMA)
        # From here on nothing may raise because of the answer.
        try:
            decision = validate_decision(answer, request)[0]
        except HITLError as exc:
            return self._refused(state, request, config, str(exc), answer)
        except Exception as exc:  # an answer that breaks validation itself is still just refused
            return self._refused(state, request, config, f"{type(exc).__name__}: {exc}", answer)
        try:
            return self._apply(state, request, decision, config)
        except Exception as exc:
            return self._refused(state, request, config, f"could not apply the decision: {exc}", answer)

    def _record(self, request: ReviewRequest, decision: Decision, effect: str, ts: str) -> DecisionRecord:
        hitl = request["hitl"]
        return {
            "request_id": hitl["request_id"], "action_id": hitl["action_id"], "node": self.name,
            "stage": hitl["stage"], "type": decision.get("type", "invalid"), "approver": decision.get("approver"),
            "message": decision.get("message"), "edited_action": decision.get("edited_action"),
            "effect": effect, "decided_at": ts,
        }

    def _event(self, state: dict[str, Any], request: ReviewRequest, decision: Decision, effect: str,
               config: RunnableConfig, detail: dict[str, Any] | None = None) -> dict[str, Any]:
        hitl = request["hitl"]
        kind = decision.get("type", "invalid")
        event = DECISION_EVENTS.get(kind, "refused")
        return dict(make_event(
            event, action_id=hitl["action_id"], actor=decision.get("approver") or "unknown",
            thread_id=thread_id_of(config), action=dict(state[self.action_key]),
            assessment=state.get("assessment"), request_id=hitl["request_id"], decision=effect,
            detail={"message": decision.get("message"), "node": self.name, "stage": hitl["stage"], **(detail or {})},
            event_id=decision_event_id(hitl["action_id"], hitl["request_id"], kind), ts=event_time(config),
        ))

    def _refused(self, state: dict[str, Any], request: ReviewRequest, config: RunnableConfig,
                 error: str, answer: Any) -> dict[str, Any]:
        approver = answer.get("approver") if isinstance(answer, dict) else None
        bad: Decision = {"type": "invalid", "approver": approver if isinstance(approver, str) else None,  # type: ignore[typeddict-item]
                         "message": error}
        return {"decisions": [self._record(request, bad, "refused", event_time(config))],
                "audit_trail": [self._event(state, request, bad, "refused", config)]}

    def _apply(self, state: dict[str, Any], request: ReviewRequest, decision: Decision,
               config: RunnableConfig) -> dict[str, Any]:
        kind = decision["type"]
        hitl = request["hitl"]
        update: dict[str, Any] = {"review_message": decision.get("message")}
        detail: dict[str, Any] = {}
        if kind == "approve":
            effect, update["status"] = "approved", "approved"
        elif kind == "edit":
            effect = self._apply_edit(state, decision, update, detail, config)
        elif kind == "reject":
            effect, update["status"] = "rejected", "rejected"
        elif kind == "respond":
            effect, update["status"] = "responded", "responded"
        elif kind == "revise":
            effect, update["status"] = "revision_requested", "revision_requested"
        elif kind == "escalate":
            effect, update["status"] = "escalated", "proposed"
        else:  # timeout
            if hitl["on_timeout"] == "approve":
                effect, update["status"] = "approved", "approved"
                decision = {**decision, "message": "approved on timeout (soft gate)"}
            else:
                effect, update["status"] = "timed_out", "timed_out"
        update["decisions"] = [self._record(request, decision, effect, event_time(config))]
        update["audit_trail"] = [self._event(state, request, decision, effect, config, detail)]
        return update

    def _apply_edit(self, state: dict[str, Any], decision: Decision, update: dict[str, Any],
                    detail: dict[str, Any], config: RunnableConfig) -> str:
        edited = decision["edited_action"]
        assert edited is not None
        old: Assessment = state.get("assessment") or _fixed_assessment(state[self.action_key])
        new_action: ActionRequest = {"name": edited["name"], "args": edited["args"]}
        description = state[self.action_key].get("description")
        if description:
            new_action["description"] = description
        update["action"] = new_action
        new: Any
        if self.policy is None:
            new = {**old, "action_name": new_action["name"], "reasons": ["edited without a policy: reviewed again"]}
            needs_review = True
        else:
            new = self.policy.assess(new_action)
            needs_review = stricter(old, new)
        detail["edited_to"] = {"name": new_action["name"], "args": new_action["args"]}
        if new["mode"] == "deny":
            update["assessment"] = new
            update["status"] = "denied"
            return "rejected"
        if needs_review:
            # The edited action needs more than this gate gave it: it is a new action, asked again.
            update["assessment"] = new
            update["action_id"] = stable_id(state.get("action_id"), "edit", len(state.get("decisions") or []))
            update["status"] = "proposed"
            detail["rereview"] = True
            return "rereview"
        update["assessment"] = {**old, "args_hash": new["args_hash"], "action_name": new["action_name"]}
        update["status"] = "approved"
        return "edited"


class SecondReviewNode(ReviewNode):
    """A second, different person approves (four-eyes) when the assessment needs two approvals.

    Excludes everyone who already approved this action and its requester; otherwise takes
    the same options as `ReviewNode`.
    """

    default_name = "second_review"
    default_stage = 2
    four_eyes = True


def _describe(action: ActionRequest) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in list(action["args"].items())[:6])
    return f"{action['name']}({args})"


def review_condition(
    state: dict[str, Any],
) -> Literal["review", "second_review", "execute", "audit", "revise"]:
    """Route after a review node.

    - `review` / `second_review`: ask again (an invalid answer, an escalation, an edit that
      needs a stricter gate) at the node that asked last;
    - `second_review`: approved, but the action needs another distinct approver;
    - `execute`: approved by enough people;
    - `revise`: the reviewer requested a revision (map it to your planning node);
    - `audit`: rejected, responded, timed out or denied.
    """
    status = state.get("status")
    decisions: list[DecisionRecord] = state.get("decisions") or []
    action_id = state.get("action_id", "")
    if status == "proposed":
        last = decisions[-1] if decisions else None
        if last is None or last["effect"] == "rereview":
            return "review"
        return "second_review" if last["stage"] == 2 else "review"
    if status == "approved":
        assessment = state.get("assessment") or {}
        if len(approvals_for(decisions, action_id)) < approvals_needed(assessment):  # type: ignore[arg-type]
            return "second_review"
        return "execute"
    if status == "revision_requested":
        return "revise"
    return "audit"

