"""The calls of one request, as the CLI shows and decides them (no typer, no LangGraph).

A request from `ReviewNode` holds one action; one from `ToolGateNode` holds every risky tool
call of a model turn, each with its own risk, approvers and confirmation phrase
(`payload["hitl"]["calls"][i]`) and its tool-call id (`hitl["context"]["tool_calls"]`).
Commands name a call by that id or by its number, 1 for the first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CallView", "calls_of", "resolve", "split_ref"]


@dataclass(frozen=True)
class CallView:
    """One action of a request, with the rules its decision is checked against."""

    index: int
    """1 for the first action of the request."""
    call_id: str | None
    """The tool-call id (requests from a tool gate); None for a single action from `ReviewNode`."""
    name: str
    """The action's (tool's) name."""
    args: dict[str, Any]
    """Its arguments."""
    description: str
    """What the reviewer is told about it."""
    risk: str
    """Its own risk (the request's risk is the highest of its calls')."""
    mode: str
    """Its gate mode."""
    verify_phrase: str | None
    """The phrase to type to approve it, if any."""
    allowed: list[str]
    """Decision types allowed for it, each once."""
    approvers: list[str] | None
    """Who may approve it; None: anyone but the requester."""

    @property
    def label(self) -> str:
        """`2 (c_del, delete_record)`: how messages name the call."""
        inner = f"{self.call_id}, {self.name}" if self.call_id else self.name
        return f"{self.index} ({inner})"

    @property
    def ref(self) -> str:
        """What to type to name this call in `--call`, `--verify`, `--args`: its id, else its number."""
        return self.call_id or str(self.index)


def _tool_call_ids(hitl: Mapping[str, Any], names: Sequence[str]) -> list[str | None]:
    """The pending tool calls' ids, in request order, when the gate's context lists them."""
    listed = (hitl.get("context") or {}).get("tool_calls")
    if not isinstance(listed, list):
        return [None] * len(names)
    pending = [c for c in listed if isinstance(c, dict) and c.get("state") == "pending"]
    if [c.get("name") for c in pending] != list(names):
        return [None] * len(names)
    return [str(c["id"]) if c.get("id") else None for c in pending]


def calls_of(payload: Mapping[str, Any]) -> list[CallView]:
    """Every action of a request payload, in order."""
    hitl: Mapping[str, Any] = payload.get("hitl") or {}
    asked: list[Mapping[str, Any]] = list(payload.get("action_requests") or [])
    rules: list[Mapping[str, Any]] = [c for c in hitl.get("calls") or [] if isinstance(c, dict)]
    ids = _tool_call_ids(hitl, [str(a.get("name", "")) for a in asked])
    views = []
    for i, action in enumerate(asked):
        rule = rules[i] if i < len(rules) else hitl
        views.append(
            CallView(
                index=i + 1,
                call_id=ids[i],
                name=str(action.get("name", "")),
                args=dict(action.get("args") or {}),
                description=str(action.get("description") or ""),
                risk=str(rule.get("risk") or hitl.get("risk") or "-"),
                mode=str(rule.get("mode") or hitl.get("mode") or "-"),
                verify_phrase=rule.get("verify_phrase", hitl.get("verify_phrase")),
                allowed=list(dict.fromkeys(allowed_decisions(payload, i))),
                approvers=rule.get("approvers", hitl.get("approvers")),
            )
        )
    return views


def resolve(views: Sequence[CallView], ref: str) -> CallView | None:
    """The call named by its tool-call id or its number (the id wins if both match)."""
    for view in views:
        if view.call_id is not None and view.call_id == ref:
            return view
    if re.fullmatch(r"[0-9]{1,4}", ref) and 1 <= int(ref) <= len(views):
        return views[int(ref) - 1]
    return None


def split_ref(views: Sequence[CallView], text: str) -> tuple[CallView, str] | None:
    """`ID=VALUE` as (the call, VALUE), when the text before an `=` names a call; else None.

    The value may hold `=` itself (`--verify c_del=a=b`); the longest matching id wins.
    """
    for view in sorted(views, key=lambda v: -len(v.call_id or "")):
        if view.call_id and text.startswith(f"{view.call_id}="):
            return view, text[len(view.call_id) + 1 :]
    match = re.match(r"([0-9]{1,4})=", text)
    if match and 1 <= int(match.group(1)) <= len(views):
        return views[int(match.group(1)) - 1], text[match.end() :]
    return None


def allowed_decisions(payload: Mapping[str, Any], index: int) -> list[str]:
    """`decisions.allowed_decisions`, without importing it (and pydantic) on the CLI's fast path:
    `hitl.allowed_decisions` for a one-action request (it adds `revise`), else `review_configs`."""
    full = (payload.get("hitl") or {}).get("allowed_decisions")
    if isinstance(full, list) and len(payload.get("action_requests") or ()) == 1:
        return [str(d) for d in full]
    configs = payload.get("review_configs") or []
    return list(configs[index].get("allowed_decisions") or []) if index < len(configs) else []
