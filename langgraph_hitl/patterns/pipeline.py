"""`Stage` and `create_approval_pipeline`: multi-stage work with sign-off and revision loops.

Stages run in order; each one's output is the next one's input. A stage with approvers pauses
for review through a `ReviewNode` (one interrupt, the usual `ReviewRequest`, `hitl.stage` =
the stage's number, `hitl.context` with step N of M). The reviewer can:

- `approve`: the pipeline moves on with the output;
- `edit`: the pipeline moves on with the reviewer's output (`edited_action.args.output`);
- `revise`: the stage runs again with the reviewer's instructions, and the new output is
  reviewed again, up to `max_revisions` times (one more request counts as a rejection).
  langchain's `review_configs` cannot list it, so it is offered in `hitl.allowed_decisions`;
- `reject` (or a timeout): the pipeline stops, and `stopped_at` says where and why.

```
START -> draft -> tone_review -> review_tone_review -> finalize -> finish -> audit -> END
                      ^              | revise
                      +--------------+          (reject / timeout / too many revisions -> finish)
```

Example:
    ```python
    from langgraph_hitl.patterns import Stage, create_approval_pipeline

    def draft(topic):
        return f"Hi team, about {topic}: we ship on Friday."

    def tone(text, instructions):
        return text if not instructions else text.replace("Hi team", "Dear all")

    builder = create_approval_pipeline([
        Stage("draft", draft),
        Stage("tone_review", tone, approvers=["manager"]),
        Stage("finalize", lambda text: text + "\\n-- Sent by the release bot"),
    ])
    graph = builder.compile(checkpointer=saver)
    graph.invoke({"input": "the release"}, config)          # pauses at review_tone_review
    graph.invoke(Command(resume={"type": "approve", "approver": "manager"}), config)
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, get_type_hints

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from .._canonical import args_hash, check_json
from .._events import make_event
from ..errors import PolicyError
from ..nodes import AuditNode, ReviewNode
from ..nodes._common import event_time, run_config, seal_key_of, step_key, thread_id_of
from ..nodes._view import view
from ..nodes.review import authorized_in, bind_action
from ..policy import Policy
from ..receipts import action_digest, seal
from ..types import ActionRequest, Assessment, DecisionRecord
from .stages import PipelineState, Stage, StageResult

__all__ = ["create_approval_pipeline"]


def _revisions(decisions: list[DecisionRecord], review: str) -> int:
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


class _StageNode:
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
        if self.index == 0:
            value = state.get("input")
        else:
            prev = self.stages[self.index - 1]
            closed = _close(state, prev, number - 1, config, self.store)
            if closed is not None:
                results[prev.name] = closed
            value = (closed or (state.get("stage_results") or {}).get(prev.name) or {}).get("output")
        decisions: list[DecisionRecord] = state.get("decisions") or []
        last = decisions[-1] if decisions else None
        revising = last is not None and last["node"] == review and last["effect"] == "revision_requested"
        asked = [
            d["message"] or ""
            for d in decisions
            if d["node"] == review and d["effect"] == "revision_requested"
        ]
        instructions = "\n".join(asked) if revising else None
        previous = (
            ((state.get("stage_results") or {}).get(stage.name) or {}).get("output") if revising else None
        )
        revision = _revisions(decisions, review)
        output = stage.call(value, instructions, previous)
        try:
            check_json(output, where=f"Stage {stage.name!r} output")
        except TypeError as exc:
            raise PolicyError(str(exc)) from None
        requester = state.get("requested_by") or self.requested_by
        action: ActionRequest = {
            "name": stage.name,
            "args": {"output": output},
            "description": stage.description or f"Output of stage {number} of {total}: {stage.name}",
        }
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
        if not stage.reviewed:
            update["audit_trail"] = [
                seal(
                    make_event(
                        "executed",
                        action_id=action_id,
                        actor=requester,
                        thread_id=thread_id_of(config),
                        action=action,
                        outcome="success",
                        detail={"stage": number, "name": stage.name, "step": f"{number} of {total}"},
                        ts=event_time(config),
                    ),
                    key,
                )
            ]
            return update
        assessment: Assessment = {
            "action_name": stage.name,
            "args_hash": args_hash(action["args"]),
            "risk": "medium",
            "reversibility": "partially_reversible",
            "mode": "hard",
            "reasons": [
                f"stage {number} of {total} ({stage.name}) needs sign-off before the pipeline continues"
            ],
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
        context = {
            "task": self.task or "approval pipeline",
            "stage": stage.name,
            "step": number,
            "total_steps": total,
            "revision": revision,
            "instructions": instructions,
            "input": value,
            "stages": [s.name for s in self.stages],
        }
        update.update(
            action=action,
            status="proposed",
            **bind_action(
                action, assessment, config, occurrence=occurrence, requested_by=requester, store=self.store
            ),
            review_message=None,
            hitl_context=context,
            audit_trail=[
                seal(
                    make_event(
                        "proposed",
                        action_id=action_id,
                        actor=requester,
                        thread_id=thread_id_of(config),
                        action=action,
                        assessment=dict(assessment),
                        ts=event_time(config),
                        detail={"stage": number, "revision": revision, "instructions": instructions},
                    ),
                    key,
                )
            ],
        )
        return update


class _FinishNode:
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


def _after_review(
    stage: Stage, next_node: str, max_revisions: int, store: Any
) -> Callable[[dict[str, Any]], str]:
    review = f"review_{stage.name}"

    def condition(state: dict[str, Any]) -> str:
        state = view(state)  # type: ignore[assignment]
        status = state.get("status")
        if status == "approved":
            # G9: approved only with receipts for exactly this output; otherwise `finish` stops here.
            return next_node if authorized_in(state, run_config(), store=store) is None else "finish"
        if status == "proposed":  # an invalid answer or an edit that needs another look: ask again
            return review
        if status == "revision_requested":
            within = _revisions(state.get("decisions") or [], review) <= max_revisions
            return stage.name if within else "finish"
        return "finish"

    condition.__name__ = f"after_{review}"
    return condition


_REQUIRED_KEYS = (
    "input",
    "output",
    "stage_results",
    "pipeline_status",
    "stopped_at",
    "action",
    "action_id",
    "assessment",
    "decisions",
    "status",
    "audit_trail",
    "review_message",
    "requested_by",
    "hitl_context",
)


def create_approval_pipeline(
    stages: Sequence[Stage],
    *,
    state_schema: type[Any] | None = None,
    max_revisions: int = 3,
    store: Any = None,
    requested_by: str = "agent",
    task: str | None = None,
) -> StateGraph[Any, Any, Any, Any]:
    """Build a graph that runs `stages` in order, pausing where a stage needs sign-off.

    Compile it with a checkpointer; start it with `{"input": ...}`. The final state has
    `pipeline_status` (`completed` or `rejected`), `output`, `stage_results`, `stopped_at`,
    every decision in `decisions` and an audit event per stage run and per decision in
    `audit_trail`.

    Args:
        stages: The stages, in order (at least one; unique names).
        state_schema: Your state TypedDict; it must include `PipelineState`'s keys (subclass it).
        max_revisions: Revisions allowed per stage; one more request counts as a rejection.
        store: A `Store` (from `open_store(url)`) the final `AuditNode` writes the trail to; None uses the
            runner's store when `Approvals` drives the graph (and writes nothing otherwise).
        requested_by: Who proposes the outputs; that name may never approve them.
        task: What the pipeline is for, shown to reviewers.

    Returns:
        The uncompiled `StateGraph` (add nodes or compile it).

    Raises:
        PolicyError: No stages, duplicate or clashing names, a negative `max_revisions`, or a
            `state_schema` missing `PipelineState`'s keys.

    Example:
        ```python
        builder = create_approval_pipeline([Stage("draft", write), Stage("review", polish, approvers=["lead"])])
        ```
    """
    stages = list(stages)
    if not stages or not all(isinstance(s, Stage) for s in stages):
        msg = f"create_approval_pipeline needs a non-empty list of Stage(...), got {stages!r}."
        raise PolicyError(msg)
    names = [s.name for s in stages]
    nodes = names + [f"review_{s.name}" for s in stages if s.reviewed]
    dupes = sorted({n for n in nodes if nodes.count(n) > 1})
    if dupes:
        msg = f"Stage names clash: {dupes!r} (a reviewed stage X also adds node 'review_X'). Rename them."
        raise PolicyError(msg)
    if not isinstance(max_revisions, int) or isinstance(max_revisions, bool) or max_revisions < 0:
        msg = f"max_revisions={max_revisions!r}; use 0 or a positive whole number (default 3)."
        raise PolicyError(msg)
    schema = state_schema or PipelineState
    missing = [k for k in _REQUIRED_KEYS if k not in get_type_hints(schema, include_extras=True)]
    if missing:
        msg = f"state_schema {schema.__name__} lacks {missing!r}; subclass PipelineState: class S(PipelineState): ..."
        raise PolicyError(msg)
    edit_policy = Policy({s.name: "fully_reversible" for s in stages}, version="pipeline")
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(schema)
    for i, stage in enumerate(stages):
        builder.add_node(
            stage.name,
            _StageNode(stages, i, requested_by=requested_by, task=task, store=store),
            retry_policy=stage.retry,
        )
        if stage.reviewed:
            review: Any = ReviewNode(  # typed on dict state, which add_node's StateLike bound rejects
                approvers=stage.approvers,
                allowed_decisions=stage.allowed_decisions,
                timeout=stage.timeout,
                on_timeout="reject",
                stage=i + 1,
                policy=edit_policy,
                name=f"review_{stage.name}",
                store=store,
            )
            builder.add_node(f"review_{stage.name}", review)
    builder.add_node("finish", _FinishNode(stages, max_revisions=max_revisions, store=store))
    audit: Any = AuditNode(store)
    builder.add_node("audit", audit)
    builder.add_edge(START, stages[0].name)
    for i, stage in enumerate(stages):
        next_node = stages[i + 1].name if i + 1 < len(stages) else "finish"
        if stage.reviewed:
            review_name = f"review_{stage.name}"
            builder.add_edge(stage.name, review_name)
            builder.add_conditional_edges(
                review_name,
                _after_review(stage, next_node, max_revisions, store),
                sorted({next_node, review_name, stage.name, "finish"}),
            )
        else:
            builder.add_edge(stage.name, next_node)
    builder.add_edge("finish", "audit")
    builder.add_edge("audit", END)
    return builder
