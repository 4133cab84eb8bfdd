"""`ReviewNode`, `SecondReviewNode` and `review_condition`: one question to a person, answered safely.

Each node calls `interrupt()` exactly once. Everything before it is derived from state, so a
re-run on resume asks the identical question. Nothing after it raises because of the
answer: an invalid answer is recorded as `refused` and the node is asked again through
`review_condition`, instead of wedging the thread (LangGraph replays a stored answer on
every later resume if the node raised after receiving it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast

from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt
from pydantic import BaseModel

from .._canonical import plain_json, stable_id
from .._events import DECISION_EVENTS, decision_event_id, make_event
from ..decisions import RESPONSE_SCHEMA, call_rules, langchain_decisions, validate_decision
from ..errors import AuthorizationError, HITLError, PolicyError
from ..identity import as_recorded, canonical_list, canonical_or_none
from ..policy import Policy, stricter
from ..receipts import Receipt, action_digest, counting, enough, issue, seal, sealed
from ..types import (
    DECISION_TYPES,
    ActionRequest,
    Assessment,
    Decision,
    DecisionRecord,
    OnTimeout,
    ReviewRequest,
)
from ._agent_inbox import agent_inbox_view, on_langgraph_server
from ._common import as_store, decided_at_of, decider_of, event_time, seal_key_of, step_key, thread_id_of
from ._view import view

__all__ = ["ReviewNode", "SecondReviewNode", "review_condition"]


def _fixed_assessment(action: ActionRequest) -> Assessment:
    """The assessment used when a review node runs without a gate before it (a fixed checkpoint)."""
    from .._canonical import args_hash

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
        fresh = self.policy.assess(action) if self.policy is not None else _fixed_assessment(action)
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

    def build_request(self, state: dict[str, Any], config: RunnableConfig | None) -> ReviewRequest:
        """The exact question this node asks for `state` (deterministic)."""
        action, occurrence, digest, assessment = self.current(state, config)
        action_id = digest[:32]
        decisions: list[DecisionRecord] = state.get("decisions") or []
        mine = [r for r in decisions if r["action_id"] == action_id and r["node"] == self.name]
        level = sum(1 for r in mine if r["effect"] == "escalated")
        approvers = (
            self.approvers if self.approvers is not None else canonical_list(assessment.get("approvers"))
        )
        if level:
            tiers = assessment.get("escalation") or []
            approvers = canonical_list(tiers[min(level, len(tiers)) - 1]) if tiers else approvers
        asked_by = requesters(state, assessment)
        requester = asked_by[0]
        exclude = list(asked_by)
        if self.four_eyes:
            counted = counting(
                receipts_in(decisions),
                digest=digest,
                gate=assessment,
                requester=asked_by,
                key=seal_key_of(config, self.store),
            )
            exclude += [r["approver"] for r in counted if r["approver"] not in exclude]
        allowed = self.allowed_decisions or list(assessment.get("allowed_decisions") or ["approve", "reject"])
        on_timeout: OnTimeout = self.on_timeout or assessment.get("on_timeout") or "reject"
        if on_timeout == "approve" and assessment["mode"] != "soft":
            on_timeout = "reject"
        if on_timeout == "escalate" and level >= len(assessment.get("escalation") or []):
            on_timeout = "reject"
        raw_context = state.get("hitl_context")
        context = (
            dict(raw_context)
            if isinstance(raw_context, dict)
            else {"value": raw_context}
            if raw_context
            else {}
        )
        context.setdefault(
            "earlier_actions",
            [
                {"action": e.get("action"), "event": e.get("event"), "actor": e.get("actor")}
                for e in (state.get("audit_trail") or [])[-6:]
                if isinstance(e, dict) and e.get("action_id") != action_id
            ],
        )
        # What reviewers see must be storable anywhere: non-JSON values are shown as text, and said so.
        context, converted = plain_json(context, where="hitl_context")
        if converted:
            context["converted"] = converted[:20]
        refused = (
            next((r["message"] for r in reversed(mine) if r["effect"] == "refused"), None) if mine else None
        )
        phrase = assessment.get("verify_phrase")
        request: ReviewRequest = {
            "action_requests": [
                {
                    "name": action["name"],
                    "args": action["args"],
                    "description": action.get("description") or _describe(action),
                }
            ],
            # langchain's types only, so strict HITLRequest clients parse it; `revise` is in `hitl`.
            "review_configs": [
                {
                    "action_name": action["name"],
                    "allowed_decisions": langchain_decisions(allowed),
                }
            ],
            "hitl": {
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
                "requested_by": requester,
                "timeout_s": self.timeout if self.timeout is not None else assessment.get("timeout_s"),
                "on_timeout": on_timeout,
                "verify_phrase": phrase,
                "impact": assessment.get("impact", ""),
                "context": context,
                "policy_version": assessment.get("policy_version", ""),
                "escalation_level": level,
                "allowed_decisions": list(allowed),
                "refused": refused,
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
            },
        }
        # Agent Inbox reads `arguments` and `description` only, and only from LangGraph Server.
        return agent_inbox_view(request) if on_langgraph_server(config) else request

    # -- the node --------------------------------------------------------------------------------------

    def __call__(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        state = view(state)  # type: ignore[assignment]  # TypedDict, pydantic or dataclass state
        request = self.build_request(state, config)
        answer = interrupt(request, response_schema=RESPONSE_SCHEMA)
        # From here on nothing may raise because of the answer.
        if isinstance(answer, BaseModel):  # what interrupt() returns after checking RESPONSE_SCHEMA
            answer = answer.model_dump(exclude_none=True)
        who: str | None = None
        try:
            who, why = decider_of(config, answer, trust_answer=self.trust_answer_identity)
            if who is None:
                return self._refused(state, request, config, f"Refused: {why}.", None)
            decision = validate_decision(answer, request, approver=who)[0]
        except HITLError as exc:
            return self._refused(state, request, config, str(exc), answer, who)
        except Exception as exc:  # an answer that breaks validation itself is still just refused
            return self._refused(state, request, config, f"{type(exc).__name__}: {exc}", answer, who)
        try:
            return self._apply(state, request, decision, config)
        except Exception as exc:
            return self._refused(state, request, config, f"could not apply the decision: {exc}", answer, who)

    def _gate_state(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """What this node settles in state about the action it asked about (its id, digest and gate)."""
        action, occurrence, digest, assessment = self.current(state, config)
        return {"action_id": digest[:32], "action_occurrence": occurrence, "assessment": assessment}

    def _record(
        self,
        request: ReviewRequest,
        decision: Decision,
        effect: str,
        ts: str,
        receipt: Any = None,
        action_id: str | None = None,
    ) -> DecisionRecord:
        hitl = request["hitl"]
        record: DecisionRecord = {
            "request_id": hitl["request_id"],
            "action_id": action_id or hitl["action_id"],
            "node": self.name,
            "stage": hitl["stage"],
            "type": decision.get("type", "invalid"),
            "approver": decision.get("approver"),
            "message": decision.get("message"),
            "edited_action": decision.get("edited_action"),
            "effect": effect,
            "decided_at": ts,
        }
        if receipt is not None:
            record["receipt"] = receipt
        return record

    def _event(
        self,
        state: dict[str, Any],
        request: ReviewRequest,
        decision: Decision,
        effect: str,
        config: RunnableConfig,
        detail: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        hitl = request["hitl"]
        receipt = (detail or {}).get("receipt")
        # An edit approves the edited action: its event is that action's, as the runner records it.
        action_id = (
            receipt["digest"][:32] if decision.get("type") == "edit" and receipt else hitl["action_id"]
        )
        kind = decision.get("type", "invalid")
        event = DECISION_EVENTS.get(kind, "refused")
        asked = request["action_requests"][0]
        return seal(
            make_event(
                event,
                action_id=action_id,
                actor=decision.get("approver") or "unknown",
                thread_id=thread_id_of(config),
                action={"name": asked["name"], "args": asked["args"]},
                assessment={
                    "risk": hitl["risk"],
                    "reversibility": hitl["reversibility"],
                    "policy_version": hitl["policy_version"],
                },
                request_id=hitl["request_id"],
                decision=effect,
                detail={
                    "message": decision.get("message"),
                    "node": self.name,
                    "stage": hitl["stage"],
                    **(detail or {}),
                },
                event_id=decision_event_id(action_id, hitl["request_id"], kind),
                ts=event_time(config),
            ),
            seal_key_of(config, self.store),
        )

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
        bad: Decision = {"type": "invalid", "approver": approver, "message": error}  # type: ignore[typeddict-item]
        return {
            **self._gate_state(state, config),
            "decisions": [self._record(request, bad, "refused", event_time(config))],
            "audit_trail": [self._event(state, request, bad, "refused", config)],
        }

    def _receipt(
        self, request: ReviewRequest, decision: Decision, digest: str, config: RunnableConfig
    ) -> Any:
        hitl = request["hitl"]
        call = hitl["calls"][0]
        return issue(
            request_id=hitl["request_id"],
            digest=digest,
            approver=decision.get("approver") or "",
            stage=hitl["stage"],
            decision=decision["type"],
            gate=call,
            decided_at=decided_at_of(config),
            thread_id=thread_id_of(config),
            occurrence=hitl["occurrence"],
            key=seal_key_of(config, self.store),
        )

    def _apply(
        self, state: dict[str, Any], request: ReviewRequest, decision: Decision, config: RunnableConfig
    ) -> dict[str, Any]:
        kind = decision["type"]
        hitl = request["hitl"]
        update: dict[str, Any] = {
            **self._gate_state(state, config),
            "review_message": decision.get("message"),
        }
        detail: dict[str, Any] = {}
        receipt = None
        action_id = None
        if kind == "approve":
            effect, update["status"] = "approved", "approved"
            receipt = self._receipt(request, decision, hitl["digest"], config)
        elif kind == "edit":
            effect, receipt = self._apply_edit(state, request, decision, update, detail, config)
            action_id = update["action_id"]
        elif kind == "reject":
            effect, update["status"] = "rejected", "rejected"
        elif kind == "respond":
            effect, update["status"] = "responded", "responded"
        elif kind == "revise":
            effect, update["status"] = "revision_requested", "revision_requested"
        elif kind == "escalate":
            effect, update["status"] = "escalated", "proposed"
        else:  # timeout
            if hitl["on_timeout"] == "approve" and hitl["mode"] == "soft":
                effect, update["status"] = "approved", "approved"
                decision = {**decision, "message": "approved on timeout (soft gate)"}
                receipt = self._receipt(request, decision, hitl["digest"], config)
            else:
                effect, update["status"] = "timed_out", "timed_out"
        if receipt is not None:
            detail["receipt"] = receipt
        update["decisions"] = [
            self._record(request, decision, effect, event_time(config), receipt, action_id)
        ]
        update["audit_trail"] = [self._event(state, request, decision, effect, config, detail)]
        return update

    def _apply_edit(
        self,
        state: dict[str, Any],
        request: ReviewRequest,
        decision: Decision,
        update: dict[str, Any],
        detail: dict[str, Any],
        config: RunnableConfig,
    ) -> tuple[str, Any]:
        """An edit is a new action (new digest) that the editor approves; earlier approvals stop counting."""
        edited = decision["edited_action"]
        assert edited is not None
        hitl = request["hitl"]
        old: Assessment = update["assessment"]
        new_action: ActionRequest = {"name": edited["name"], "args": edited["args"]}
        description = state[self.action_key].get("description")
        if description:
            new_action["description"] = description
        occurrence: str = hitl["occurrence"]
        digest = action_digest(new_action, thread_id=thread_id_of(config), occurrence=occurrence)
        key = seal_key_of(config, self.store)
        update[self.action_key] = new_action
        update["action_id"] = digest[:32]
        detail["edited_to"] = {"name": new_action["name"], "args": new_action["args"]}
        receipt = self._receipt(request, decision, digest, config)
        if self.policy is None:
            fresh: Assessment = {
                **old,
                "action_name": new_action["name"],
                "reasons": ["edited without a policy: reviewed again"],
            }
            rereview = True
        else:
            fresh = self.policy.assess(new_action)
            rereview = stricter(old, fresh)
        gate = gate_for(old, fresh, why="edited by a reviewer")
        proposer = old.get("requested_by") or requester_of(state)
        update["assessment"] = seal(
            {**gate, "digest": digest, "occurrence": occurrence, "requested_by": proposer}, key
        )
        if gate["mode"] == "deny":
            update["status"] = "denied"
            return "rejected", None
        if rereview:
            update["status"] = "proposed"
            detail["rereview"] = True
            return "rereview", receipt
        decisions: list[DecisionRecord] = state.get("decisions") or []
        counted = counting(
            [*receipts_in(decisions), receipt],
            digest=digest,
            gate=update["assessment"],
            requester=requesters(state, update["assessment"]),
            key=key,
        )
        update["status"] = "approved" if enough(counted, gate["required_approvals"]) else "proposed"
        return "edited", receipt


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
