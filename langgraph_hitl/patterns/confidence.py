"""Confidence bands and confirmation levels: two ways to choose how much a person is asked.

**Confidence bands** route by the model's self-reported confidence: `Policy(confidence=
ConfidenceBands(auto_approve_at=0.85, auto_reject_below=0.3))` plus a `confidence` key in
state, read by `ClassifyAndGateNode`. A model's confidence is a noisy, often over-confident
hint, not a probability: start strict, then move the thresholds with the approval metrics
(approved unmodified > 95 % of the time: relax; modified > 30 %: fix the agent).
`read_confidence` pulls the number out of whatever the model returned.

**Confirmation levels** are three kinds of friction, expressed as gate modes:

| level     | gate mode | what the reviewer does                    | how to get it                               |
|-----------|-----------|-------------------------------------------|---------------------------------------------|
| `info`    | `notify`  | nothing: it runs, with a `notified` note  | reversibility `partially_reversible`        |
| `confirm` | `hard`    | approve or reject (yes / no)              | reversibility `irreversible_high`           |
| `verify`  | `verify`  | types an exact phrase, e.g. `DELETE 4821` | `verify_phrases={"delete": "DELETE {id}"}`  |

`confirmation_policy` builds that policy from a name -> level table.

Example:
    ```python
    from langgraph_hitl.patterns import confirmation_level, confirmation_policy

    policy = confirmation_policy(
        {"post_digest": "info", "send_invoice": "confirm", "delete_account": "verify"},
        verify_phrases={"delete_account": "DELETE {id}"},
    )
    assessment = policy.assess({"name": "delete_account", "args": {"id": 7}})
    assert confirmation_level(assessment["mode"]) == "verify"
    assert assessment["verify_phrase"] == "DELETE 7"
    ```
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from ..errors import PolicyError
from ..policy import Policy
from ..types import Reversibility

__all__ = ["ConfirmationLevel", "confirmation_level", "confirmation_policy", "read_confidence"]

ConfirmationLevel = Literal["info", "confirm", "verify"]
"""The three confirmation levels.

- `info`: just notify; the action runs (gate mode `notify`).
- `confirm`: a person says yes or no before it runs (gate mode `hard`).
- `verify`: a person types an exact confirmation phrase (gate mode `verify`).
"""

_LEVEL_CLASS: dict[str, Reversibility] = {
    "info": "partially_reversible",
    "confirm": "irreversible_high",
    "verify": "irreversible_high",
}
_MODE_LEVEL: dict[str, ConfirmationLevel] = {
    "notify": "info",
    "soft": "confirm",
    "hard": "confirm",
    "verify": "verify",
}


def confirmation_level(mode: str) -> ConfirmationLevel | None:
    """The confirmation level a gate mode puts in front of a reviewer.

    Args:
        mode: A gate mode (`assessment["mode"]`).

    Returns:
        `info` (notify), `confirm` (soft or hard), `verify`, or None when nobody is asked
        (`auto`, `deny`).

    Example:
        ```python
        assert confirmation_level("hard") == "confirm"
        assert confirmation_level("auto") is None
        ```
    """
    return _MODE_LEVEL.get(mode)


def confirmation_policy(
    levels: Mapping[str, ConfirmationLevel],
    *,
    verify_phrases: Mapping[str, str] | None = None,
    base: Policy | None = None,
) -> Policy:
    """A `Policy` whose actions get the given confirmation levels.

    Args:
        levels: Action name -> `info`, `confirm` or `verify`.
        verify_phrases: Action name -> phrase template (formatted with the action's args), one
            for every `verify` action, e.g. `{"delete_account": "DELETE {id}"}`.
        base: A policy to extend (its rules, requirements, impacts, version, ... are kept;
            `levels` override its reversibility table for the named actions).

    Returns:
        The policy.

    Raises:
        PolicyError: An unknown level, a `verify` action without a phrase, or a phrase for an
            action that is not `verify`.

    Example:
        ```python
        policy = confirmation_policy({"send_invoice": "confirm"})
        assert policy.assess({"name": "send_invoice", "args": {}})["mode"] == "hard"
        ```
    """
    phrases = dict(verify_phrases or {})
    for name, level in levels.items():
        if level not in _LEVEL_CLASS:
            msg = f"Action {name!r} has confirmation level {level!r}. Allowed: info, confirm, verify."
            raise PolicyError(msg)
        if level == "verify" and not phrases.get(name):
            msg = (
                f"Action {name!r} is 'verify' but has no phrase; pass "
                f"verify_phrases={{{name!r}: 'CONFIRM {{id}}'}} (formatted with the action's args)."
            )
            raise PolicyError(msg)
    stray = sorted(n for n in phrases if levels.get(n) != "verify")
    if stray:
        msg = f"verify_phrases names {stray!r}, which are not 'verify' actions; set their level to 'verify'."
        raise PolicyError(msg)
    base = base or Policy()
    return replace(
        base,
        actions={**base.actions, **{name: _LEVEL_CLASS[level] for name, level in levels.items()}},
        verify_phrases={**base.verify_phrases, **phrases},
    )


def read_confidence(value: Any, *, key: str = "confidence") -> float | None:
    """Read a self-reported confidence in [0, 1] from a model's output.

    Accepts a number, a dict, a pydantic model or any object with a `key` attribute, an
    `AIMessage` (the first tool call's args, else JSON content), or JSON text. Anything that
    is not a finite number in [0, 1] (missing, a bool, NaN, 1.7, "high") gives None, which the
    gate treats as "no confidence": the policy's normal gate applies. Never raises.

    Args:
        value: The model's output.
        key: The field holding the confidence.

    Returns:
        The confidence, or None.

    Example:
        ```python
        assert read_confidence({"answer": "42", "confidence": 0.91}) == 0.91
        assert read_confidence('{"confidence": 2}') is None
        ```
    """
    raw: Any = value
    try:
        tool_calls = getattr(value, "tool_calls", None)
        if tool_calls:
            raw = tool_calls[0].get("args", {})
        elif type(value).__name__.endswith("Message") and hasattr(value, "content"):
            raw = value.content
        if isinstance(raw, (str, bytes)):
            raw = json.loads(raw)
        if isinstance(raw, Mapping):
            raw = raw.get(key)
        elif not isinstance(raw, (int, float)):
            raw = getattr(raw, key, None)
    except (ValueError, TypeError, AttributeError):
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    number = float(raw)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        return None
    return number
