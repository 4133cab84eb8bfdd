"""Typed payloads: what nodes put in state, what a reviewer sees, what a reviewer answers.

Every payload is plain JSON (str, int, float, bool, None, list, dict) so it survives any
checkpointer's serializer and any transport (CLI, web, webhook). The interrupt value,
`ReviewRequest`, is a strict langchain `HITLRequest` plus the `hitl` key: clients built for
`HumanInTheLoopMiddleware` can parse it, render it and answer it with `{"decisions": [...]}`.

This module imports nothing from LangGraph.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from typing_extensions import NotRequired, TypedDict

__all__ = [
    "ActionRequest",
    "Assessment",
    "AuditEvent",
    "CallRules",
    "Decision",
    "DecisionRecord",
    "DecisionType",
    "EditedAction",
    "GateMode",
    "HITLContext",
    "JSON",
    "LangchainDecisionType",
    "OnTimeout",
    "Reversibility",
    "ReviewConfig",
    "ReviewRequest",
    "Risk",
    "Status",
    "DECISION_TYPES",
    "LANGCHAIN_DECISION_TYPES",
    "RISK_ORDER",
    "SYSTEM_TIMEOUT",
]

JSON = Any
"""A plain JSON value: str, int, float, bool, None, or lists and dicts of them."""

Risk = Literal["low", "medium", "high", "critical"]
"""How bad a mistake would be. `low` runs without review, `medium` and `high` need one
reviewer, `critical` needs two distinct reviewers (four-eyes)."""

RISKS: tuple[Risk, ...] = get_args(Risk)
"""The risk levels, least severe first."""

RISK_ORDER: dict[str, int] = {risk: rank for rank, risk in enumerate(RISKS)}
"""Risks ordered from least to most severe; rules and models may only move an action up."""

Reversibility = Literal["fully_reversible", "partially_reversible", "irreversible_low", "irreversible_high"]
"""The four reversibility classes: `fully_reversible` (read, search, draft),
`partially_reversible` (update a record, internal message), `irreversible_low` (one
transactional email, a draft PR), `irreversible_high` (mass email, delete data, deploy,
payment)."""

GateMode = Literal["auto", "notify", "soft", "hard", "verify", "deny"]
"""What the gate does with an action.

- `auto`: run it; the policy's approval is recorded as `auto_approved`.
- `notify`: run it and record a `notified` audit note (confirmation level `info`).
- `soft`: pause for a reviewer; on timeout the policy's `on_timeout` applies (usually approve).
- `hard`: pause until a reviewer decides; on timeout it fails closed (reject).
- `verify`: like `hard`, and the reviewer must type the exact confirmation phrase.
- `deny`: never run it; no reviewer is asked.
"""

DecisionType = Literal["approve", "edit", "reject", "respond", "revise", "timeout", "escalate"]
"""A decision's type. People send `approve`, `edit`, `reject`, `respond` or `revise`;
`timeout` and `escalate` are issued only by the runner, as approver `system:timeout`."""

DECISION_TYPES: tuple[str, ...] = ("approve", "edit", "reject", "respond", "revise")
"""The decision types a person may send."""

LangchainDecisionType = Literal["approve", "edit", "reject", "respond"]
"""The decision types langchain's `HITLRequest` may list in `review_configs[].allowed_decisions`
(its `DecisionType`). `revise` is langgraph-hitl's own and is listed in `hitl.allowed_decisions`."""

LANGCHAIN_DECISION_TYPES: tuple[str, ...] = get_args(LangchainDecisionType)
"""The decision types a `ReviewConfig` may list."""

SYSTEM_TIMEOUT = "system:timeout"
"""The approver name the runner uses for decisions it takes when a deadline passes."""

OnTimeout = Literal["reject", "approve", "escalate"]
"""What happens when nobody decides in time: `reject` (fail closed, the default),
`approve` (soft gates only), or `escalate` (ask the next reviewer tier, with a new deadline)."""

Status = Literal[
    "proposed",
    "approved",
    "rejected",
    "responded",
    "revision_requested",
    "timed_out",
    "denied",
    "executed",
    "failed",
]
"""Where the current action stands in the flow."""


RequestStatus = Literal["pending", "deciding", "resumed", "expired", "cancelled"]
"""Where an inbox request stands: `pending` (waiting), `deciding` (a decision claimed it and is
being delivered), `resumed` (the graph took the decision), `expired` (a timeout resolved it),
`cancelled` (the thread moved on without it: abandoned, changed, finished or ended by hand)."""

REQUEST_STATUSES: tuple[RequestStatus, ...] = get_args(RequestStatus)
"""The inbox statuses, in the order a request can move through them."""

AuditEventName = Literal[
    "proposed",
    "auto_approved",
    "notified",
    "approved",
    "edited",
    "rejected",
    "responded",
    "revision_requested",
    "timed_out",
    "escalated",
    "refused",
    "executed",
    "failed",
    "denied",
    "feedback",
    "cancelled",
    "halted",
    "unhalted",
    "reversal_requested",
    "reversed",
    "reversal_failed",
    "shadow_differs",
    "shadow_error",
]
"""The audit log's event names. `refused`: an answer that was not accepted (or a row that was
not admitted, or an execution a halt stopped: detail `reason` `halted`); `cancelled`: a review
ended without a decision; `halted` / `unhalted`: the stop switch set or lifted;
`reversal_requested` / `reversed` / `reversal_failed`: an executed action's compensation;
`shadow_differs` / `shadow_error`: a shadow policy decided otherwise, or failed (`shadow.py`)."""

AUDIT_EVENT_NAMES: tuple[AuditEventName, ...] = get_args(AuditEventName)
"""Every audit event name."""


class ActionRequest(TypedDict):
    """An action the agent proposes (langchain's `ActionRequest` shape)."""

    name: str
    """The action's (tool's) name, looked up in the policy and in `ExecuteNode`'s handlers."""
    args: dict[str, Any]
    """The action's arguments, a JSON object."""
    description: NotRequired[str]
    """What the agent is trying to achieve with it, shown to the reviewer."""


class EditedAction(TypedDict):
    """The action a reviewer wants run instead (an `edit` decision)."""

    name: str
    """The edited action's name; it may differ from the original and is re-gated if it does."""
    args: dict[str, Any]
    """The edited arguments, a JSON object."""


class ReviewConfig(TypedDict):
    """Which of langchain's decisions a reviewer may take for one action (langchain's `ReviewConfig`)."""

    action_name: str
    """The action the configuration applies to."""
    allowed_decisions: list[LangchainDecisionType]
    """langchain's decision types allowed for it; `hitl.allowed_decisions` adds `revise` where allowed."""


class CallRules(TypedDict):
    """The rules for one action of a request (`hitl.calls[i]`): what its decision is checked against."""

    digest: str
    """The action's digest (`receipts.action_digest`); an approval's receipt names it."""
    occurrence: str
    """The step that proposed the action; part of the digest."""
    mode: str
    """The gate's mode for this action."""
    risk: str
    """The gate's risk for this action."""
    policy_version: str
    """The policy version that assessed this action."""
    approvers: list[str] | None
    """Who may approve this action (canonical names); None: anyone but the requester."""
    exclude_approvers: list[str]
    """Who may not decide it: the requester and, for four-eyes, whoever already approved it."""
    verify_phrase: str | None
    """The phrase an approval of this action must carry, or None."""


class HITLContext(TypedDict):
    """The `hitl` part of a `ReviewRequest`: everything langgraph-hitl adds for the reviewer."""

    request_id: str
    """Identifies this question in the inbox; pass it to `Approvals.decide`."""
    action_id: str
    """Identifies the proposed action across its reviews; the execution idempotency key."""
    node: str
    """The graph node that asks."""
    stage: int
    """1 for the first review, 2 for the second (four-eyes), or a pipeline stage's number."""
    risk: Risk
    """The assessed risk."""
    reversibility: Reversibility
    """The action's reversibility class."""
    mode: GateMode
    """The gate mode that led here."""
    reasons: list[str]
    """Why the policy gated the action, most important first."""
    approvers: list[str] | None
    """Who may decide; None means anyone but the excluded."""
    exclude_approvers: list[str]
    """Who may not decide: earlier approvers of this action and its requester."""
    requested_by: str
    """Who proposed the action (the agent's name, or the user who started the run)."""
    timeout_s: float | None
    """Seconds until `on_timeout` applies, counted from when the request was indexed."""
    on_timeout: OnTimeout
    """What happens when nobody decides in time."""
    verify_phrase: str | None
    """The exact phrase an approver must type (confirmation level `verify`), or None."""
    impact: str
    """A sentence on what happens if this runs and whether it can be undone."""
    context: dict[str, Any]
    """What the agent was trying to do: task, step N of M, earlier actions."""
    policy_version: str
    """The policy version that produced the assessment."""
    escalation_level: int
    """0 for the first tier of reviewers, then 1, 2, ... after each escalation."""
    allowed_decisions: NotRequired[list[str]]
    """Every decision type a person may send (one-action requests), `revise` included, which
    `review_configs` cannot list; read it with `decisions.allowed_decisions`."""
    action_ids: NotRequired[list[str]]
    """One id per action request, when a request asks about several actions at once (`ToolGateNode`)."""
    digest: NotRequired[str]
    """The digest of the action asked about (one-action requests)."""
    occurrence: NotRequired[str]
    """The step that proposed it (one-action requests)."""
    refused: NotRequired[str | None]
    """Why the previous answer to this question was refused, if it was."""
    calls: NotRequired[list[CallRules]]
    """Per-action rules, aligned with `action_requests`; each decision is checked against its own."""
    rubber_stamp: NotRequired[dict[str, Any]]
    """The policy's rubber-stamp rule (`RubberStampRule.as_json()`): a flagged approver types a phrase."""


class ReviewRequest(TypedDict):
    """The interrupt value every review node raises: a strict langchain `HITLRequest` plus `hitl`."""

    action_requests: list[ActionRequest]
    """The actions awaiting review (one for the review nodes, one per risky call for `ToolGateNode`)."""
    review_configs: list[ReviewConfig]
    """The decisions allowed for each action."""
    hitl: HITLContext
    """langgraph-hitl's context for the reviewer and the runner."""


class Decision(TypedDict, total=False):
    """A reviewer's answer; the resume value (or one item of langchain's `{"decisions": [...]}`)."""

    type: DecisionType
    """What the reviewer decided."""
    approver: str
    """Who decided. `Approvals.decide` fills it from its `approver` argument."""
    message: str | None
    """A reason (reject), guidance (respond) or instructions (revise)."""
    edited_action: EditedAction | None
    """The action to run instead (edit only)."""
    verify: str | None
    """The confirmation phrase the approver typed (verify gates)."""


class DecisionRecord(TypedDict):
    """One answered question, as the review nodes keep it in `HITLState["decisions"]`."""

    request_id: str
    """The question answered."""
    action_id: str
    """The action the question was about."""
    node: str
    """The node that asked."""
    stage: int
    """The stage that asked."""
    type: str
    """The decision's type, or `invalid` for an answer that failed validation (the node re-asks)."""
    approver: str | None
    """Who decided."""
    message: str | None
    """The decision's message, or the validation error for an invalid answer."""
    edited_action: EditedAction | None
    """The edited action, for `edit`."""
    effect: str
    """What the answer did: approved, edited, rejected, responded, revision_requested, timed_out,
    escalated, refused (invalid answer, asked again) or rereview (an edit that needs a stricter gate)."""
    decided_at: str
    receipt: NotRequired[dict[str, Any]]
    """For an approval: its receipt (`receipts.Receipt`), bound to the digest it approved."""
    """ISO 8601 time the node applied the answer."""


class Assessment(TypedDict):
    """What the policy concluded about one action."""

    action_name: str
    """The action assessed."""
    args_hash: str
    """sha256 of the canonical JSON of the arguments."""
    risk: Risk
    """The assessed risk, at least the reversibility table's and every matching rule's floor."""
    reversibility: Reversibility
    """The reversibility class from the table (or `irreversible_high` for unknown actions)."""
    mode: GateMode
    """What the gate does."""
    reasons: list[str]
    """Why, most important first."""
    required_approvals: int
    """How many distinct approvers must approve (1, or 2 for critical)."""
    approvers: list[str] | None
    """Who may approve at the first tier (None: anyone)."""
    escalation: list[list[str]]
    """Later reviewer tiers, used when a request escalates."""
    timeout_s: float | None
    """Seconds a reviewer has, or None for no deadline."""
    on_timeout: OnTimeout
    """What happens on timeout."""
    allowed_decisions: list[str]
    """Decision types reviewers may send."""
    verify_phrase: str | None
    """The confirmation phrase a `verify` gate asks for, already formatted with the arguments."""
    impact: str
    """A sentence on the consequences, shown to reviewers."""
    policy_version: str
    """The policy's version string."""
    digest: NotRequired[str]
    """The digest of the action this assessment is for (added by the node that assessed it)."""
    occurrence: NotRequired[str]
    """The step that proposed the action."""
    requested_by: NotRequired[str]
    """Who proposed the action, sealed with the gate (excluded from approving it, with `state["requested_by"]`)."""
    seal: NotRequired[str]
    """HMAC with the store's seal key: the assessment was made by langgraph-hitl."""


class AuditEvent(TypedDict, total=False):
    """One audit row before it is chained into the log."""

    event_id: str
    """Idempotency key: the same event written twice is stored once."""
    ts: str
    """ISO 8601 UTC time of the event."""
    thread_id: str | None
    """The LangGraph thread (the session the action belongs to)."""
    request_id: str | None
    """The inbox request, when the event concerns one."""
    action_id: str | None
    """The proposed action."""
    event: str
    """One of `AuditEventName`: proposed, auto_approved, notified, approved, edited, rejected,
    responded, revision_requested, timed_out, escalated, refused, executed, failed, denied,
    feedback, cancelled."""
    actor: str
    """Who caused it: an approver, `auto`, `system:timeout`, or the agent."""
    action: str | None
    """The action's name."""
    args: dict[str, Any] | None
    """The action's arguments."""
    args_hash: str | None
    """sha256 of the canonical arguments."""
    reversibility: str | None
    """The action's reversibility class."""
    risk: str | None
    """The assessed risk."""
    decision: str | None
    """approved, rejected, edited, timed_out, ... for decision events."""
    outcome: str | None
    """success, error or rollback, for execution events."""
    policy_version: str | None
    """The policy version in force."""
    detail: dict[str, Any] | None
    """Anything else: a message, an error, a result summary."""
