"""The nodes of an escalation chain: a model level's, and a human level's two around its review.

- `ModelLevelNode` asks the level's model and escalates on an error, a timeout, sensitive
  content (straight to the next human level) or low confidence; otherwise it resolves the task.
- `AskHumanNode` proposes the current answer for the level's `ReviewNode`, which asks the one
  question (the interrupt is there, not here).
- `HumanOutcomeNode` reads that review's decision: approved, edited or responded resolves the
  task, a timeout escalates, anything else rejects it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig

from .._canonical import check_json
from ..nodes._common import step_key
from ..nodes._view import view
from ..nodes.review import authorized_in, bind_action
from ..types import ActionRequest, Assessment, DecisionRecord
from ._escalation_chain import Chain
from .levels import DEFAULT_LEVEL_PROMPT, EscalationStep, HumanLevel, LevelAnswer, ModelLevel
from .llm import parse_structured, structured_call

__all__ = ["AskHumanNode", "HumanOutcomeNode", "ModelLevelNode"]


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


class ModelLevelNode:
    """Ask a model level; resolve the task, or escalate with the reason."""

    def __init__(self, chain: Chain, index: int) -> None:
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
        outcome, to, reason = self._judge(task, result)
        return {
            "answer": result.answer,
            "confidence": result.confidence,
            "escalation_status": "running",
            **chain.step(
                state,
                config,
                i,
                kind="model",
                outcome=outcome,
                answer=result.answer,
                to=to,
                confidence=result.confidence,
                reason=reason,
            ),
        }

    def _judge(self, task: Any, result: LevelAnswer) -> tuple[str, str | None, str]:
        """The outcome of a model's answer, where it escalates to, and why.

        Sensitive content skips the remaining model levels, straight to the next human level; a
        confidence below `min_confidence` escalates to the next level; anything else resolves.
        """
        chain, i = self.chain, self.index
        try:
            flagged = chain.sensitive(task, result.answer) if chain.sensitive else False
        except Exception as exc:  # a broken check must not let sensitive content through
            flagged = f"the sensitive-content check failed ({type(exc).__name__}: {exc}), so a person decides"
        if result.sensitive or flagged:
            why = flagged if isinstance(flagged, str) else "the model flagged the content as sensitive"
            return "escalated", chain.next_after(i, human_only=True), f"sensitive: {why}"
        if result.confidence < chain.min_confidence:
            reason = f"low confidence: {result.confidence:.2f} below {chain.min_confidence}"
            return "escalated", chain.next_after(i), reason
        return "resolved", None, f"confidence {result.confidence:.2f} at or above {chain.min_confidence}"


class AskHumanNode:
    """Propose the current answer to a human level, for its `ReviewNode` to ask about."""

    def __init__(self, chain: Chain, index: int) -> None:
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


class HumanOutcomeNode:
    """Turn a human level's decision into the step it is: resolved, escalated or rejected."""

    def __init__(self, chain: Chain, index: int) -> None:
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
