"""`create_escalation_chain`: try the cheap answer first, escalate when it is not good enough.

Levels run in order, e.g. agent -> senior agent (a stronger model) -> human -> manager. A model
level answers `{answer, confidence, sensitive}`; it escalates to the next level when

- its confidence is below `min_confidence` (default 0.7) or missing,
- the call fails (`error`) or times out (`timeout`),
- the content is sensitive (the model says so, or your `sensitive(task, answer)` check does):
  remaining model levels are skipped, straight to the next human level.

A human level pauses through a `ReviewNode`: approve the proposed answer, edit it, respond
with their own, or reject the task; nobody deciding in time (the runner's timeout) escalates
to the next level. Every step is in `escalation_path` and in `audit_trail` with its reason.

```
agent --(confidence 0.42 < 0.7)--> senior_agent --(sensitive)--> human --(timeout)--> manager
```

Example:
    ```python
    from langgraph_hitl.patterns import HumanLevel, ModelLevel, create_escalation_chain

    builder = create_escalation_chain([
        ModelLevel("agent", ChatOpenAI(model="gpt-4o-mini")),
        ModelLevel("senior_agent", ChatOpenAI(model="gpt-4o")),
        HumanLevel("human", approvers=["support"], timeout=900),
        HumanLevel("manager", approvers=["support_manager"]),
    ])
    graph = builder.compile(checkpointer=saver)
    graph.invoke({"task": "Customer asks for a refund of order 8812"}, config)
    ```
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_type_hints

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from .._canonical import check_json, stable_id
from .._events import make_event
from ..errors import PolicyError
from ..nodes import AuditNode, ReviewNode
from ..nodes._common import event_time, seal_key_of, step_key, thread_id_of
from ..nodes._view import view
from ..nodes.review import authorized_in, bind_action
from ..policy import Policy
from ..receipts import seal
from ..types import ActionRequest, Assessment, DecisionRecord
from .levels import (
    DEFAULT_LEVEL_PROMPT,
    EscalationState,
    EscalationStep,
    HumanLevel,
    Level,
    LevelAnswer,
    ModelLevel,
)
from .llm import parse_structured, structured_call

__all__ = ["create_escalation_chain"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower()


def _wants_history(fn: Any) -> bool:
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


class _Chain:
    store: Any = None
    """The chain's own store, whose seal key the nodes use when no runner drives the graph."""

    def __init__(
        self,
        levels: Sequence[Level],
        *,
        min_confidence: float,
        sensitive: Callable[[Any, Any], bool | str] | None,
        requested_by: str,
    ) -> None:
        self.levels, self.min_confidence, self.sensitive, self.requested_by = (
            levels,
            min_confidence,
            sensitive,
            requested_by,
        )

    def next_after(self, index: int, *, human_only: bool = False) -> str | None:
        for level in self.levels[index + 1 :]:
            if not human_only or isinstance(level, HumanLevel):
                return level.name
        return None

    def step(
        self,
        state: dict[str, Any],
        config: RunnableConfig,
        index: int,
        *,
        kind: Literal["model", "human"],
        outcome: str,
        reason: str,
        to: str | None = None,
        confidence: float | None = None,
        answer: Any = None,
        by: str | None = None,
    ) -> dict[str, Any]:
        """The update recording one step, with its audit event."""
        name = self.levels[index].name
        if outcome == "escalated" and to is None:
            outcome, reason = "unresolved", f"{reason}; no level left to escalate to"
        event = {
            "resolved": "approved" if kind == "human" else "auto_approved",
            "escalated": "escalated",
            "rejected": "rejected",
            "unresolved": "rejected",
        }[outcome]
        action = {"name": "answer", "args": {"task": state.get("task"), "answer": answer}}
        actor = by or (name if kind == "model" else "system")
        update: dict[str, Any] = {
            "escalation_path": [
                {
                    "level": name,
                    "kind": kind,
                    "outcome": outcome,
                    "reason": reason,
                    "to": to,
                    "confidence": confidence,
                }
            ],
        }
        if kind == "model" or outcome in (
            "escalated",
            "unresolved",
        ):  # a person's decision is already audited
            update["audit_trail"] = [
                seal(
                    make_event(
                        event,
                        action_id=stable_id(step_key(config, name), name),
                        actor=actor,
                        thread_id=thread_id_of(config),
                        action=action,
                        decision=outcome,
                        ts=event_time(config),
                        detail={
                            "level": name,
                            "kind": kind,
                            "reason": reason,
                            "to": to,
                            "confidence": confidence,
                        },
                    ),
                    seal_key_of(config, self.store),
                )
            ]
        if outcome != "escalated":
            update.update(escalation_status=outcome, resolved_by=f"{name}:{by}" if by else name)
        return update


class _ModelNode:
    def __init__(self, chain: _Chain, index: int) -> None:
        self.chain, self.index = chain, index
        level = chain.levels[index]
        assert isinstance(level, ModelLevel)
        self.level = level
        self._chat = hasattr(level.model, "invoke")
        self._call: Callable[..., Any] = (
            structured_call(level.model, LevelAnswer) if self._chat else level.model
        )
        self._history = not self._chat and _wants_history(level.model)

    def _ask(self, task: Any, history: list[EscalationStep]) -> LevelAnswer:
        if not self._chat:
            raw = self._call(task, history) if self._history else self._call(task)
            return parse_structured(raw, LevelAnswer)
        text = task if isinstance(task, str) else json.dumps(task, default=str)
        if history:
            text += "\n\nEarlier attempts:\n" + "\n".join(f"- {s['level']}: {s['reason']}" for s in history)
        prompt = self.level.prompt or DEFAULT_LEVEL_PROMPT
        return parse_structured(self._call([SystemMessage(prompt), HumanMessage(text)]), LevelAnswer)

    def __call__(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        state = view(state)
        chain, i = self.chain, self.index
        task = state.get("task")
        try:
            result = self._ask(task, list(state.get("escalation_path") or []))
            check_json(result.answer, where=f"level {self.level.name!r} answer")
        except Exception as exc:  # an error or a timeout is a reason to escalate, not to crash the run
            label = "timeout" if _is_timeout(exc) else "error"
            return {
                "escalation_status": "running",
                **chain.step(
                    state,
                    config,
                    i,
                    kind="model",
                    outcome="escalated",
                    to=chain.next_after(i),
                    reason=f"{label}: {type(exc).__name__}: {str(exc)[:200]}",
                ),
            }
        base = {"answer": result.answer, "confidence": result.confidence, "escalation_status": "running"}
        try:
            flagged = self.chain.sensitive(task, result.answer) if self.chain.sensitive else False
        except Exception as exc:  # a broken check must not let sensitive content through
            flagged = f"the sensitive-content check failed ({type(exc).__name__}: {exc}), so a person decides"
        if result.sensitive or flagged:
            why = flagged if isinstance(flagged, str) else "the model flagged the content as sensitive"
            return {
                **base,
                **chain.step(
                    state,
                    config,
                    i,
                    kind="model",
                    outcome="escalated",
                    answer=result.answer,
                    to=chain.next_after(i, human_only=True),
                    confidence=result.confidence,
                    reason=f"sensitive: {why}",
                ),
            }
        if result.confidence < chain.min_confidence:
            return {
                **base,
                **chain.step(
                    state,
                    config,
                    i,
                    kind="model",
                    outcome="escalated",
                    answer=result.answer,
                    to=chain.next_after(i),
                    confidence=result.confidence,
                    reason=f"low confidence: {result.confidence:.2f} below {chain.min_confidence}",
                ),
            }
        return {
            **base,
            **chain.step(
                state,
                config,
                i,
                kind="model",
                outcome="resolved",
                answer=result.answer,
                confidence=result.confidence,
                reason=f"confidence {result.confidence:.2f} at or above {chain.min_confidence}",
            ),
        }


class _AskHumanNode:
    def __init__(self, chain: _Chain, index: int) -> None:
        self.chain, self.index = chain, index
        level = chain.levels[index]
        assert isinstance(level, HumanLevel)
        self.level = level

    def __call__(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        state = view(state)
        level, path = self.level, list(state.get("escalation_path") or [])
        why = path[-1]["reason"] if path else "first level"
        allowed = list(level.allowed_decisions)
        if state.get("answer") is None:  # nothing to approve or edit yet: answer it (respond) or refuse it
            allowed = [d for d in allowed if d not in ("approve", "edit")]
        action: ActionRequest = {
            "name": "answer",
            "args": {"task": state.get("task"), "answer": state.get("answer")},
            "description": (
                f"Escalated to {level.name}: {why}. Approve the proposed answer, edit it "
                "(args.answer), respond with your own answer, or reject the task."
            ),
        }
        assessment: Assessment = {
            "action_name": "answer",
            "args_hash": "",
            "risk": "high",
            "reversibility": "irreversible_low",
            "mode": "hard",
            "reasons": [f"escalated to {level.name}: {why}"],
            "required_approvals": 1,
            "approvers": list(level.approvers) if level.approvers else None,
            "escalation": [],
            "timeout_s": level.timeout,
            "on_timeout": "reject",
            "allowed_decisions": allowed,
            "verify_phrase": None,
            "impact": "The answer goes back to the requester.",
            "policy_version": "escalation",
        }
        following = self.chain.next_after(self.index)
        context = {
            "task": state.get("task"),
            "level": level.name,
            "step": self.index + 1,
            "total_steps": len(self.chain.levels),
            "path": path,
            "on_timeout": f"escalates to {following}" if following else "unresolved (rejected)",
        }
        requester = state.get("requested_by") or self.chain.requested_by
        return {
            "action": action,
            "status": "proposed",
            "hitl_context": context,
            "requested_by": requester,
            **bind_action(
                action,
                assessment,
                config,
                occurrence=step_key(config, level.name),
                requested_by=requester,
                store=self.chain.store,
            ),
        }


class _HumanOutcomeNode:
    def __init__(self, chain: _Chain, index: int) -> None:
        self.chain, self.index = chain, index
        self.review = f"review_{chain.levels[index].name}"

    def __call__(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        state = view(state)
        decisions: list[DecisionRecord] = state.get("decisions") or []
        last = next((d for d in reversed(decisions) if d["node"] == self.review), None)
        effect, who = (last["effect"], last["approver"]) if last else ("timed_out", None)
        action = state.get("action") or {}
        chain, i = self.chain, self.index
        if effect in ("approved", "edited"):
            refusal = authorized_in(state, config, store=chain.store)
            if refusal is not None:  # G9: an approval that does not cover this answer resolves nothing
                return chain.step(state, config, i, kind="human", outcome="rejected", by=who,
                                  reason=f"not accepted: {refusal}")  # fmt: skip
        if effect in ("approved", "edited", "responded"):
            answer = (
                last["message"]
                if effect == "responded" and last
                else (action.get("args") or {}).get("answer")
            )
            return {
                "answer": answer,
                **chain.step(
                    state,
                    config,
                    i,
                    kind="human",
                    outcome="resolved",
                    answer=answer,
                    by=who,
                    reason=f"{effect} by {who}",
                ),
            }
        if effect in ("timed_out", "escalated"):
            return chain.step(
                state,
                config,
                i,
                kind="human",
                outcome="escalated",
                to=chain.next_after(i),
                answer=state.get("answer"),
                reason=f"timeout: nobody at {chain.levels[i].name} decided in time",
            )
        message = f": {last['message']}" if last and last["message"] else ""
        return chain.step(
            state,
            config,
            i,
            kind="human",
            outcome="rejected",
            answer=state.get("answer"),
            by=who,
            reason=f"{effect} by {who}{message}",
        )


def _after_step(state: dict[str, Any]) -> str:
    path = state.get("escalation_path") or []
    last = path[-1] if path else None
    return last["to"] if last and last["outcome"] == "escalated" and last["to"] else "audit"


def _review_condition(review: str, outcome: str) -> Callable[[dict[str, Any]], str]:
    def condition(state: dict[str, Any]) -> str:
        state = view(state)  # type: ignore[assignment]
        decisions: list[DecisionRecord] = state.get("decisions") or []
        last = decisions[-1] if decisions else None
        if state.get("status") == "proposed" and (last is None or last["effect"] in ("refused", "rereview")):
            return review  # an invalid answer or an edit that needs another look: ask again
        return outcome

    condition.__name__ = f"after_{review}"
    return condition


_REQUIRED_KEYS = (
    "task",
    "answer",
    "escalation_status",
    "resolved_by",
    "escalation_path",
    "confidence",
    "action",
    "action_id",
    "assessment",
    "decisions",
    "status",
    "audit_trail",
    "requested_by",
    "hitl_context",
)


def create_escalation_chain(
    levels: Sequence[Level],
    *,
    min_confidence: float = 0.7,
    sensitive: Callable[[Any, Any], bool | str] | None = None,
    state_schema: type[Any] | None = None,
    store: Any = None,
    requested_by: str = "agent",
) -> StateGraph[Any, Any, Any, Any]:
    """Build a graph that walks `levels` until one resolves the task.

    Start it with `{"task": ...}`. The final state has `escalation_status`, `answer`,
    `resolved_by` and the `escalation_path` with every step's reason.

    Args:
        levels: `ModelLevel`s and `HumanLevel`s, in escalation order (unique names).
        min_confidence: A model answer below this confidence escalates.
        sensitive: `sensitive(task, answer) -> bool | str`; true (or a reason) sends a model's
            answer straight to the next human level.
        state_schema: Your state TypedDict; it must include `EscalationState`'s keys.
        store: A `Store` (from `open_store(url)`) for the final `AuditNode`; None uses the runner's store.
        requested_by: Who asks (may never approve at a human level).

    Returns:
        The uncompiled `StateGraph`.

    Raises:
        PolicyError: No levels, a bad or duplicate name, a bad level option, `min_confidence`
            outside [0, 1], or a `state_schema` missing `EscalationState`'s keys.

    Example:
        ```python
        graph = create_escalation_chain(
            [ModelLevel("agent", cheap_model), ModelLevel("senior_agent", strong_model),
             HumanLevel("human", approvers=["support"], timeout=900), HumanLevel("manager", approvers=["lead"])],
            sensitive=lambda task, answer: "mentions a lawyer" if "lawyer" in str(task) else False,
        ).compile(checkpointer=saver)
        out = graph.invoke({"task": "Refund order 8812?"}, config)
        ```
    """
    levels = list(levels)
    if not levels or not all(isinstance(lv, (ModelLevel, HumanLevel)) for lv in levels):
        msg = f"create_escalation_chain needs a non-empty list of ModelLevel / HumanLevel, got {levels!r}."
        raise PolicyError(msg)
    nodes: list[str] = []
    for lv in levels:
        if not isinstance(lv.name, str) or not _NAME.match(lv.name) or lv.name == "audit":
            msg = f"Level name {lv.name!r} is not usable: letters, digits and '_', starting with a letter; not 'audit'."
            raise PolicyError(msg)
        nodes += [lv.name] + ([f"review_{lv.name}", f"after_{lv.name}"] if isinstance(lv, HumanLevel) else [])
        if isinstance(lv, ModelLevel) and not (hasattr(lv.model, "invoke") or callable(lv.model)):
            msg = f"ModelLevel {lv.name!r}: model={lv.model!r} is neither a chat model nor callable."
            raise PolicyError(msg)
        if isinstance(lv, HumanLevel):
            ReviewNode(approvers=lv.approvers, allowed_decisions=lv.allowed_decisions, timeout=lv.timeout)
            if "revise" in lv.allowed_decisions:
                msg = f"HumanLevel {lv.name!r}: 'revise' is not a level decision; use approve, edit, reject, respond."
                raise PolicyError(msg)
    dupes = sorted({n for n in nodes if nodes.count(n) > 1})
    if dupes:
        msg = (
            f"Level names clash: {dupes!r} (a human level X also adds 'review_X' and 'after_X'). Rename them."
        )
        raise PolicyError(msg)
    if (
        isinstance(min_confidence, bool)
        or not isinstance(min_confidence, (int, float))
        or not 0 <= min_confidence <= 1
    ):
        msg = f"min_confidence={min_confidence!r}; use a number in [0, 1] (default 0.7)."
        raise PolicyError(msg)
    if sensitive is not None and not callable(sensitive):
        msg = f"sensitive={sensitive!r}; pass a function (task, answer) -> bool or reason, or None."
        raise PolicyError(msg)
    schema = state_schema or EscalationState
    missing = [k for k in _REQUIRED_KEYS if k not in get_type_hints(schema, include_extras=True)]
    if missing:
        msg = f"state_schema {schema.__name__} lacks {missing!r}; subclass EscalationState."
        raise PolicyError(msg)
    chain = _Chain(
        levels, min_confidence=float(min_confidence), sensitive=sensitive, requested_by=requested_by
    )
    chain.store = store
    answer_policy = Policy({"answer": "fully_reversible"}, version="escalation")
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(schema)
    targets = sorted({lv.name for lv in levels} | {"audit"})
    for i, lv in enumerate(levels):
        if isinstance(lv, ModelLevel):
            builder.add_node(lv.name, _ModelNode(chain, i), retry_policy=lv.retry)
            builder.add_conditional_edges(lv.name, _after_step, targets)
            continue
        review, after = f"review_{lv.name}", f"after_{lv.name}"
        builder.add_node(lv.name, _AskHumanNode(chain, i))
        asker: Any = ReviewNode(
            approvers=lv.approvers,
            timeout=lv.timeout,
            on_timeout="reject",  # dict-typed node
            stage=i + 1,
            policy=answer_policy,
            name=review,
            store=store,
        )  # decisions: the assessment's
        builder.add_node(review, asker)
        builder.add_node(after, _HumanOutcomeNode(chain, i))
        builder.add_edge(lv.name, review)
        builder.add_conditional_edges(review, _review_condition(review, after), [review, after])
        builder.add_conditional_edges(after, _after_step, targets)
    audit: Any = AuditNode(store)
    builder.add_node("audit", audit)
    builder.add_edge(START, levels[0].name)
    builder.add_edge("audit", END)
    return builder
