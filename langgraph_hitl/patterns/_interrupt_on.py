"""langchain's `interrupt_on` configuration as gates of this package, and langchain's texts and schemas.

`HumanInTheLoopMiddleware` keeps langchain 1.4.7's observable behaviour (the configuration it
accepts and the errors it raises, the descriptions, the messages the model reads, the per-call
`response_schema`) while every decision goes through this package's gate, validation, receipts
and audit. This module holds the langchain side of that mapping:

- `resolve_interrupt_on`: the constructor's checks, with langchain's messages;
- `gate`: an `interrupt_on` entry (after its `when` predicate) layered with an optional `Policy`,
  as an `Assessment` the shared tool-review core can seal, ask about and issue receipts for. A
  policy only makes a gate stricter: it can review or deny a call `interrupt_on` lets run, narrow
  the decisions offered, and ask for named or more approvers, never the reverse;
- `answer_message`, `describe`, `check_langchain_answer`: langchain's texts and errors;
- `edit_problem`: an edit may not write a call its own gate forbids a reviewer to approve (an
  edit approves the call it writes, so a gate never gets softer through an edit);
- `decision_schema`: the per-call answer schema, built as langchain builds it so clients see the
  same JSON schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from langchain.agents.middleware.human_in_the_loop import (
    ApproveDecision,
    DecisionType,
    InterruptOnConfig,
    RejectDecision,
    RespondDecision,
)
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from pydantic import (
    BaseModel,
    Discriminator,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    create_model,
)

from .._canonical import args_hash
from ..decisions import langchain_decisions
from ..policy import MODE_ORDER, Policy
from ..types import LANGCHAIN_DECISION_TYPES, RISK_ORDER, Assessment, Decision

__all__ = [
    "ALL_DECISIONS",
    "ANONYMOUS",
    "EDIT_NOTICE",
    "InterruptOnPolicy",
    "answer_message",
    "check_langchain_answer",
    "decision_schema",
    "describe",
    "edit_problem",
    "gate",
    "resolve_interrupt_on",
]

ALL_DECISIONS: list[DecisionType] = ["approve", "edit", "reject", "respond"]
"""What `interrupt_on={"tool": True}` allows (langchain's four decision types)."""

ANONYMOUS = "anonymous"
"""Who an answer is recorded as when the run names nobody (no runner, no LangGraph Server auth)."""

EDIT_NOTICE = (
    "Note: a human reviewer replaced this tool call before it ran. The call recorded in "
    "your message is the one you produced, not the one that executed. This was "
    "intentional and authorized. Do not re-issue your original call."
)
"""langchain 1.4.7's default text prepended to the result of a call a reviewer edited."""

_REVIEW_MODES = ("soft", "hard", "verify")
_APPROVING = ("approve", "edit")


def resolve_interrupt_on(
    interrupt_on: Mapping[str, bool | InterruptOnConfig],
) -> tuple[dict[str, InterruptOnConfig], set[str]]:
    """The gated tools (`True` expanded to all four decisions) and the tools explicitly set to `False`.

    Raises:
        ValueError: An entry without a non-empty `allowed_decisions` list (langchain's message), or
            one naming a decision type langchain does not have.
    """
    if not isinstance(interrupt_on, Mapping):
        msg = (
            f"interrupt_on must map tool names to True, False or a config, got {type(interrupt_on).__name__}."
        )
        raise ValueError(msg)
    resolved: dict[str, InterruptOnConfig] = {}
    off: set[str] = set()
    for tool_name, tool_config in interrupt_on.items():
        if isinstance(tool_config, bool):
            if tool_config:
                resolved[tool_name] = InterruptOnConfig(allowed_decisions=list(ALL_DECISIONS))
            else:
                off.add(tool_name)
        elif isinstance(tool_config, Mapping) and tool_config.get("allowed_decisions"):
            bad = [d for d in tool_config["allowed_decisions"] if d not in LANGCHAIN_DECISION_TYPES]
            if bad:
                msg = (
                    f"Invalid `interrupt_on` config for tool '{tool_name}': unknown decision type(s) {bad!r}. "
                    f"Allowed: {', '.join(LANGCHAIN_DECISION_TYPES)}."
                )
                raise ValueError(msg)
            resolved[tool_name] = tool_config
        else:
            keys = sorted(tool_config.keys()) if isinstance(tool_config, Mapping) else []
            got = tool_config.get("allowed_decisions") if isinstance(tool_config, Mapping) else tool_config
            msg = (
                f"Invalid `interrupt_on` config for tool '{tool_name}': "
                "`allowed_decisions` must be a non-empty list of decision types "
                "(e.g. ['approve', 'reject']). Got config with keys "
                f"{keys} and allowed_decisions={got!r}."
            )
            raise ValueError(msg)
    return resolved, off


def _listed(name: str, args: dict[str, Any], allowed: Sequence[str]) -> Assessment:
    return {
        "action_name": name,
        "args_hash": args_hash(args),
        "risk": "medium",
        "reversibility": "partially_reversible",
        "mode": "hard",
        "reasons": [f"{name}: listed in interrupt_on, so a person decides"],
        "required_approvals": 1,
        "approvers": None,
        "escalation": [],
        "timeout_s": None,
        "on_timeout": "reject",
        "allowed_decisions": list(dict.fromkeys(allowed)),
        "verify_phrase": None,
        "impact": "A person reviews this tool call before it runs.",
        "policy_version": "interrupt_on",
    }


def _free(name: str, args: dict[str, Any]) -> Assessment:
    return {
        **_listed(name, args, []),
        "risk": "low",
        "reversibility": "fully_reversible",
        "mode": "auto",
        "reasons": [f"{name}: not gated by interrupt_on, so it runs without review"],
        "required_approvals": 0,
        "impact": "Runs without review.",
    }


def gate(
    name: str, args: dict[str, Any], config: InterruptOnConfig | None, policy: Policy | None
) -> Assessment:
    """The gate for one call: `config` (None: the call runs) layered with `policy` (stricter only).

    - the policy denies: the call never runs;
    - the policy gates (soft, hard, verify): a person decides, with the policy's approvers, count,
      phrase and deadline; a listed tool keeps only the decisions both allow (`reject` if none),
      and never proceeds on a timeout;
    - the policy lets it run (auto, notify) or there is no policy: `config` decides.
    """
    base = _listed(name, args, config["allowed_decisions"]) if config is not None else _free(name, args)
    if policy is None:
        return base
    assessed = policy.assess({"name": name, "args": args})
    if assessed["mode"] == "deny":
        return assessed
    if assessed["mode"] not in _REVIEW_MODES:
        return base
    if config is None:
        return {
            **assessed,
            "allowed_decisions": [str(d) for d in langchain_decisions(assessed["allowed_decisions"])],
        }
    allowed = [d for d in base["allowed_decisions"] if d in assessed["allowed_decisions"]] or ["reject"]
    mode = max(base["mode"], assessed["mode"], key=MODE_ORDER.__getitem__)
    risk = max(base["risk"], assessed["risk"], key=RISK_ORDER.__getitem__)
    return {
        **assessed,
        "mode": mode,
        "risk": risk,
        "reasons": [*assessed["reasons"], *base["reasons"]],
        "allowed_decisions": allowed,
        "on_timeout": "reject" if assessed["on_timeout"] == "approve" else assessed["on_timeout"],
    }


@dataclass(frozen=True)
class InterruptOnPolicy(Policy):
    """`gate` as a `Policy`, for re-assessing a reviewer's edit (which runs no `when` predicate)."""

    interrupt_on: Mapping[str, InterruptOnConfig] = field(default_factory=dict)
    off: frozenset[str] = frozenset()
    review_unlisted: bool = False
    layered: Policy | None = None

    def config_for(self, name: str) -> InterruptOnConfig | None:
        """The `interrupt_on` entry that gates `name` (unlisted tools per `review_unlisted`), or None."""
        config = self.interrupt_on.get(name)
        if config is None and self.review_unlisted and name not in self.off:
            return InterruptOnConfig(allowed_decisions=list(ALL_DECISIONS))
        return config

    def assess(self, action: Any, *, confidence: float | None = None) -> Assessment:
        """The gate for `action` (its `interrupt_on` entry and the layered policy)."""
        return gate(action["name"], action["args"], self.config_for(action["name"]), self.layered)


def describe(call: Mapping[str, Any], assessment: Mapping[str, Any], prefix: str) -> str:
    """The text reviewers see: the gate's own description, else langchain's default format."""
    text = assessment.get("description")
    if not isinstance(text, str):
        text = f"{prefix}\n\nTool: {call['name']}\nArgs: {call['args']}"
    phrase = assessment.get("verify_phrase")
    if phrase:
        text += f"\n\nTo approve, type {phrase!r}."
    return text


def answer_message(call: Mapping[str, Any], decision: Decision) -> ToolMessage:
    """What the model gets instead of the tool's result after `reject` / `respond` (langchain's texts)."""
    reason = decision.get("message")
    if decision["type"] == "respond":
        content = reason or ""
    elif reason:
        content = f"User rejected the tool call for `{call['name']}` with reason: {reason}"
    else:
        content = (
            f"User rejected the tool call for `{call['name']}` with id "
            f"{call.get('id')}. The tool was not executed. Do not retry this tool "
            "call unless the user explicitly requests it."
        )
    return ToolMessage(
        content=content,
        name=call["name"],
        tool_call_id=call.get("id") or "",
        status="success" if decision["type"] == "respond" else "error",
    )


def check_langchain_answer(answer: Any, request: Mapping[str, Any]) -> None:
    """Raise `ValueError` with langchain's message when a batched answer breaks its rules.

    The number of decisions, and each decision's type against its tool's `allowed_decisions`.
    The runner's own `timeout` / `escalate` decisions are left to the package's validation.
    """
    if isinstance(answer, BaseModel):
        answer = answer.model_dump(exclude_none=True)
    if not isinstance(answer, dict) or not isinstance(answer.get("decisions"), list):
        return  # one decision or Agent Inbox's list: checked by `validate_decision`
    decisions = answer["decisions"]
    configs = request["review_configs"]
    if len(decisions) != len(configs):
        msg = (
            f"Number of human decisions ({len(decisions)}) does not match "
            f"number of hanging tool calls ({len(configs)})."
        )
        raise ValueError(msg)
    for decision, config in zip(decisions, configs, strict=True):
        kind = decision.get("type") if isinstance(decision, dict) else None
        if kind in ("timeout", "escalate"):
            continue
        if kind not in config["allowed_decisions"] or kind not in ALL_DECISIONS:
            allowed = config["allowed_decisions"]
            msg = (
                f"Unexpected human decision: {decision}. "
                f"Decision type '{kind}' "
                f"is not allowed for tool '{config['action_name']}'. "
                f"Expected one of {allowed} based on the tool's configuration."
            )
            raise ValueError(msg)


def edit_problem(decisions: Sequence[Mapping[str, Any]], policy: Policy) -> str | None:
    """Why an edit among `decisions` may not be taken, or None.

    An edit is its author's approval of the call it writes, so the written call's own gate (its
    `interrupt_on` entry and the policy, as `policy` assesses it) must let a reviewer approve or
    edit it: an edit into a tool whose entry allows only `reject` (or `respond`) is refused.
    """
    for decision in decisions:
        edited = decision.get("edited_action") if decision.get("type") == "edit" else None
        if not isinstance(edited, Mapping) or not isinstance(edited.get("args"), dict):
            continue
        assessed = policy.assess({"name": edited["name"], "args": edited["args"]})
        allowed = list(assessed["allowed_decisions"])
        if assessed["mode"] in _REVIEW_MODES and not any(d in allowed for d in _APPROVING):
            return (
                f"The edit writes a call to tool '{edited['name']}', whose allowed decisions are {allowed}: "
                "an edit approves the call it writes, and that tool's calls may not be approved. "
                "Edit into a tool that allows approve or edit, or decide the call as it is."
            )
    return None


# -- the per-call answer schema, as langchain 1.4.7 builds it --------------------------------------------


def _edit_args(tool: BaseTool | None) -> object:
    """An edit's `args`: the tool's pydantic call schema, else any object (shown, not enforced)."""
    schema = tool.tool_call_schema if tool else None
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        shown = schema if isinstance(schema, dict) else {"type": "object"}
        return Annotated[dict[str, Any], WithJsonSchema(shown)]
    return schema


def _as_sent(answer: object, check: ValidatorFunctionWrapHandler) -> object:
    """Check `answer`, then pass it on as sent, so the tool validates its args once."""
    check(answer)
    return answer


_create_model: Any = create_model  # fields built at runtime, which type checkers cannot follow


def _edit_decision(name: str, tool: BaseTool | None) -> object:
    edited_action = _create_model("EditedAction", name=(Literal[name], ...), args=(_edit_args(tool), ...))
    decision = _create_model("EditDecision", type=(Literal["edit"], ...), edited_action=(edited_action, ...))
    return Annotated[decision, WrapValidator(_as_sent)]


def decision_schema(allowed: Sequence[str], name: str, tool: BaseTool | None = None) -> Any:
    """The per-call `response_schema`: the allowed decisions, matched on `type`.

    The edit branch pins the tool's name (an edit cannot switch tools) and checks its args
    against the tool's own schema. One allowed decision gives that decision's plain schema.
    """
    by_type: dict[str, object] = {
        "approve": ApproveDecision,
        "reject": RejectDecision,
        "respond": RespondDecision,
    }
    if "edit" in allowed:
        by_type["edit"] = _edit_decision(name, tool)
    members = tuple(by_type[d] for d in dict.fromkeys(allowed))
    if len(members) == 1:
        return members[0]
    return Annotated[Union[members], Discriminator("type")]  # noqa: UP007  # a runtime tuple of types
