"""What a review request allows, action by action: the decision types and the rules of each call.

A request keeps langchain's `review_configs` strict (langchain's decision types only) and puts
the rest in `hitl`: every type a person may send (`hitl.allowed_decisions`, `revise` included)
and the rules each action is decided under (`hitl.calls[i]`). `decisions` re-exports these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from .types import LANGCHAIN_DECISION_TYPES, CallRules, LangchainDecisionType

__all__ = ["allowed_decisions", "call_rules", "langchain_decisions"]


def call_rules(
    *,
    digest: str,
    occurrence: str,
    gate: Any,
    approvers: list[str] | None,
    exclude: list[str],
    verify_phrase: str | None,
) -> CallRules:
    """The rules one action of a request is decided under (`hitl.calls[i]`)."""
    return {
        "digest": digest,
        "occurrence": occurrence,
        "mode": str(gate["mode"]),
        "risk": str(gate["risk"]),
        "policy_version": str(gate.get("policy_version") or ""),
        "approvers": list(approvers) if approvers is not None else None,
        "exclude_approvers": list(exclude),
        "verify_phrase": verify_phrase,
    }


def langchain_decisions(allowed: Iterable[str]) -> list[LangchainDecisionType]:
    """The types in `allowed` that langchain's `ReviewConfig.allowed_decisions` may list, in order."""
    return [cast(LangchainDecisionType, d) for d in allowed if d in LANGCHAIN_DECISION_TYPES]


def allowed_decisions(request: Mapping[str, Any], index: int = 0) -> list[str]:
    """Every decision type a person may send for action `index` of `request`.

    `review_configs[index].allowed_decisions` holds langchain's types only, so the payload stays
    a strict `HITLRequest`; a one-action request lists all of them, `revise` included, in
    `hitl.allowed_decisions`. Requests asked before that field existed fall back to
    `review_configs`. Show reviewers this list, not `review_configs` alone.
    """
    full = (request.get("hitl") or {}).get("allowed_decisions")
    if isinstance(full, list) and len(request.get("action_requests") or ()) == 1:
        return [str(d) for d in full]
    configs = request.get("review_configs") or []
    return list(configs[index].get("allowed_decisions") or []) if index < len(configs) else []
