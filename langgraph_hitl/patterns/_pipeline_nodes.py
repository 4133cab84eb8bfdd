"""The nodes of an approval pipeline: `StageNode` runs a stage, `FinishNode` says how it ended.

A stage's node also closes the previous stage's review: an approved output passes on only with
receipts for exactly that output (G9). A reviewed stage's node proposes its output for sign-off,
which the stage's `ReviewNode` then asks about (one interrupt, in that node, not here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig

from .._canonical import args_hash, check_json
from .._events import make_event
from ..errors import PolicyError
from ..nodes._common import event_time, seal_key_of, step_key, thread_id_of
from ..nodes._view import view
from ..nodes.review import authorized_in, bind_action
from ..receipts import action_digest, seal
from ..types import ActionRequest, Assessment, DecisionRecord
from .stages import Stage, StageResult

__all__ = ["FinishNode", "StageNode", "revisions"]


def revisions(decisions: list[DecisionRecord], review: str) -> int:
    """How many revisions the review node `review` asked for so far."""
    return sum(1 for d in decisions if d["node"] == review and d["effect"] == "revision_requested")


def _last_decision(decisions: list[DecisionRecord], review: str) -> DecisionRecord | None:
    return next((d for d in reversed(decisions) if d["node"] == review), None)


def _stage_output(action: dict[str, Any]) -> Any:
    args = action.get("args") or {}
    return args["output"] if "output" in args else args


def _close(
    state: dict[str, Any], stage: Stage, number: int, config: RunnableConfig, store: Any
) -> StageResult | None:
    """The final result of a reviewed stage that was waiting for review, or None.

    An approved output passes on only with receipts for exactly that output (G9); otherwise the
    stage counts as rejected, naming why.
    """
    result: dict[str, Any] = dict((state.get("stage_results") or {}).get(stage.name) or {})
    if result.get("status") != "awaiting_review":
        return None
    last = _last_decision(state.get("decisions") or [], f"review_{stage.name}")
    refusal = (
        authorized_in(state, config, store=store)
        if last and last["effect"] in ("approved", "edited")
        else None
    )
    if refusal is not None:
        result.update(status="rejected", approver=None, message=f"not passed on: {refusal}")
    elif last is not None and last["effect"] in ("approved", "edited"):
        result.update(
            status=last["effect"],
            approver=last["approver"],
            message=last["message"],
            output=_stage_output(state.get("action") or {}),
        )
    else:
        result.update(
            status="rejected",
            approver=last["approver"] if last else None,
            message=last["message"] if last else None,
        )
    result["stage"] = number
    return result  # type: ignore[return-value]


def _sign_off(stage: Stage, number: int, total: int, action: ActionRequest) -> Assessment:
    """The gate a reviewed stage's output goes through: one sign-off, rejected on timeout."""
    return {
        "action_name": stage.name,
        "args_hash": args_hash(action["args"]),
        "risk": "medium",
        "reversibility": "partially_reversible",
        "mode": "hard",
        "reasons": [f"stage {number} of {total} ({stage.name}) needs sign-off before the pipeline continues"],
        "required_approvals": 1,
        "approvers": list(stage.approvers) if stage.approvers else None,
        "escalation": [],
        "timeout_s": stage.timeout,
        "on_timeout": "reject",
        "allowed_decisions": list(stage.allowed_decisions),
        "verify_phrase": None,
        "impact": "Nothing leaves the pipeline until its last stage is done; a rejection stops it here.",
        "policy_version": "pipeline",
    }


def _revision_asked(state: dict[str, Any], stage: Stage, review: str) -> tuple[str | None, Any]:
    """The reviewers' instructions and the stage's previous output, when its review asked for a revision."""
    decisions: list[DecisionRecord] = state.get("decisions") or []
    last = decisions[-1] if decisions else None
    revising = last is not None and last["node"] == review and last["effect"] == "revision_requested"
    asked = [
        d["message"] or "" for d in decisions if d["node"] == review and d["effect"] == "revision_requested"
    ]
    instructions = "\n".join(asked) if revising else None
    previous = ((state.get("stage_results") or {}).get(stage.name) or {}).get("output") if revising else None
    return instructions, previous


def _sealed(
    name: str, about: dict[str, Any], config: RunnableConfig, key: bytes, **fields: Any
) -> dict[str, Any]:
    """The sealed audit event `name` about a stage's output (`about`: its action id, actor, thread, action)."""
    return seal(make_event(name, **about, ts=event_time(config), **fields), key)


class StageNode:
    """Run stage `index` on the previous stage's output; propose the result for sign-off if reviewed."""

    def __init__(
        self, stages: Sequence[Stage], index: int, *, requested_by: str, task: str | None, store: Any = None
    ) -> None:
        self.stages, self.index, self.requested_by, self.task, self.store = (
            stages,
            index,
            requested_by,
            task,
            store,
        )
        self.stage = stages[index]

    def __call__(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        state = view(state)
        stage, number, total = self.stage, self.index + 1, len(self.stages)
        review = f"review_{stage.name}"
        results: dict[str, Any] = {}
        value = self._input(state, config, results)
        instructions, previous = _revision_asked(state, stage, review)
        revision = revisions(state.get("decisions") or [], review)
        output = self._run(value, instructions, previous)
        requester = state.get("requested_by") or self.requested_by
        action = self._action(output)
        occurrence = step_key(config, stage.name)
        action_id = action_digest(action, thread_id=thread_id_of(config), occurrence=occurrence)[:32]
        key = seal_key_of(config, self.store)
        results[stage.name] = {
            "stage": number,
            "name": stage.name,
            "output": output,
            "revisions": revision,
            "status": "awaiting_review" if stage.reviewed else "done",
        }
        update: dict[str, Any] = {
            "stage_results": results,
            "pipeline_status": "running",
            "requested_by": requester,
        }
        about: dict[str, Any] = {
            "action_id": action_id,
            "actor": requester,
            "thread_id": thread_id_of(config),
            "action": action,
        }
        if not stage.reviewed:
            step = {"stage": number, "name": stage.name, "step": f"{number} of {total}"}
            update["audit_trail"] = [_sealed("executed", about, config, key, outcome="success", detail=step)]
            return update
        assessment = _sign_off(stage, number, total, action)
        update.update(
            action=action,
            status="proposed",
            **bind_action(
                action, assessment, config, occurrence=occurrence, requested_by=requester, store=self.store
            ),
            review_message=None,
            hitl_context=self._context(value, revision, instructions),
            audit_trail=[
                _sealed(
                    "proposed",
                    about,
                    config,
                    key,
                    assessment=dict(assessment),
                    detail={"stage": number, "revision": revision, "instructions": instructions},
                )
            ],
        )
        return update

    def _action(self, output: Any) -> ActionRequest:
        """The stage's output as an action: what its audit events name and its reviewer signs off."""
        stage, number, total = self.stage, self.index + 1, len(self.stages)
        return {
            "name": stage.name,
            "args": {"output": output},
            "description": stage.description or f"Output of stage {number} of {total}: {stage.name}",
        }

    def _run(self, value: Any, instructions: str | None, previous: Any) -> Any:
        """The stage's output, which must be plain JSON (it is kept in state and shown to reviewers)."""
        stage = self.stage
        output = stage.call(value, instructions, previous)
        try:
            check_json(output, where=f"Stage {stage.name!r} output")
        except TypeError as exc:
            raise PolicyError(str(exc)) from None
        return output

    def _context(self, value: Any, revision: int, instructions: str | None) -> dict[str, Any]:
        """What the stage's reviewer is shown besides the output: the task, step N of M, the input."""
        return {
            "task": self.task or "approval pipeline",
            "stage": self.stage.name,
            "step": self.index + 1,
            "total_steps": len(self.stages),
            "revision": revision,
            "instructions": instructions,
            "input": value,
            "stages": [s.name for s in self.stages],
        }

    def _input(self, state: dict[str, Any], config: RunnableConfig, results: dict[str, Any]) -> Any:
        """The pipeline's input for the first stage; else the previous stage's output, once its review closed."""
        if self.index == 0:
            return state.get("input")
        prev = self.stages[self.index - 1]
        closed = _close(state, prev, self.index, config, self.store)
        if closed is not None:
            results[prev.name] = closed
        return (closed or (state.get("stage_results") or {}).get(prev.name) or {}).get("output")


class FinishNode:
    """Close the last review and end the pipeline: `completed` with its output, or `rejected` where it stopped."""

    def __init__(self, stages: Sequence[Stage], *, max_revisions: int, store: Any = None) -> None:
        self.stages, self.max_revisions, self.store = stages, max_revisions, store

    def __call__(self, state: Any, config: RunnableConfig) -> dict[str, Any]:
        state = view(state)
        for number, stage in enumerate(self.stages, start=1):
            closed = _close(state, stage, number, config, self.store)
            if closed is None:
                continue
            if closed["status"] != "rejected":
                return {
                    "stage_results": {stage.name: closed},
                    "pipeline_status": "completed",
                    "output": closed.get("output"),
                    "stopped_at": None,
                }
            return self._stop(state, config, stage, number, closed)
        last = self.stages[-1]
        output = ((state.get("stage_results") or {}).get(last.name) or {}).get("output")
        return {"pipeline_status": "completed", "output": output, "stopped_at": None}

    def _stop(
        self, state: dict[str, Any], config: RunnableConfig, stage: Stage, number: int, closed: StageResult
    ) -> dict[str, Any]:
        decisions: list[DecisionRecord] = state.get("decisions") or []
        last = _last_decision(decisions, f"review_{stage.name}")
        update: dict[str, Any] = {
            "stage_results": {stage.name: closed},
            "pipeline_status": "rejected",
            "output": None,
        }
        effect = last["effect"] if last else "rejected"
        if effect == "revision_requested":
            reason = f"revision limit reached: {self.max_revisions} revision(s) allowed, counted as rejected"
            update["audit_trail"] = [
                seal(
                    make_event(
                        "rejected",
                        action_id=state.get("action_id") or "",
                        actor="policy",
                        thread_id=thread_id_of(config),
                        action=state.get("action"),
                        assessment=state.get("assessment"),
                        decision="rejected",
                        detail={
                            "stage": number,
                            "reason": "max_revisions",
                            "max_revisions": self.max_revisions,
                        },
                        ts=event_time(config),
                    ),
                    seal_key_of(config, self.store),
                )
            ]
        elif effect == "timed_out":
            reason = "nobody decided in time (timeout): rejected"
        elif str(closed.get("message") or "").startswith("not passed on"):
            reason = str(closed["message"])  # approved in state, but no receipts cover this output (G9)
        else:
            message = last["message"] if last else None
            reason = f"{effect} by {last['approver'] if last else 'policy'}" + (
                f": {message}" if message else ""
            )
        update["stopped_at"] = {
            "stage": number,
            "name": stage.name,
            "reason": reason,
            "by": last["approver"] if last else None,
        }
        return update
