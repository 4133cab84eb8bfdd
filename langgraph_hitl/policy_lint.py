"""Lint a policy: what loads, but cannot be what its author meant (`langgraph-hitl policy check`).

- a rule that can never match (its condition is always false, e.g. `amount > 10 and amount < 5`
  or `len(to) < 0`), or never change a gate (every action it covers is already as strict);
- an action the table lets run (`auto` / `notify`) that also has a verify phrase;
- a tier that lists fewer approvers than it requires (its requests can never be approved);
- soft gates without a deadline (they wait for a person, a hard gate in effect).

Errors make a policy unusable as written; warnings point at dead or contradictory parts.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any, Literal

from .policy import _REVERSIBILITY, MODE_ORDER, Policy, Rule
from .policy_rules import Predicate
from .types import RISK_ORDER

__all__ = ["Finding", "lint_policy"]


@dataclass(frozen=True)
class Finding:
    """One lint finding."""

    severity: Literal["error", "warning"]
    """`error`: the policy cannot work as written; `warning`: a part is dead or contradictory."""
    key: str
    """Where, as a file key: `rules[0].when`, `requirements.critical.approvers`."""
    message: str
    """What is wrong."""
    fix: str
    """What to change."""


def lint_policy(policy: Policy) -> list[Finding]:
    """Every finding for `policy`, errors first."""
    found: list[Finding] = []
    for index, rule in enumerate(policy.rules):
        found += _rule_findings(policy, index, rule)
    for name, phrase in policy.verify_phrases.items():
        cls = policy.actions.get(name)
        if cls is not None and _REVERSIBILITY[cls][1] in ("auto", "notify"):
            found.append(
                Finding(
                    "warning",
                    f"verify_phrases.{name}",
                    f"{name!r} is {cls} ({_REVERSIBILITY[cls][1]}) yet has the verify phrase {phrase!r}, "
                    "so it is always verify-gated.",
                    f"drop the phrase, or list {name!r} as irreversible.",
                )
            )
    found += _tier_findings(policy)
    found += _soft_findings(policy)
    return sorted(found, key=lambda f: f.severity != "error")


def _base(policy: Policy, name: str | None) -> tuple[int, int]:
    """The (risk, mode) order an action gets from the table alone; None: an unknown action."""
    if name is None or name not in policy.actions:
        return RISK_ORDER["high"], MODE_ORDER[policy.unknown]
    risk, mode, _ = _REVERSIBILITY[policy.actions[name]]
    if name in policy.verify_phrases:
        mode = "verify"
    return RISK_ORDER[risk], MODE_ORDER[mode]


def _rule_findings(policy: Policy, index: int, rule: Rule) -> list[Finding]:
    key = f"rules[{index}]"
    out = []
    if isinstance(rule.when, Predicate):
        why = never_true(rule.when.source)
        if why:
            fix = "correct the condition, or delete the rule."
            out.append(Finding("warning", f"{key}.when", f"rule {rule.name!r} can never match: {why}.", fix))
    names = [rule.actions] if isinstance(rule.actions, str) else list(rule.actions)
    covered: list[str | None] = list(policy.actions) + [None] if "*" in names else list(names)
    unknown = [n for n in covered if n is not None and n not in policy.actions]
    if unknown:
        out.append(
            Finding(
                "warning",
                f"{key}.actions",
                f"rule {rule.name!r} names {', '.join(map(repr, unknown))}, which the table does not list: "
                "such actions are unknown, gated as irreversible already.",
                "check the spelling, or add the action to [actions].",
            )
        )
    risk = RISK_ORDER[rule.risk] if rule.risk else -1
    mode = MODE_ORDER[rule.mode] if rule.mode else -1
    bases = [_base(policy, n) for n in covered]
    if bases and all(risk <= r and mode <= m for r, m in bases):
        out.append(
            Finding(
                "warning",
                key,
                f"rule {rule.name!r} can never make a gate stricter: every action it covers is already at "
                "its risk and mode or above.",
                "raise its risk or mode, or delete it.",
            )
        )
    return out


def _tier_findings(policy: Policy) -> list[Finding]:
    out = []
    for risk in RISK_ORDER:
        req = policy.requirement(risk)
        tiers = [("approvers", req.approvers)] if req.approvers is not None else []
        tiers += [(f"escalation[{i}]", tier) for i, tier in enumerate(req.escalation)]
        for where, names in tiers:
            if len(set(names or ())) < req.required_approvals:
                out.append(
                    Finding(
                        "error",
                        f"requirements.{risk}.{where}",
                        f"the {risk} tier needs {req.required_approvals} distinct approvals but {where} lists "
                        f"{len(set(names or ()))} ({', '.join(names or ()) or 'nobody'}): its requests can "
                        "never be approved.",
                        f"list at least {req.required_approvals} people, or lower required_approvals.",
                    )
                )
    return out


def _soft_findings(policy: Policy) -> list[Finding]:
    soft_possible = (
        any(cls == "irreversible_low" for cls in policy.actions.values())
        or any(r.mode == "soft" or r.risk == "medium" for r in policy.rules)
        or policy.confidence is not None
    )
    if not soft_possible or policy.soft_timeout_s is not None:
        return []
    out = []
    for risk in ("low", "medium"):
        req = policy.requirement(risk)
        if req.timeout_s is None:
            out.append(
                Finding(
                    "warning",
                    f"requirements.{risk}.timeout_s",
                    f"soft gates at risk {risk} have no deadline (no timeout_s, soft_timeout_s is off), so "
                    "they wait for a person however long it takes: a hard gate in effect.",
                    "set timeout_s for the tier or soft_timeout_s, or make those actions hard-gated.",
                )
            )
    return out


# -- conditions that are never true ------------------------------------------------------------


def never_true(source: str) -> str | None:
    """Why the rule expression `source` is false for every action, or None if it may be true."""
    tree = ast.parse(source.strip(), mode="eval").body
    if not any(isinstance(n, (ast.Name, ast.Call)) for n in ast.walk(tree)):
        try:
            value = Predicate(source)({})
        except Exception:  # a constant that raises makes the rule match every time
            return None
        return None if value else "it is a constant that is false"
    parts = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) else [tree]
    bounds: dict[str, list[float]] = {}
    equal: dict[str, Any] = {}
    for part in parts:
        if not (isinstance(part, ast.Compare) and len(part.ops) == 1):
            continue
        left, op, right = part.left, part.ops[0], part.comparators[0]
        if _number(left) is not None and _number(right) is None:
            left, right, op = right, left, _FLIP.get(type(op), op)
        text, number = ast.unparse(left), _number(right)
        low, high = bounds.setdefault(text, [0.0 if _is_len(left) else -math.inf, math.inf])
        if number is not None:
            bounds[text] = _narrow(low, high, op, number)
        elif isinstance(op, ast.Eq) and isinstance(right, ast.Constant):
            if text in equal and equal[text] != right.value:
                return f"{text} cannot equal both {equal[text]!r} and {right.value!r}"
            equal[text] = right.value
    for text, (low, high) in bounds.items():
        if low > high:
            return f"no value of {text} satisfies every comparison"
    return None


_FLIP: dict[type[ast.cmpop], ast.cmpop] = {
    ast.Lt: ast.Gt(),
    ast.Gt: ast.Lt(),
    ast.LtE: ast.GtE(),
    ast.GtE: ast.LtE(),
}
_STEP = 1e-9
"""How far a strict bound moves an interval's end: `x > 5` as `x >= 5 + 1e-9`."""


def _is_len(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"


def _number(node: ast.expr) -> float | None:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _narrow(low: float, high: float, op: ast.cmpop, value: float) -> list[float]:
    if isinstance(op, ast.Gt):
        low = max(low, value + _STEP)
    elif isinstance(op, ast.GtE):
        low = max(low, value)
    elif isinstance(op, ast.Lt):
        high = min(high, value - _STEP)
    elif isinstance(op, ast.LtE):
        high = min(high, value)
    elif isinstance(op, ast.Eq):
        low, high = max(low, value), min(high, value)
    return [low, high]
