"""Helpers for testing your own graphs that use langgraph-hitl.

- `FakeClock`: a clock you move by hand, for deadlines without sleeping.
- `ScriptedReviewer`: decides pending requests by rule, like a person would.

Example:
    ```python
    from langgraph_hitl import Approvals
    from langgraph_hitl.testing import FakeClock, ScriptedReviewer

    clock = FakeClock()
    with Approvals.open(builder, db_url, clock=clock) as hitl:
        hitl.start("t1", {"action": {"name": "delete_record", "args": {"id": 7}}})
        reviewer = ScriptedReviewer([(lambda r: r.action["name"] == "delete_record", {"type": "reject"})],
                                    approver="alice")
        reviewer.run(hitl)
        clock.advance(3600)
        hitl.expire_overdue()
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import HITLError

__all__ = ["FakeClock", "ScriptedReviewer", "authenticated", "resume_as"]


class FakeClock:
    """A clock that only moves when told to; pass it as `clock=` to `Approvals.open`."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by `seconds` and return the new time."""
        if seconds < 0:
            msg = f"advance({seconds}): a clock does not go backwards."
            raise ValueError(msg)
        self.now += seconds
        return self.now


ReviewRule = tuple[Callable[[Any], bool], "dict[str, Any] | Callable[[Any], dict[str, Any]]"]
"""A `ScriptedReviewer` rule: `(predicate(request) -> bool, decision or decision_factory(request))`."""


@dataclass
class ScriptedReviewer:
    """Decide pending requests by rule: the first rule whose predicate matches decides.

    Args:
        rules: `(predicate(request) -> bool, decision or decision_factory(request))` pairs.
        approver: Who the reviewer is.
        default: The decision when no rule matches; None leaves the request pending.
    """

    rules: Sequence[ReviewRule]
    approver: str = "reviewer"
    default: dict[str, Any] | None = None
    decided: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def decision_for(self, request: Any) -> dict[str, Any] | None:
        """The decision this reviewer takes on `request`, or None."""
        for predicate, decision in self.rules:
            if predicate(request):
                return decision(request) if callable(decision) else dict(decision)
        return dict(self.default) if self.default is not None else None

    def run(self, approvals: Any, *, max_rounds: int = 100) -> list[tuple[str, dict[str, Any]]]:
        """Decide what this reviewer may decide until nothing it would decide is pending.

        Refused decisions (`HITLError`) are kept in `refused` and not retried.
        """
        decided: list[tuple[str, dict[str, Any]]] = []
        skip: set[str] = set()
        for _ in range(max_rounds):
            page = approvals.pending(approver=self.approver, limit=100)
            todo = [r for r in page.items if r.request_id not in skip]
            progressed = False
            for request in todo:
                decision = self.decision_for(request)
                skip.add(request.request_id)
                if decision is None:
                    continue
                try:
                    approvals.decide(request.request_id, decision, approver=self.approver)
                except HITLError as exc:
                    self.refused.append((request.request_id, str(exc)))
                    continue
                decided.append((request.request_id, decision))
                progressed = True
            if not progressed:
                break
        self.decided += decided
        return decided


def authenticated(config: dict[str, Any], user: str) -> dict[str, Any]:
    """`config` with `user` as the run's authenticated identity, as LangGraph Server sets it.

    The review nodes take who answered from `configurable["langgraph_auth_user_id"]`, never
    from the answer, so a raw `Command(resume=...)` needs it.
    """
    conf = dict(config.get("configurable") or {})
    conf["langgraph_auth_user_id"] = user
    return {**config, "configurable": conf}


def _approver_in(answer: Any) -> str | None:
    if isinstance(answer, dict):
        who = answer.get("approver")
        if isinstance(who, str):
            return who
        batch = answer.get("decisions")
        items: list[Any] = batch if isinstance(batch, list) else list(answer.values())
        for item in items:
            found = _approver_in(item)
            if found is not None:
                return found
    return None


def resume_as(
    graph: Any, answer: Any, config: dict[str, Any], *, user: str | None = None, **kwargs: Any
) -> Any:
    """`graph.invoke(Command(resume=answer), config)` as an authenticated `user`.

    `user` defaults to the `approver` named in `answer` (the first one, for a batch): the shape
    of a resume behind LangGraph Server's authentication, for tests of graphs used without `Approvals`.
    """
    from langgraph.types import Command

    who = user if user is not None else _approver_in(answer)
    run_config = authenticated(config, who) if who is not None else config
    return graph.invoke(Command(resume=answer), run_config, **kwargs)
