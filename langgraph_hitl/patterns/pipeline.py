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

from langgraph.graph import END, START, StateGraph

from ..errors import PolicyError
from ..nodes import AuditNode, ReviewNode
from ..nodes._common import run_config
from ..nodes._view import view
from ..nodes.review import authorized_in
from ..policy import Policy
from ._pipeline_nodes import FinishNode, StageNode, revisions
from .stages import PipelineState, Stage

__all__ = ["create_approval_pipeline"]


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
            within = revisions(state.get("decisions") or [], review) <= max_revisions
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


def _checked(stages: list[Stage], max_revisions: int, state_schema: type[Any] | None) -> type[Any]:
    """The state schema to build on, once the stages and options are known to be usable."""
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
    return schema


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
    schema = _checked(stages, max_revisions, state_schema)
    edit_policy = Policy({s.name: "fully_reversible" for s in stages}, version="pipeline")
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(schema)
    for i, stage in enumerate(stages):
        builder.add_node(
            stage.name,
            StageNode(stages, i, requested_by=requested_by, task=task, store=store),
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
    builder.add_node("finish", FinishNode(stages, max_revisions=max_revisions, store=store))
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
