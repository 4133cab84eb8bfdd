"""Rubber-stamp detection: approvers who approve faster than anyone could read, and what it costs them.

A person who approves everything within seconds is not oversight. From each approver's recent
decisions in the inbox (whatever interface they decided through: the runner, the CLI, the web
inbox, an approval link, a plain LangGraph resume) three signals are computed:

- `fast`: the share of their decisions that were approvals taken in under `fast_s` seconds;
- `unread`: the share that were approvals taken in less time than reading what they were shown
  needs (`read_s_per_kb` seconds per KB of the question: the action, its arguments, the reasons,
  the impact and the task's context);
- `streak`: how many approvals in a row they gave most recently, none with a typed phrase.

A decision's time is the most it can have taken: from the question to the decision, or from the
approver's previous decision when that came later (a question waiting in a queue is not being
read). It is still an upper bound on reading time, so a flagged decision was at least that quick. An approver is flagged on a
signal at or over its threshold, once they have `min_decisions` decisions in the window. Names
are grouped by canonical identity and lookalikes (`identity.skeleton`): `ALICE` and `a1ice` are
`alice` here, so another spelling never starts a clean record.

With `Policy(..., rules=[RubberStampRule()])`, a flagged approver's next approvals (and
edits) must carry a typed confirmation phrase, checked exactly as a `verify` gate's phrase is
(`decisions.validate_decision`), by the runner before anything resumes and by the review node on
a plain LangGraph resume, which the runner cannot see. The flag is computed from the store when
the answer arrives, so it cannot be bypassed by choosing another interface; without a store to
compute it from, every approval of such a request needs the phrase (fail closed). A confirmed
approval ends a streak; the flag lifts when the window's numbers fall under the thresholds.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from typing_extensions import TypedDict

from .errors import DecisionError, PolicyError
from .identity import skeleton
from .policy import Rule
from .types import ActionRequest, Decision, ReviewRequest

__all__ = [
    "RubberStampFlag",
    "RubberStampRule",
    "ReviewerDecision",
    "ReviewerProfile",
    "confirmation_request",
    "profile",
    "rule_for",
    "validate_reviewed",
]

FlagName = Literal["fast", "unread", "streak"]
"""`fast`: too many approvals under `fast_s`; `unread`: too many approvals quicker than reading the
question takes; `streak`: too many approvals in a row, none confirmed with a typed phrase."""


@dataclass(frozen=True)
class RubberStampRule(Rule):
    """A policy rule: flagged approvers type a phrase to approve the actions it covers.

    Put it in the policy's rules (`Policy(..., rules=[RubberStampRule()])`). It never changes a
    gate (no risk, no mode); it tells the review nodes, for the actions it covers (`actions`,
    `when`, as any `Rule`), when an approver is flagged and what they must then type.

    Args:
        name: Shown in messages (default `rubber-stamp`).
        actions: Action names it covers, or `"*"` for every action.
        when: Predicate on the action's args; None means always.
        window: How many of the approver's most recent decisions are looked at.
        min_decisions: Fewer decisions than this in the window: never flagged.
        fast_s: An approval quicker than this many seconds is fast.
        fast_share: Flag `fast` at this share of the window's decisions being fast approvals.
        read_s_per_kb: Seconds per KB of the question a reader needs at least (plus one second).
        unread_share: Flag `unread` at this share of decisions being approvals quicker than that.
        streak: Flag `streak` at this many approvals in a row without a typed phrase.
        lookback_s: Decisions older than this many seconds are not looked at.
        phrase: What a flagged approver types to approve, formatted with the action's arguments,
            `{action}` (its name) and `{request}` (the request id's first 8 characters).
        enforce: False only flags (in `stats()`, the CLI, the web metrics page), asking for nothing.
    """

    name: str = "rubber-stamp"
    window: int = 20
    min_decisions: int = 10
    fast_s: float = 5.0
    fast_share: float = 0.5
    read_s_per_kb: float = 2.0
    unread_share: float = 0.5
    streak: int = 15
    lookback_s: float = 30 * 86400.0
    phrase: str = "APPROVE {action} {request}"
    enforce: bool = True

    def __post_init__(self) -> None:
        if self.risk is not None or self.mode is not None:
            msg = f"RubberStampRule {self.name!r} sets risk or mode; it never changes a gate. Use a Rule."
            raise PolicyError(msg)
        for name in ("window", "min_decisions", "streak"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"RubberStampRule({name}={value!r}): use a whole number of at least 1."
                raise PolicyError(msg)
        for name in ("fast_s", "read_s_per_kb", "lookback_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                msg = f"RubberStampRule({name}={value!r}): use a positive number of seconds."
                raise PolicyError(msg)
        for name in ("fast_share", "unread_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                msg = f"RubberStampRule({name}={value!r}): use a share above 0 and at most 1."
                raise PolicyError(msg)
        if not isinstance(self.phrase, str) or not self.phrase.strip():
            msg = f"RubberStampRule(phrase={self.phrase!r}): give the text a flagged approver types."
            raise PolicyError(msg)

    def as_json(self) -> dict[str, Any]:
        """The thresholds and phrase as plain JSON (they travel in the question's `hitl.rubber_stamp`)."""
        return {name: getattr(self, name) for name in _SETTINGS}

    @classmethod
    def from_json(cls, value: Any) -> RubberStampRule:
        """The rule from `as_json()` output (`PolicyError` for anything else)."""
        if not isinstance(value, dict) or not set(value) <= set(_SETTINGS):
            msg = f"rubber_stamp={value!r:.80}: expected the rule's JSON (RubberStampRule.as_json())."
            raise PolicyError(msg)
        return cls(**value)


_SETTINGS = (
    "name",
    "window",
    "min_decisions",
    "fast_s",
    "fast_share",
    "read_s_per_kb",
    "unread_share",
    "streak",
    "lookback_s",
    "phrase",
    "enforce",
)


def rule_for(policy: Any, action: ActionRequest) -> RubberStampRule | None:
    """The policy's first `RubberStampRule` that covers `action`, or None."""
    for rule in getattr(policy, "rules", None) or ():
        if isinstance(rule, RubberStampRule) and rule.matches(action):
            return rule
    return None


class ReviewerDecision(TypedDict):
    """One decision by a person, as the inbox recorded it."""

    approver: str
    """Who decided (canonical)."""
    request_id: str
    """The request decided."""
    kind: str
    """The decision's type (`approve`, `edit`, `reject`, `respond`, `revise`)."""
    seconds: float
    """From the question to the decision (`profile` counts at most the time since their previous one)."""
    shown_bytes: int
    """Size of what the approver was shown: action, arguments, reasons, impact, context."""
    confirmed: bool
    """The approver typed a confirmation phrase."""
    decided_at: float
    """Epoch seconds."""


class RubberStampFlag(TypedDict):
    """One flag with the numbers behind it."""

    flag: FlagName
    """Which signal."""
    value: float
    """The measured share (`fast`, `unread`) or streak length."""
    threshold: float
    """The threshold it met."""
    count: int
    """How many decisions raised it."""
    decisions: int
    """The window's size."""
    message: str
    """The evidence in a sentence."""


class ReviewerProfile(TypedDict):
    """An approver's recent decisions summarised, and their flags."""

    approver: str
    """The canonical name (the most recent spelling, if several lookalikes decided)."""
    names: list[str]
    """Every spelling the decisions were recorded under."""
    decisions: int
    """Decisions in the window."""
    approvals: int
    """Of which approvals (without edits)."""
    median_s: float | None
    """Median seconds a decision took at most (see the module: since the question, or their previous decision)."""
    median_shown_bytes: float | None
    """Median size of what they were shown."""
    median_s_per_kb: float | None
    """Median seconds per KB shown: how fast they read, at most."""
    fast: int
    """Approvals under `fast_s`."""
    unread: int
    """Approvals quicker than reading takes."""
    streak: int
    """Approvals in a row, most recent first, none confirmed with a phrase."""
    flags: list[RubberStampFlag]
    """The flags raised (empty: not flagged)."""


def identity_key(name: str) -> str:
    """Names that are one person for these statistics (case and lookalikes folded)."""
    return skeleton(name)


def _needed_s(rule: RubberStampRule, shown_bytes: int) -> float:
    return 1.0 + rule.read_s_per_kb * shown_bytes / 1024


def profile(decisions: Sequence[ReviewerDecision], rule: RubberStampRule) -> ReviewerProfile:
    """One approver's profile from their decisions, most recent first (only `rule.window` are used)."""
    spent = _effort(decisions[: rule.window + 1])[: rule.window]
    window = [cast(ReviewerDecision, {**d, "seconds": s}) for d, s in zip(decisions, spent, strict=False)]
    n = len(window)
    approvals = [d for d in window if d["kind"] == "approve"]
    fast = sum(1 for d in approvals if d["seconds"] < rule.fast_s)
    unread = sum(1 for d in approvals if d["seconds"] < _needed_s(rule, d["shown_bytes"]))
    streak = 0
    for d in window:
        if d["kind"] != "approve" or d["confirmed"]:
            break
        streak += 1
    seconds = [d["seconds"] for d in window]
    sizes = [d["shown_bytes"] for d in window]
    rates = [d["seconds"] / max(d["shown_bytes"] / 1024, 0.001) for d in window]
    flags: list[RubberStampFlag] = []
    if n >= rule.min_decisions:
        for flag, count, share in (("fast", fast, rule.fast_share), ("unread", unread, rule.unread_share)):
            if count / n >= share:
                flags.append(_flag(flag, count, n, share, rule))  # type: ignore[arg-type]
        if streak >= rule.streak:
            flags.append(_flag("streak", streak, n, rule.streak, rule))
    names = list(dict.fromkeys(d["approver"] for d in window))
    return {
        "approver": names[0] if names else "",
        "names": sorted(names),
        "decisions": n,
        "approvals": len(approvals),
        "median_s": statistics.median(seconds) if seconds else None,
        "median_shown_bytes": statistics.median(sizes) if sizes else None,
        "median_s_per_kb": statistics.median(rates) if rates else None,
        "fast": fast,
        "unread": unread,
        "streak": streak,
        "flags": flags,
    }


def _effort(decisions: Sequence[ReviewerDecision]) -> list[float]:
    """The most time each decision (most recent first) can have taken: since its question was asked,
    or since the approver's previous decision when that came later (a queue's wait is not reading)."""
    out = []
    for i, d in enumerate(decisions):
        since_previous = d["decided_at"] - decisions[i + 1]["decided_at"] if i + 1 < len(decisions) else None
        spent = d["seconds"] if since_previous is None else min(d["seconds"], max(0.0, since_previous))
        out.append(spent)
    return out


def _flag(flag: FlagName, count: int, n: int, threshold: float, rule: RubberStampRule) -> RubberStampFlag:
    if flag == "fast":
        value = count / n
        message = f"{count} of the last {n} decisions were approvals in under {rule.fast_s:g} s"
    elif flag == "unread":
        value = count / n
        message = (
            f"{count} of the last {n} decisions were approvals quicker than reading the question takes "
            f"(1 s + {rule.read_s_per_kb:g} s per KB shown)"
        )
    else:
        value = float(count)
        message = f"the last {count} decisions were all approvals, none with a typed phrase"
    return {
        "flag": flag,
        "value": value,
        "threshold": float(threshold),
        "count": count,
        "decisions": n,
        "message": message,
    }


class _KeepMissing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _phrase(template: str, values: dict[str, Any]) -> str:
    """`template` filled in with `values`; the template itself when the arguments do not fit it
    (`{amount:.2f}` on text, `{customer.tier}` on a mapping) or fill it with blanks, so that
    odd arguments can neither crash a decision nor make the phrase empty (fail closed)."""
    try:
        filled = template.format_map(_KeepMissing(values))
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return template
    return filled if filled.strip() else template


def confirmation_request(request: ReviewRequest, rule: RubberStampRule) -> ReviewRequest:
    """`request` with a typed phrase on every action that has none (the rule's `phrase`)."""
    hitl: Any = dict(request["hitl"])
    rid = str(hitl.get("request_id", ""))[:8]
    phrases = []
    for asked in request["action_requests"]:
        values = {**dict(asked.get("args") or {}), "action": asked["name"], "request": rid}
        phrases.append(_phrase(rule.phrase, values))
    calls = [dict(c) for c in hitl.get("calls") or []]
    for call, phrase in zip(calls, phrases, strict=False):
        call["verify_phrase"] = call.get("verify_phrase") or phrase
    if calls:
        hitl["calls"] = calls
    hitl["verify_phrase"] = hitl.get("verify_phrase") or phrases[0]
    return {**request, "hitl": hitl}


def flags_for(approver: str, rule: RubberStampRule, store: Any) -> tuple[list[RubberStampFlag], str]:
    """The flags `approver` holds now, from `store` (its `reviewers` table reader), with the evidence
    in words; without a store every approver counts as flagged (fail closed)."""
    reviewers = getattr(store, "reviewers", None)
    if reviewers is None:
        return [
            {
                "flag": "unread",
                "value": 1.0,
                "threshold": rule.unread_share,
                "count": 0,
                "decisions": 0,
                "message": "no store holds the approvers' decisions, so nobody can be cleared",
            }
        ], "no store holds the approvers' decisions, so nobody can be cleared"
    found = profile(reviewers.recent(approver, window=rule.window, lookback_s=rule.lookback_s), rule)
    return found["flags"], "; ".join(f["message"] for f in found["flags"])


def validate_reviewed(raw: Any, request: ReviewRequest, *, approver: str, store: Any) -> list[Decision]:
    """`validate_decision`, asking a flagged approver for the rule's typed phrase (see the module).

    Raises:
        DecisionError: As `validate_decision`; for a flagged approver, an approval without the
            phrase, with the evidence.
        AuthorizationError: As `validate_decision`.
    """
    from .decisions import validate_decision  # pydantic: only when a decision is checked

    rule_json = request["hitl"].get("rubber_stamp")
    if rule_json is None:
        return validate_decision(raw, request, approver=approver)
    rule = RubberStampRule.from_json(rule_json)
    decisions = validate_decision(raw, request, approver=approver)
    if not rule.enforce or not any(d["type"] in ("approve", "edit") for d in decisions):
        return decisions
    flags, evidence = flags_for(approver, rule, store)
    if not flags:
        return decisions
    try:
        return validate_decision(raw, confirmation_request(request, rule), approver=approver)
    except DecisionError as exc:
        msg = f"{exc} {approver!r} must confirm approvals by typing the phrase: {evidence}."
        raise DecisionError(msg) from exc
