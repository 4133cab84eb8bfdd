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

import re
from collections.abc import Callable, Sequence
from typing import Any, get_type_hints

from langgraph.graph import END, START, StateGraph

from ..errors import PolicyError
from ..nodes import AuditNode, ReviewNode
from ..nodes._view import view
from ..policy import Policy
from ..types import DecisionRecord
from ._escalation_chain import Chain
from ._escalation_nodes import AskHumanNode, HumanOutcomeNode, ModelLevelNode
from .levels import EscalationState, HumanLevel, Level, ModelLevel

__all__ = ["create_escalation_chain"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


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


def _level_nodes(lv: Level) -> list[str]:
    """The graph nodes level `lv` adds, once its name and options are known to be usable."""
    if not isinstance(lv.name, str) or not _NAME.match(lv.name) or lv.name == "audit":
        msg = f"Level name {lv.name!r} is not usable: letters, digits and '_', starting with a letter; not 'audit'."
        raise PolicyError(msg)
    if isinstance(lv, ModelLevel) and not (hasattr(lv.model, "invoke") or callable(lv.model)):
        msg = f"ModelLevel {lv.name!r}: model={lv.model!r} is neither a chat model nor callable."
        raise PolicyError(msg)
    if isinstance(lv, HumanLevel):
        ReviewNode(approvers=lv.approvers, allowed_decisions=lv.allowed_decisions, timeout=lv.timeout)
        if "revise" in lv.allowed_decisions:
            msg = f"HumanLevel {lv.name!r}: 'revise' is not a level decision; use approve, edit, reject, respond."
            raise PolicyError(msg)
        return [lv.name, f"review_{lv.name}", f"after_{lv.name}"]
    return [lv.name]


def _checked(
    levels: list[Level],
    min_confidence: float,
    sensitive: Callable[[Any, Any], bool | str] | None,
    state_schema: type[Any] | None,
) -> type[Any]:
    """The state schema to build on, once the levels and options are known to be usable."""
    if not levels or not all(isinstance(lv, (ModelLevel, HumanLevel)) for lv in levels):
        msg = f"create_escalation_chain needs a non-empty list of ModelLevel / HumanLevel, got {levels!r}."
        raise PolicyError(msg)
    nodes = [node for lv in levels for node in _level_nodes(lv)]
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
    return schema


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
    schema = _checked(levels, min_confidence, sensitive, state_schema)
    chain = Chain(
        levels, min_confidence=float(min_confidence), sensitive=sensitive, requested_by=requested_by
    )
    chain.store = store
    answer_policy = Policy({"answer": "fully_reversible"}, version="escalation")
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(schema)
    targets = sorted({lv.name for lv in levels} | {"audit"})
    for i, lv in enumerate(levels):
        if isinstance(lv, ModelLevel):
            builder.add_node(lv.name, ModelLevelNode(chain, i), retry_policy=lv.retry)
            builder.add_conditional_edges(lv.name, _after_step, targets)
            continue
        review, after = f"review_{lv.name}", f"after_{lv.name}"
        builder.add_node(lv.name, AskHumanNode(chain, i))
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
        builder.add_node(after, HumanOutcomeNode(chain, i))
        builder.add_edge(lv.name, review)
        builder.add_conditional_edges(review, _review_condition(review, after), [review, after])
        builder.add_conditional_edges(after, _after_step, targets)
    audit: Any = AuditNode(store)
    builder.add_node("audit", audit)
    builder.add_edge(START, levels[0].name)
    builder.add_edge("audit", END)
    return builder
