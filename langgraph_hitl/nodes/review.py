"""`ReviewNode`, `SecondReviewNode` and `review_condition`: one question to a person, answered safely.

Each node calls `interrupt()` exactly once. Everything before it is derived from state, so a
re-run on resume asks the identical question. Nothing after it raises because of the
answer: an invalid answer is recorded as `refused` and the node is asked again through
`review_condition`, instead of wedging the thread (LangGraph replays a stored answer on
every later resume if the node raised after receiving it).

The question's parts are in `review_request.py`, what the node does with an answer in
`review_answer.py`, and the execution rule in `authorization.py` (`authorize`, re-exported
here with the helpers beside it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt
from pydantic import BaseModel

from .._canonical import stable_id
from ..answer_schema import INTERRUPT_SCHEMA
from ..decisions import call_rules
from ..errors import AuthorizationError, HITLError, PolicyError
from ..identity import as_recorded, canonical_list
from ..policy import Policy
from ..policy_engine import assess_for
from ..receipts import action_digest, counting, enough, seal, sealed
from ..rubber_stamp import rule_for, validate_reviewed
from ..types import (
    DECISION_TYPES,
    ActionRequest,
    Assessment,
    DecisionRecord,
    HITLContext,
    OnTimeout,
    ReviewRequest,
)
from ._agent_inbox import agent_inbox_view, on_langgraph_server
from ._common import as_store, decider_of, runner_store, seal_key_of, step_key, thread_id_of
from ._view import view
from .authorization import (
    authorize,
    authorized_in,
    bind_action,
    fixed_assessment,
    gate_for,
    receipts_in,
    requester_of,
    requesters,
)
from .review_answer import answered, refused
from .review_request import (
    deciders,
    earlier_approvers,
    last_refusal,
    review_request,
    shown_context,
    timeout_rule,
)

__all__ = [
    "ReviewNode",
    "SecondReviewNode",
    "authorize",
    "authorized_in",
    "bind_action",
    "gate_for",
    "receipts_in",
    "requester_of",
    "requesters",
    "review_condition",
]


class ReviewNode:
    """Ask a person to approve, edit, reject, respond to, or request revision of the action.

    Options given here override the assessment's for this node. The node computes the
    action's digest itself (G9): if the action in state is not the one the gate assessed
    (changed with `update_state`, or no gate ran before this node), it is assessed afresh and
    asked about under a new request id, never under the old, possibly softer, gate.

    Who answered comes from the run's config, never from the answer (see `decider_of`):
    `Approvals` passes it, LangGraph Server passes its authenticated user.

    Args:
        approvers: Who may decide (None: the assessment's approvers, else anyone but the requester).
        allowed_decisions: Decision types offered (default: the assessment's).
        timeout: Seconds before `on_timeout` applies (counted by the runner from indexing).
        on_timeout: `reject` (fail closed), `approve` (soft gates only) or `escalate`.
        stage: The stage number shown to reviewers (1 here, 2 for `SecondReviewNode`).
        policy: Re-assesses edited and changed actions; an edit that needs a stricter gate is
            asked again. Without a policy every edit is reviewed again.
        name: The node's name in the graph.
        action_key: The state key holding the action.
        store: Where receipts are sealed from when no runner drives the graph (a `Store` from
            `open_store(url)`, the same as `ExecuteNode`'s; a URL is refused).
        trust_answer_identity: Development only: take the decider from the answer's
            `approver` field when the run's config names nobody.

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
        store: Any = None,
        trust_answer_identity: bool = False,
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
        try:
            self.approvers = canonical_list(approvers)
        except AuthorizationError as exc:
            raise PolicyError(str(exc)) from exc
        self.allowed_decisions = list(allowed_decisions) if allowed_decisions is not None else None
        self.timeout = timeout
        self.on_timeout = on_timeout
        self.stage = stage if stage is not None else self.default_stage
        self.policy = policy
        self.name = name or self.default_name
        self.action_key = action_key
        self.store = as_store(store, where="store")
        self.trust_answer_identity = trust_answer_identity

    # -- before interrupt(): pure, derived from state -------------------------------------------------

    def current(
        self, state: dict[str, Any], config: RunnableConfig | None
    ) -> tuple[ActionRequest, str, str, Assessment]:
        """The action in state, its occurrence and digest, and the (sealed) gate that governs it."""
        action: ActionRequest = state[self.action_key]
        occurrence = state.get("action_occurrence") or step_key(config, self.name)
        digest = action_digest(action, thread_id=thread_id_of(config), occurrence=occurrence)
        key = seal_key_of(config, self.store)
        old = state.get("assessment")
        if isinstance(old, dict) and old.get("digest") == digest and sealed(old, key):
            return action, occurrence, digest, old  # type: ignore[return-value]
        who = requester_of(state)  # a policy engine's principal (`policy_engine`)
        fresh = assess_for(self.policy, action, requester=who) if self.policy else fixed_assessment(action)
        if not isinstance(old, dict):
            why = "no gate assessed this action before review"
        elif not sealed(old, key):
            why, old = "the assessment in state was not made by langgraph-hitl: assessed again", None
        else:
            why = "the action changed after it was assessed: assessed again"
        gate = gate_for(old, fresh, why=why)  # never softer than an authentic earlier gate
        proposer = old.get("requested_by") if isinstance(old, dict) else None
        bound = {
            **gate,
            "digest": digest,
            "occurrence": occurrence,
            "requested_by": proposer or requester_of(state),
        }
        return action, occurrence, digest, seal(bound, key)  # type: ignore[return-value]

    def _escalations(self, state: dict[str, Any], config: RunnableConfig | None, action_id: str) -> int:
        """How often this node's question about `action_id` escalated: counted from the sealed
        `escalated` events of this thread (G11), never from the unsealed `decisions` records, which
        a client can write with `update_state` to hand the question to another tier."""
        key, thread = seal_key_of(config, self.store), thread_id_of(config)
        return sum(
            1
            for e in state.get("audit_trail") or []
            if isinstance(e, dict)
            and e.get("event") == "escalated"
            and e.get("action_id") == action_id
            and (e.get("detail") or {}).get("node") == self.name
            and e.get("thread_id") == thread
            and sealed(e, key)
        )

    def build_request(self, state: dict[str, Any], config: RunnableConfig | None) -> ReviewRequest:
        """The exact question this node asks for `state` (deterministic)."""
        action, occurrence, digest, assessment = self.current(state, config)
        action_id = digest[:32]
        decisions: list[DecisionRecord] = state.get("decisions") or []
        mine = [r for r in decisions if r["action_id"] == action_id and r["node"] == self.name]
        level = self._escalations(state, config, action_id)
        approvers = deciders(self.approvers, assessment, level)
        asked_by = requesters(state, assessment)
        exclude = list(asked_by)
        if self.four_eyes:
            key = seal_key_of(config, self.store)
            exclude += earlier_approvers(
                decisions, digest=digest, gate=assessment, requesters=asked_by, key=key
            )
        allowed = self.allowed_decisions or list(assessment.get("allowed_decisions") or ["approve", "reject"])
        phrase = assessment.get("verify_phrase")
        hitl: HITLContext = {
            "request_id": stable_id(digest, self.name, len(mine)),
            "action_id": action_id,
            "digest": digest,
            "occurrence": occurrence,
            "node": self.name,
            "stage": self.stage,
            "risk": assessment["risk"],
            "reversibility": assessment["reversibility"],
            "mode": assessment["mode"],
            "reasons": list(assessment["reasons"]),
            "approvers": list(approvers) if approvers is not None else None,
            "exclude_approvers": exclude,
            "requested_by": asked_by[0],
            "timeout_s": self.timeout if self.timeout is not None else assessment.get("timeout_s"),
            "on_timeout": timeout_rule(self.on_timeout, assessment, level),
            "verify_phrase": phrase,
            "impact": assessment.get("impact", ""),
            "context": shown_context(state, action_id),
            "policy_version": assessment.get("policy_version", ""),
            "escalation_level": level,
            "allowed_decisions": list(allowed),
            "refused": last_refusal(mine),
            "calls": [
                call_rules(
                    digest=digest,
                    occurrence=occurrence,
                    gate=assessment,
                    approvers=approvers,
                    exclude=exclude,
                    verify_phrase=phrase,
                )
            ],
        }
        rubber_stamp = rule_for(self.policy, action)
        if rubber_stamp is not None:  # a flagged approver types a phrase (`rubber_stamp.py`)
            hitl["rubber_stamp"] = rubber_stamp.as_json()
        request = review_request(action, allowed, hitl)
        # Agent Inbox reads `arguments` and `description` only, and only from LangGraph Server.
        return agent_inbox_view(request) if on_langgraph_server(config) else request

    # -- the node --------------------------------------------------------------------------------------

    def __call__(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        state = view(state)  # type: ignore[assignment]  # TypedDict, pydantic or dataclass state
        request = self.build_request(state, config)
        answer: Any = interrupt(request, response_schema=INTERRUPT_SCHEMA)
        # From here on nothing may raise because of the answer.
        if isinstance(answer, BaseModel):  # what interrupt() returns after checking INTERRUPT_SCHEMA
            answer = answer.model_dump(exclude_none=True)
        who: str | None = None
        try:
            who, why = decider_of(config, answer, trust_answer=self.trust_answer_identity)
            if who is None:
                return self._refused(state, request, config, f"Refused: {why}.", None)
            store = self.store or runner_store(config)  # rubber-stamp flags are read from the store
            decision = validate_reviewed(answer, request, approver=who, store=store)[0]
        except HITLError as exc:
            return self._refused(state, request, config, str(exc), answer, who)
        except Exception as exc:  # an answer that breaks validation itself is still just refused
            return self._refused(state, request, config, f"{type(exc).__name__}: {exc}", answer, who)
        try:
            return answered(
                state,
                request,
                decision,
                config,
                gate_state=self._gate_state(state, config),
                node=self.name,
                key=seal_key_of(config, self.store),
                policy=self.policy,
                action_key=self.action_key,
            )
        except Exception as exc:
            return self._refused(state, request, config, f"could not apply the decision: {exc}", answer, who)

    # -- after interrupt(): nothing raises because of the answer ---------------------------------------

    def _gate_state(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """What this node settles in state about the action it asked about (its id, digest and gate)."""
        action, occurrence, digest, assessment = self.current(state, config)
        return {"action_id": digest[:32], "action_occurrence": occurrence, "assessment": assessment}

    def _refused(
        self,
        state: dict[str, Any],
        request: ReviewRequest,
        config: RunnableConfig,
        error: str,
        answer: Any,
        who: str | None = None,
    ) -> dict[str, Any]:
        """Record a refused answer; the question is asked again.

        Attributed to the name the answer claims (escaped if it is not a valid name), else to the
        decider from the run's config (answers in langchain's and Agent Inbox's shapes name nobody).
        """
        claimed = answer.get("approver") if isinstance(answer, dict) else None
        approver = as_recorded(claimed if claimed is not None else who)
        return refused(
            request,
            error,
            approver,
            config,
            gate_state=self._gate_state(state, config),
            node=self.name,
            key=seal_key_of(config, self.store),
        )


class SecondReviewNode(ReviewNode):
    """A second, different person approves (four-eyes) when the assessment needs two approvals.

    Excludes everyone who already approved this action and its requester; otherwise takes
    the same options as `ReviewNode`.
    """

    default_name = "second_review"
    default_stage = 2
    four_eyes = True


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
    state = view(state)  # type: ignore[assignment]  # TypedDict, pydantic or dataclass state
    status = state.get("status")
    decisions: list[DecisionRecord] = state.get("decisions") or []
    if status == "proposed":
        last = decisions[-1] if decisions else None
        if last is None or last["effect"] == "rereview":
            return "review"
        if last["effect"] == "edited":
            return "second_review"  # the editor approved the edited action; another person must too
        return "second_review" if last["stage"] == 2 else "review"
    if status == "approved":
        # Routing only: `ExecuteNode` checks the receipts' seals again and sends a shortfall back here.
        assessment: Any = state.get("assessment") or {}
        counted = counting(
            receipts_in(decisions),
            digest=assessment.get("digest", ""),
            gate=assessment,
            requester=requesters(state, assessment),
            key=None,
        )
        if assessment.get("mode") not in ("auto", "notify") and not enough(
            counted, int(assessment.get("required_approvals") or 1)
        ):
            return "second_review"
        return "execute"
    if status == "revision_requested":
        return "revise"
    return "audit"
