"""Which actions need a person: the reversibility table, rules, per-risk requirements.

`Policy.assess(action)` is pure and deterministic: nodes re-run on resume, and the same
action must always get the same assessment. Rules and confidence can only make a gate
stricter than the reversibility table says; unknown actions are hard-gated (fail closed).

Example:
    ```python
    from langgraph_hitl import Policy, Rule

    policy = Policy(
        {"search": "fully_reversible", "send_email": "irreversible_low", "delete_record": "irreversible_high"},
        rules=[Rule("bulk-mail", actions="send_email", when=lambda a: len(a.get("to", [])) > 5, risk="high")],
        verify_phrases={"delete_record": "DELETE {id}"},
    )
    assert policy.assess({"name": "search", "args": {"q": "x"}})["mode"] == "auto"
    assert policy.assess({"name": "delete_record", "args": {"id": 7}})["verify_phrase"] == "DELETE 7"
    ```
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

from ._canonical import args_hash
from .errors import PolicyError
from .policy_bands import ConfidenceBands
from .types import (
    DECISION_TYPES,
    RISK_ORDER,
    ActionRequest,
    Assessment,
    GateMode,
    OnTimeout,
    Reversibility,
    Risk,
)

__all__ = ["ConfidenceBands", "Policy", "Requirement", "Rule", "stricter", "MODE_ORDER"]

MODE_ORDER: dict[str, int] = {"auto": 0, "notify": 1, "soft": 2, "hard": 3, "verify": 4, "deny": 5}
"""Gate modes from least to most strict."""

_REVERSIBILITY: dict[str, tuple[Risk, GateMode, str]] = {
    "fully_reversible": ("low", "auto", "fully reversible: runs without review"),
    "partially_reversible": ("low", "notify", "partially reversible: runs, with an audit note"),
    "irreversible_low": ("medium", "soft", "irreversible, low impact: soft gate"),
    "irreversible_high": ("high", "hard", "irreversible, high impact: hard gate"),
}

_IMPACT: dict[str, str] = {
    "fully_reversible": "Can be undone completely.",
    "partially_reversible": "Can be partly undone; the change is logged.",
    "irreversible_low": "Cannot be undone, but affects little.",
    "irreversible_high": "Cannot be undone and affects much: read the arguments carefully.",
}


@dataclass(frozen=True)
class Rule:
    """A rule on an action's name and arguments that can make its gate stricter, never looser.

    Args:
        name: Shown in the assessment's reasons and the audit log.
        actions: Action names the rule applies to, or `"*"` for every action.
        when: Predicate on the action's args; None means always.
        risk: Minimum risk when the rule matches.
        mode: Minimum gate mode when the rule matches (for example `"verify"` or `"deny"`).
        reason: Why, in words a reviewer understands; defaults to the rule's name.
    """

    name: str
    actions: str | Sequence[str] = "*"
    when: Callable[[dict[str, Any]], bool] | None = None
    risk: Risk | None = None
    mode: GateMode | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            msg = "Rule needs a name; it is shown to reviewers and in the audit log."
            raise PolicyError(msg)
        if self.risk is not None and self.risk not in RISK_ORDER:
            msg = f"Rule {self.name!r} has risk {self.risk!r}. Allowed: {', '.join(RISK_ORDER)}."
            raise PolicyError(msg)
        if self.mode is not None and self.mode not in MODE_ORDER:
            msg = f"Rule {self.name!r} has mode {self.mode!r}. Allowed: {', '.join(MODE_ORDER)}."
            raise PolicyError(msg)
        if self.risk is None and self.mode is None:
            msg = f"Rule {self.name!r} sets neither risk nor mode, so it can never change a gate. Set one."
            raise PolicyError(msg)

    def applies_to(self, name: str) -> bool:
        """Whether the rule covers the action called `name`."""
        if isinstance(self.actions, str):
            return self.actions in ("*", name)
        return name in self.actions

    def matches(self, action: ActionRequest) -> bool:
        """Whether the rule matches; a predicate that raises counts as a match (fail closed)."""
        if not self.applies_to(action["name"]):
            return False
        if self.when is None:
            return True
        try:
            return bool(self.when(action["args"]))
        except Exception:  # a broken predicate must not let an action through
            return True


@dataclass(frozen=True)
class Requirement:
    """What one risk level needs from reviewers.

    Args:
        approvers: Who may approve (None: anyone except the requester).
        required_approvals: How many distinct approvers must approve (1 or 2).
        timeout_s: Seconds a reviewer has; None means no deadline.
        on_timeout: `reject` (fail closed), `approve` (soft gates only) or `escalate`;
            None derives it from the gate mode: soft gates approve, every other gate rejects.
        allowed_decisions: Decision types reviewers may send.
        escalation: Later reviewer tiers, tried in order when a request escalates.
        review_after_s: How long an executed action with a compensation is listed as reversible.
    """

    approvers: Sequence[str] | None = None
    required_approvals: int = 1
    timeout_s: float | None = None
    on_timeout: OnTimeout | None = None
    allowed_decisions: Sequence[str] = ("approve", "edit", "reject", "respond")
    escalation: Sequence[Sequence[str]] = ()
    review_after_s: float | None = None

    def __post_init__(self) -> None:
        if self.review_after_s is not None and not self.review_after_s > 0:
            msg = f"review_after_s={self.review_after_s!r}; use a positive number of seconds or None."
            raise PolicyError(msg)
        if self.required_approvals not in (1, 2):
            msg = f"required_approvals={self.required_approvals!r}; use 1, or 2 for four-eyes."
            raise PolicyError(msg)
        if self.timeout_s is not None and not self.timeout_s > 0:
            msg = f"timeout_s={self.timeout_s!r}; use a positive number of seconds or None."
            raise PolicyError(msg)
        if self.on_timeout is not None and self.on_timeout not in get_args(OnTimeout):
            msg = f"on_timeout={self.on_timeout!r}. Allowed: reject, approve, escalate."
            raise PolicyError(msg)
        if self.on_timeout == "escalate" and not self.escalation:
            msg = "on_timeout='escalate' needs escalation tiers, e.g. escalation=[['manager']]."
            raise PolicyError(msg)
        bad = [d for d in self.allowed_decisions if d not in DECISION_TYPES]
        if bad:
            msg = f"allowed_decisions has {bad!r}. Allowed: {', '.join(DECISION_TYPES)}."
            raise PolicyError(msg)
        if "reject" not in self.allowed_decisions:
            msg = "allowed_decisions must include 'reject': a reviewer must always be able to say no."
            raise PolicyError(msg)
        if self.approvers is not None and (isinstance(self.approvers, str) or not self.approvers):
            msg = f"approvers={self.approvers!r}; give a non-empty list of names, or None for anyone."
            raise PolicyError(msg)


_DEFAULT_REQUIREMENTS: dict[str, Requirement] = {
    "low": Requirement(),
    "medium": Requirement(),
    "high": Requirement(),
    "critical": Requirement(required_approvals=2),
}


class _KeepMissing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Policy:
    """The reversibility table, rules and per-risk requirements that drive the gate.

    Args:
        actions: Action name -> reversibility class. Unlisted actions are unknown and
            hard-gated (`unknown="hard"`) or denied (`unknown="deny"`).
        rules: Rules that raise risk or tighten the mode when they match.
        requirements: Per-risk reviewer requirements; missing risks keep the defaults
            (one approval; two distinct approvals for `critical`).
        verify_phrases: Action name -> confirmation phrase template, e.g. `"DELETE {id}"`,
            formatted with the action's args; such actions get the `verify` gate.
        impacts: Action name -> a sentence on consequences, shown to reviewers.
        confidence: Confidence bands, applied when the gate is given a confidence.
        version: Recorded in every assessment and audit event.
        unknown: What unknown actions get: `hard` (default) or `deny`.
        soft_timeout_s: How long a soft gate waits for an objection when its requirement sets no
            `timeout_s` (default one hour); then it proceeds, as "soft" promises. None makes soft
            gates wait for a person however long it takes.
    """

    actions: Mapping[str, Reversibility] = field(default_factory=dict)
    rules: Sequence[Rule] = ()
    requirements: Mapping[str, Requirement] = field(default_factory=dict)
    verify_phrases: Mapping[str, str] = field(default_factory=dict)
    impacts: Mapping[str, str] = field(default_factory=dict)
    confidence: ConfidenceBands | None = None
    version: str = "1"
    unknown: GateMode = "hard"
    soft_timeout_s: float | None = 3600.0

    def __post_init__(self) -> None:
        if self.soft_timeout_s is not None and not (
            isinstance(self.soft_timeout_s, (int, float)) and self.soft_timeout_s > 0
        ):
            msg = (
                f"soft_timeout_s={self.soft_timeout_s!r}; use a positive number of seconds, or None to wait."
            )
            raise PolicyError(msg)
        for name, cls in self.actions.items():
            if cls not in _REVERSIBILITY:
                msg = f"Action {name!r} has reversibility {cls!r}. Allowed: {', '.join(_REVERSIBILITY)}."
                raise PolicyError(msg)
        for risk, req in self.requirements.items():
            if risk not in RISK_ORDER:
                msg = f"requirements has key {risk!r}. Allowed: {', '.join(RISK_ORDER)}."
                raise PolicyError(msg)
            if not isinstance(req, Requirement):
                msg = f"requirements[{risk!r}] is a {type(req).__name__}; use Requirement(...)."
                raise PolicyError(msg)
            if risk in ("high", "critical") and req.on_timeout == "approve":
                msg = (
                    f"requirements[{risk!r}] approves on timeout; high and critical actions must fail "
                    "closed. Use on_timeout='reject' or 'escalate'."
                )
                raise PolicyError(msg)
        if self.unknown not in ("hard", "verify", "deny"):
            msg = f"unknown={self.unknown!r}; unknown actions must fail closed: use 'hard' or 'deny'."
            raise PolicyError(msg)
        for rule in self.rules:
            if not isinstance(rule, Rule):
                msg = f"rules holds a {type(rule).__name__}; use Rule(...)."
                raise PolicyError(msg)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, predicates: Mapping[str, Callable[..., Any]] | None = None
    ) -> Policy:
        """The policy in a TOML (or, with pyyaml, YAML) file; `predicates` are the named predicates
        its rules may call. Raises `PolicyFileError` naming the file, line, key and fix (`policy_files`)."""
        from .policy_files import load_policy

        return load_policy(path, predicates=predicates)

    def to_file(
        self, path: str | os.PathLike[str], *, predicates: Mapping[str, Callable[..., Any]] | None = None
    ) -> None:
        """Write the policy as TOML or YAML (by the suffix), so that `from_file` reads it back the same."""
        from .policy_files import dump_policy

        dump_policy(self, path, predicates=predicates)

    def requirement(self, risk: str) -> Requirement:
        """The requirement in force for `risk`."""
        return self.requirements.get(risk) or _DEFAULT_REQUIREMENTS[risk]

    def assess(self, action: ActionRequest, *, confidence: float | None = None) -> Assessment:
        """Assess one action: risk, reversibility, gate mode, reasons and what reviewers need.

        Args:
            action: `{"name": ..., "args": {...}}`.
            confidence: The model's self-reported confidence in [0, 1], used with `confidence` bands.

        Returns:
            The assessment (plain JSON).
        """
        name = action["name"]
        args = action["args"]
        reversibility, risk, mode, reasons = self._table(name)
        risk, mode = self._apply_rules(action, risk, mode, reasons)
        # The risk sets a floor: a medium risk is at least a soft gate, a high one at least hard.
        if RISK_ORDER[risk] >= RISK_ORDER["medium"] and MODE_ORDER[mode] < MODE_ORDER["soft"]:
            mode = "soft" if risk == "medium" else "hard"
        if RISK_ORDER[risk] >= RISK_ORDER["high"] and mode == "soft":
            mode = "hard"
        verify_phrase: str | None = None
        if name in self.verify_phrases and mode != "deny":
            verify_phrase = self.verify_phrases[name].format_map(_KeepMissing(args))
            mode = "verify"
            reasons.append(f"{name}: always manual, type the confirmation phrase")
        if confidence is not None and self.confidence is not None and mode != "deny":
            mode = _apply_confidence(self.confidence, confidence, mode, reasons)
        req = self.requirement(risk)
        on_timeout, timeout_s = self._timeout(req, mode, reasons)
        return {
            "action_name": name,
            "args_hash": args_hash(args),
            "risk": risk,
            "reversibility": reversibility,
            "mode": mode,
            "reasons": reasons,
            "required_approvals": req.required_approvals if mode not in ("auto", "notify", "deny") else 0,
            "approvers": list(req.approvers) if req.approvers is not None else None,
            "escalation": [list(tier) for tier in req.escalation],
            "timeout_s": timeout_s,
            "on_timeout": on_timeout,
            "allowed_decisions": list(req.allowed_decisions),
            "verify_phrase": verify_phrase,
            "impact": self.impacts.get(name, _IMPACT[reversibility]),
            "policy_version": self.version,
        }

    def _table(self, name: str) -> tuple[Reversibility, Risk, GateMode, list[str]]:
        """What the reversibility table says of `name`: its class, risk, mode and the reason why."""
        if name in self.actions:
            reversibility = self.actions[name]
            risk, mode, why = _REVERSIBILITY[reversibility]
            return reversibility, risk, mode, [f"{name}: {why}"]
        # Unknown actions fail closed: gated as irreversible, at the `unknown` mode.
        return (
            "irreversible_high",
            "high",
            self.unknown,
            [f"{name}: unknown action, gated as irreversible (fail closed)"],
        )

    def _apply_rules(
        self, action: ActionRequest, risk: Risk, mode: GateMode, reasons: list[str]
    ) -> tuple[Risk, GateMode]:
        """`risk` and `mode` as every matching rule raises them (never lowers them).

        The reason of each rule that raised one goes first in `reasons`.
        """
        for rule in self.rules:
            if not rule.matches(action):
                continue
            changed = False
            if rule.risk is not None and RISK_ORDER[rule.risk] > RISK_ORDER[risk]:
                risk, changed = rule.risk, True
            if rule.mode is not None and MODE_ORDER[rule.mode] > MODE_ORDER[mode]:
                mode, changed = rule.mode, True
            if changed:
                reasons.insert(0, f"rule {rule.name}: {rule.reason or rule.name}")
        return risk, mode

    def _timeout(
        self, req: Requirement, mode: GateMode, reasons: list[str]
    ) -> tuple[OnTimeout, float | None]:
        """What happens when nobody decides in time, and when: only a soft gate may approve on timeout."""
        on_timeout: OnTimeout = req.on_timeout or ("approve" if mode == "soft" else "reject")
        if on_timeout == "approve" and mode != "soft":
            on_timeout = "reject"
        timeout_s = req.timeout_s
        if (
            timeout_s is None
            and mode == "soft"
            and on_timeout == "approve"
            and self.soft_timeout_s is not None
        ):
            timeout_s = float(self.soft_timeout_s)  # a soft gate proceeds unless someone objects in time
            reasons.append(f"soft gate: proceeds after {timeout_s:g} s unless a reviewer objects")
        return on_timeout, timeout_s


def _apply_confidence(
    bands: ConfidenceBands, confidence: float, mode: GateMode, reasons: list[str]
) -> GateMode:
    """`mode` as the model's confidence moves it; the reason goes first in `reasons`.

    Below the bands the action is denied; above them a soft or notify gate runs without review;
    in between a person decides. Hard and verify gates are never loosened.
    """
    band = bands.band(confidence)
    if band == "reject":
        reasons.insert(0, f"confidence {confidence:.2f} below {bands.auto_reject_below}: denied")
        return "deny"
    if band == "approve" and mode in ("soft", "notify"):
        reasons.insert(0, f"confidence {confidence:.2f} at or above {bands.auto_approve_at}")
        return "auto"
    if band == "ask" and MODE_ORDER[mode] < MODE_ORDER["soft"]:
        reasons.insert(0, f"confidence {confidence:.2f} is uncertain: a person decides")
        return "soft"
    return mode


def stricter(old: Assessment, new: Assessment) -> bool:
    """Whether `new` asks more of reviewers than `old` (an edit that must be reviewed again)."""
    return (
        RISK_ORDER[new["risk"]] > RISK_ORDER[old["risk"]]
        or MODE_ORDER[new["mode"]] > MODE_ORDER[old["mode"]]
        or new["required_approvals"] > old["required_approvals"]
        or (new["verify_phrase"] is not None and new["verify_phrase"] != old["verify_phrase"])
        or (new["approvers"] is not None and new["approvers"] != old["approvers"])
    )
