"""Shadow mode: what a candidate policy would have decided, beside the policy in force.

Before a new policy is enforced, run it in the shadow of the current one: every proposal the
gate assesses is assessed under both; the enforced assessment routes the run, exactly as without
a shadow, and each difference becomes a `shadow_differs` audit event with both assessments. The
approval metrics (`stats()["shadow"]`, the web inbox's metrics page) count the differences per
action and direction, so you see what switching would change before you switch.

This module is pure: comparing two assessments. `nodes.shadow_gate` records them, and the
runner hands the gate its shadow policy (`Approvals.open(..., shadow_policy=candidate)`).

Example:
    ```python
    from langgraph_hitl import Policy
    from langgraph_hitl.shadow import compare

    now = Policy({"send_email": "irreversible_low"})
    candidate = Policy({"send_email": "irreversible_high"}, version="2")
    action = {"name": "send_email", "args": {"to": ["a@example.com"]}}
    diff = compare(now.assess(action), candidate.assess(action))
    assert diff is not None and diff["direction"] == "stricter" and "mode" in diff["differs"]
    ```
"""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

from .policy import MODE_ORDER
from .types import RISK_ORDER, Assessment

__all__ = ["COMPARED", "Direction", "ShadowDiff", "compare", "direction_of", "gate_summary"]

COMPARED: tuple[str, ...] = (
    "risk",
    "mode",
    "required_approvals",
    "approvers",
    "verify_phrase",
    "timeout_s",
    "on_timeout",
    "allowed_decisions",
    "escalation",
)
"""The parts of an assessment that change what happens to an action (reasons and versions do not)."""

Direction = Literal["stricter", "looser", "mixed", "changed"]
"""How the shadow's gate compares with the enforced one: `stricter` asks more of reviewers in some
part and less in none, `looser` the reverse, `mixed` both, `changed` neither (a different
deadline, timeout rule, decision list or escalation)."""


class ShadowDiff(TypedDict):
    """How a shadow assessment differs from the enforced one (the `shadow_differs` event's detail)."""

    direction: Direction
    """Stricter, looser, mixed or changed (see `Direction`)."""
    differs: list[str]
    """The parts that differ, from `COMPARED`."""
    enforced: dict[str, Any]
    """The enforced gate (`gate_summary`)."""
    shadow: dict[str, Any]
    """The shadow's gate (`gate_summary`)."""


def gate_summary(assessment: Assessment) -> dict[str, Any]:
    """What an assessment decides, plain JSON: the `COMPARED` parts, its reasons and policy version."""
    out = {key: assessment.get(key) for key in COMPARED}
    out["reasons"] = list(assessment.get("reasons") or [])
    out["policy_version"] = assessment.get("policy_version")
    return out


def _order(key: str, enforced: Any, shadow: Any) -> int:
    """+1 when `shadow` asks more than `enforced` in part `key`, -1 when less, 0 when neither says."""
    if key == "risk":
        return _sign(RISK_ORDER[shadow] - RISK_ORDER[enforced])
    if key == "mode":
        return _sign(MODE_ORDER[shadow] - MODE_ORDER[enforced])
    if key == "required_approvals":
        return _sign(int(shadow or 0) - int(enforced or 0))
    if key == "verify_phrase" and (enforced is None) != (shadow is None):
        return 1 if enforced is None else -1
    if key == "approvers" and enforced != shadow:
        if enforced is None:  # anyone -> a list: fewer people may approve
            return 1
        if shadow is None:
            return -1
        if set(shadow) < set(enforced):
            return 1
        if set(shadow) > set(enforced):
            return -1
    return 0


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def direction_of(enforced: Assessment, shadow: Assessment, differs: list[str]) -> Direction:
    """The `Direction` of `shadow` against `enforced`, over the parts in `differs`."""
    signs = {_order(key, enforced.get(key), shadow.get(key)) for key in differs}
    if 1 in signs and -1 in signs:
        return "mixed"
    if 1 in signs:
        return "stricter"
    if -1 in signs:
        return "looser"
    return "changed"


def compare(enforced: Assessment, shadow: Assessment) -> ShadowDiff | None:
    """How `shadow` differs from `enforced`, or None when they decide the same.

    A different policy version or different reasons alone is no difference: only what happens
    to the action counts (`COMPARED`).
    """
    differs = [key for key in COMPARED if enforced.get(key) != shadow.get(key)]
    if not differs:
        return None
    return {
        "direction": direction_of(enforced, shadow, differs),
        "differs": differs,
        "enforced": gate_summary(enforced),
        "shadow": gate_summary(shadow),
    }
