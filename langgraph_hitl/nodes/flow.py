"""`add_approval_flow`: gate, review, second review, execute and audit between two of your nodes."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from langgraph.graph import StateGraph

from ..errors import PolicyError
from ..policy import Policy
from .audit import AuditNode
from .execute import ExecuteNode, execute_condition
from .gate import ClassifyAndGateNode, risk_condition
from .handlers import HandlerLike, compensation_of
from .review import ReviewNode, SecondReviewNode, review_condition

__all__ = ["add_approval_flow", "FLOW_NODES"]

FLOW_NODES = ("classify_and_gate", "review", "second_review", "execute", "audit")
"""The node names `add_approval_flow` adds (with its `prefix` in front)."""


def _node(node: Any) -> Any:
    """Nodes are callables on the user's state type, which this module cannot name."""
    return node


def _paths(mapping: dict[str, str]) -> dict[Hashable, str]:
    return {key: value for key, value in mapping.items()}


def add_approval_flow(
    builder: StateGraph[Any, Any, Any, Any],
    *,
    source: str,
    target: str,
    policy: Policy,
    handlers: Mapping[str, HandlerLike],
    approvers: Sequence[str] | None = None,
    second_approvers: Sequence[str] | None = None,
    store: Any = None,
    revise_to: str | None = None,
    requested_by: str = "agent",
    action_key: str = "action",
    prefix: str = "",
    trust_answer_identity: bool = False,
) -> StateGraph[Any, Any, Any, Any]:
    """Wire the whole approval flow from `source` to `target` in one call.

    ```
    source -> classify_and_gate -> (low) execute -> audit -> target
                                -> (medium/high) review -> execute -> audit -> target
                                -> (critical) review -> second_review -> execute -> audit -> target
                                -> (deny) audit -> target
    review (reject / respond / timeout) -> audit -> target;  review (revise) -> revise_to (default: source)
    execute (receipts do not cover the action, G9) -> review
    ```

    The state must include `HITLState`'s keys (mix it into your state TypedDict).

    Args:
        builder: Your `StateGraph`, with `source` and `target` nodes already added
            (`target` may be `END`).
        source: The node that writes the proposed action to state.
        target: Where the flow continues after the action ran, was rejected or answered.
        policy: Decides which actions need a person.
        handlers: Action name -> the function that performs it.
        approvers: Who may decide at the first review (default: the policy's requirement).
        second_approvers: Who may decide at the second review (default: the same rule).
        store: Where `ExecuteNode` and `AuditNode` record and where every node's seal key comes
            from (a `Store` from `open_store(url)`; a URL is refused); None uses the runner's store.
        revise_to: The node that handles a revision request (default: `source`).
        requested_by: Who proposes actions when state has no `requested_by`.
        action_key: The state key holding the action.
        prefix: Put in front of every node name, to add several flows to one graph.
        trust_answer_identity: Development only: on a raw `Command(resume=...)` with no
            authenticated user in the run's config, take the decider from the answer's
            `approver` field. Never turn it on where untrusted clients can resume runs.

    Returns:
        The builder, for chaining.

    Raises:
        PolicyError: A name is missing or already taken, or the policy lists an action that has
            no handler (an approval of it could never run). Actions the policy does not list and
            no handler runs are denied at the gate, before anyone is asked.
    """
    names = {n: f"{prefix}{n}" for n in FLOW_NODES}
    _check_flow(builder, names, source=source, policy=policy, handlers=handlers)
    builder.add_node(
        names["classify_and_gate"],
        _node(
            ClassifyAndGateNode(
                policy,
                action_key=action_key,
                requested_by=requested_by,
                name=names["classify_and_gate"],
                store=store,
                executable=set(handlers),
            )
        ),
    )
    stages: tuple[tuple[type[ReviewNode], Sequence[str] | None, str], ...] = (
        (ReviewNode, approvers, "review"),
        (SecondReviewNode, second_approvers, "second_review"),
    )
    for review_cls, who, key in stages:
        node = review_cls(
            approvers=who,
            policy=policy,
            name=names[key],
            action_key=action_key,
            store=store,
            trust_answer_identity=trust_answer_identity,
        )
        builder.add_node(names[key], _node(node))
    builder.add_node(
        names["execute"],
        _node(ExecuteNode(handlers, ledger=store, action_key=action_key, name=names["execute"])),
    )
    builder.add_node(names["audit"], _node(AuditNode(store, name=names["audit"])))
    _add_edges(builder, names, source=source, target=target, revise_to=revise_to or source)
    return builder


def _check_flow(
    builder: StateGraph[Any, Any, Any, Any],
    names: dict[str, str],
    *,
    source: str,
    policy: Policy,
    handlers: Mapping[str, HandlerLike],
) -> None:
    """Refuse a flow that cannot be wired, or whose approvals could not run, before adding anything."""
    taken = [n for n in names.values() if n in builder.nodes]
    if taken:
        msg = f"Nodes {taken!r} already exist in the graph; pass prefix='...' to add another approval flow."
        raise PolicyError(msg)
    if source not in builder.nodes:
        msg = (
            f"source={source!r} is not a node of this graph; add it first. Nodes: {', '.join(builder.nodes)}."
        )
        raise PolicyError(msg)
    # `reverse:NAME` gates the compensation of NAME (`Handler(undo=...)`), which `Approvals.reverse` runs.
    missing = sorted(
        n
        for n in policy.actions
        if n not in handlers and not (n.startswith("reverse:") and compensation_of(handlers.get(n[8:])))
    )
    if missing:
        msg = (
            f"The policy lists {missing!r} but handlers has nothing to run them with, so an approval "
            f"would fail after a person gave it. Add a handler for each (handlers: "
            f"{', '.join(sorted(handlers)) or 'none'}), or remove them from the policy."
        )
        raise PolicyError(msg)


def _add_edges(
    builder: StateGraph[Any, Any, Any, Any],
    names: dict[str, str],
    *,
    source: str,
    target: str,
    revise_to: str,
) -> None:
    """The routes of the diagram in `add_approval_flow`'s docstring, between the nodes in `names`."""
    builder.add_edge(source, names["classify_and_gate"])
    builder.add_conditional_edges(
        names["classify_and_gate"],
        risk_condition,
        _paths({"execute": names["execute"], "review": names["review"], "audit": names["audit"]}),
    )
    review_map = _paths(
        {
            "review": names["review"],
            "second_review": names["second_review"],
            "execute": names["execute"],
            "audit": names["audit"],
            "revise": revise_to,
        }
    )
    builder.add_conditional_edges(names["review"], review_condition, review_map)
    builder.add_conditional_edges(names["second_review"], review_condition, review_map)
    builder.add_conditional_edges(
        names["execute"], execute_condition, _paths({"review": names["review"], "audit": names["audit"]})
    )
    builder.add_edge(names["audit"], target)
