"""Backtest a candidate policy against the proposals the audit log recorded (`policy backtest`).

Every `proposed` event stores the action's name and arguments, its risk, the policy version,
the gate mode the policy in force gave it, the approvals it needed and the confidence the gate
was given (the last two since 0.2; older rows fall back to the approvals people gave). `backtest`
assesses each such proposal again with the candidate and compares it with what was recorded:

- which gates would change, looser or stricter (mode first, then risk), per action;
- the expected reviewer load per approver per day, before (the decisions people recorded)
  and after: the people who decided a proposal decide it again if it stays gated and the
  candidate still lets them; their decisions if it does not, the approvals it needs beyond
  those the recorded gate needed, and proposals it newly gates are shared evenly among the
  tier's approvers (`(anyone)` when the tier names nobody);
- the dangerous direction: proposals a person rejected, edited, answered instead or sent back
  that the candidate would run without asking anyone (`auto` / `notify`).

Nothing is guessed. A proposal is not replayable, and counted by reason, when its arguments are
not stored, it records no gate mode, it was denied before any policy saw it (malformed, no
handler), or its reasons show a confidence the log does not hold (older logs). Pipeline
sign-offs are not policy decisions and are counted apart. Gates an LLM classifier or a halt
tightened are compared as recorded.

Example:
    ```python
    report = backtest(store.backend, Policy.from_file("candidate.toml"), since="2026-11-01")
    assert not report["overruled"], "the candidate would run what people refused"
    ```
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from typing_extensions import TypedDict

from ..policy import MODE_ORDER, Policy
from ..types import RISK_ORDER
from ._db import Backend
from .audit_events import utc_text

__all__ = ["ActionChanges", "BacktestReport", "Overruled", "backtest"]

HUMAN_EVENTS = ("approved", "edited", "rejected", "responded", "revision_requested")
"""A person's decision on a proposal."""
OVERRULED_EVENTS = ("rejected", "edited", "responded", "revision_requested")
"""A person's decision not to run a proposal as it was proposed."""
REVIEWED_MODES = frozenset({"soft", "hard", "verify"})
"""Gate modes that put a proposal in front of a person."""
ANYONE = "(anyone)"
"""The load bucket of tiers that name no approvers."""
_FAIL_CLOSED = ("malformed action, denied", "tool call ")
"""How the reasons of a proposal denied before any policy saw it begin (the gate's and the tool gate's)."""
_NOT_PEOPLE = frozenset({"auto", "policy", "executor"})


class ActionChanges(TypedDict):
    """How the candidate changes one action's gates."""

    proposals: int
    looser: int
    stricter: int
    unchanged: int
    transitions: dict[str, int]
    """`"old -> new"` gate modes (risk in brackets when only the risk moves) -> proposals."""


class Overruled(TypedDict):
    """A proposal a person refused that the candidate would run without review."""

    action_id: str
    thread_id: str | None
    action: str
    ts: str
    actor: str
    decision: str
    recorded_mode: str
    candidate_mode: str


class BacktestReport(TypedDict):
    """What `backtest` found (plain JSON)."""

    candidate_version: str
    since: str | None
    until: str | None
    first: str | None
    last: str | None
    days: float
    proposals: int
    replayed: int
    not_replayable: dict[str, int]
    """Reason -> proposals, for those that could not be replayed faithfully."""
    not_policy_gated: int
    recorded_versions: dict[str, int]
    changes: dict[str, int]
    """`looser`, `stricter`, `unchanged` -> proposals."""
    by_action: dict[str, ActionChanges]
    load: dict[str, dict[str, float]]
    """Approver -> `before`, `after`, `change`, in expected reviews per day."""
    overruled: list[Overruled]
    candidate_errors: dict[str, int]
    """Errors the candidate raised while assessing (message -> proposals); these count as stricter."""


def backtest(
    backend: Backend, candidate: Policy, *, since: str | None = None, until: str | None = None
) -> BacktestReport:
    """Replay the recorded proposals from `since` (inclusive) to `until` (exclusive) through `candidate`.

    Raises:
        ValueError: `since` or `until` is not an ISO 8601 time.
    """
    where, params = ["event IN (?, ?, ?, ?, ?, ?)"], ["proposed", *HUMAN_EVENTS]
    if since:
        where.append("ts >= ?")
        params.append(utc_text(since, what="since"))
    if until:
        where.append("ts < ?")
        params.append(utc_text(until, what="until"))
    sql = (
        "SELECT ts, thread_id, action_id, event, actor, action, args, risk, policy_version, detail "
        f"FROM hitl_audit WHERE {' AND '.join(where)} ORDER BY seq"
    )
    rows = backend.execute(sql, params)
    decided: dict[str, list[tuple[str, str]]] = defaultdict(list)
    proposals = []
    for row in rows:
        if row["event"] == "proposed":
            proposals.append(row)
        elif row["actor"] not in _NOT_PEOPLE and not str(row["actor"]).startswith("system:"):
            decided[row["action_id"]].append((row["actor"], row["event"]))
    return _Replay(candidate, since, until).run(proposals, decided)


class _Replay:
    """One backtest's tallies."""

    def __init__(self, candidate: Policy, since: str | None, until: str | None) -> None:
        self.candidate = candidate
        self.since, self.until = since, until
        self.skipped: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.versions: Counter[str] = Counter()
        self.changes: Counter[str] = Counter()
        self.by_action: dict[str, ActionChanges] = {}
        self.before: Counter[str] = Counter()
        self.after: defaultdict[str, float] = defaultdict(float)
        self.overruled: list[Overruled] = []
        self.pipeline = 0
        self.replayed = 0

    def run(
        self, proposals: list[dict[str, Any]], decided: dict[str, list[tuple[str, str]]]
    ) -> BacktestReport:
        for row in proposals:
            self._one(row, decided.get(row["action_id"], []))
        first, last = (proposals[0]["ts"], proposals[-1]["ts"]) if proposals else (None, None)
        days = _days(first, last)
        people = sorted(set(self.before) | set(self.after))
        load = {
            p: {
                "before": round(self.before[p] / days, 3),
                "after": round(self.after[p] / days, 3),
                "change": round((self.after[p] - self.before[p]) / days, 3),
            }
            for p in people
        }
        return {
            "candidate_version": self.candidate.version,
            "since": self.since,
            "until": self.until,
            "first": first,
            "last": last,
            "days": round(days, 3),
            "proposals": len(proposals),
            "replayed": self.replayed,
            "not_replayable": dict(self.skipped),
            "not_policy_gated": self.pipeline,
            "recorded_versions": dict(self.versions),
            "changes": {k: self.changes[k] for k in ("looser", "stricter", "unchanged")},
            "by_action": dict(sorted(self.by_action.items())),
            "load": load,
            "overruled": self.overruled,
            "candidate_errors": dict(self.errors),
        }

    def _one(self, row: dict[str, Any], decisions: list[tuple[str, str]]) -> None:
        detail = json.loads(row["detail"]) if row["detail"] else {}
        detail = detail if isinstance(detail, dict) else {}  # a hand-written row: no gate recorded
        if row["policy_version"] == "pipeline" or "stage" in detail:
            self.pipeline += 1
            return
        recorded = str(detail.get("mode"))
        reasons = [str(r) for r in detail.get("reasons") or []]
        confidence = detail.get("confidence")
        why = None
        if row["args"] is None:
            why = "arguments not stored"
        elif recorded not in MODE_ORDER or row["risk"] not in RISK_ORDER:
            why = "no gate recorded"
        elif any(r.startswith(_FAIL_CLOSED) for r in reasons):
            why = "denied before the policy (malformed, no handler, or a tool call without an id)"
        elif confidence is None and any(r.startswith("confidence ") for r in reasons):
            why = "confidence not recorded"
        if why is not None:
            self.skipped[why] += 1
            return
        self.replayed += 1
        self.versions[str(row["policy_version"])] += 1
        action = {"name": row["action"], "args": json.loads(row["args"])}
        try:
            new = self.candidate.assess(action, confidence=confidence)  # type: ignore[arg-type]
            mode, risk, need, approvers = (
                new["mode"],
                new["risk"],
                new["required_approvals"],
                new["approvers"],
            )
        except Exception as exc:  # the gate would fail closed: count it as stricter, and say why
            self.errors[f"{type(exc).__name__}: {exc}"] += 1
            mode, risk, need, approvers = "deny", "critical", 0, None
        recorded_need = detail.get("required_approvals")
        if isinstance(recorded_need, bool) or not isinstance(recorded_need, int):
            recorded_need = None  # an older or hand-written row: count the approvals it got
        self._tally(row, recorded, mode, risk, (recorded_need, need))
        people = {who for who, what in decisions if what in ("approved", "edited")}
        self._load(recorded, recorded_need or len(people) or 1, mode, need, approvers, decisions)
        refused = [(who, what) for who, what in decisions if what in OVERRULED_EVENTS]
        if refused and recorded in REVIEWED_MODES and mode in ("auto", "notify"):
            who, what = refused[0]
            self.overruled.append(
                {
                    "action_id": row["action_id"],
                    "thread_id": row["thread_id"],
                    "action": row["action"],
                    "ts": row["ts"],
                    "actor": who,
                    "decision": what,
                    "recorded_mode": recorded,
                    "candidate_mode": mode,
                }
            )

    def _tally(
        self, row: dict[str, Any], recorded: str, mode: str, risk: str, needs: tuple[Any, int]
    ) -> None:
        """Count the gate's change: mode first, then risk, then (for two gates that ask a person)
        the approvals needed, so that a tier asking fewer people is looser although its mode
        and risk are the same (an older log without the count compares on mode and risk)."""
        was, now = needs
        counted = (
            recorded == mode and mode in REVIEWED_MODES and isinstance(was, int) and isinstance(now, int)
        )
        old = (MODE_ORDER[recorded], RISK_ORDER[row["risk"]], was if counted else 0)
        new = (MODE_ORDER[mode], RISK_ORDER[risk], now if counted else 0)
        direction = "unchanged" if new == old else ("stricter" if new > old else "looser")
        self.changes[direction] += 1
        changes = self.by_action.setdefault(
            row["action"], {"proposals": 0, "looser": 0, "stricter": 0, "unchanged": 0, "transitions": {}}
        )
        changes["proposals"] += 1
        changes[direction] += 1  # type: ignore[literal-required]
        if direction != "unchanged":
            step = f"{recorded} -> {mode}" if mode != recorded else f"{recorded} ({row['risk']} -> {risk})"
            if old[:2] == new[:2]:
                step = f"{recorded} ({was} -> {now} approvals)"
            changes["transitions"][step] = changes["transitions"].get(step, 0) + 1

    def _load(
        self,
        recorded: str,
        recorded_need: int,
        mode: str,
        need: int,
        approvers: list[str] | None,
        decisions: list[tuple[str, str]],
    ) -> None:
        for who, _ in decisions:
            self.before[who] += 1
        if mode not in REVIEWED_MODES:
            return
        allowed = None if approvers is None else set(approvers)
        kept = [who for who, _ in decisions if allowed is None or who in allowed]
        for who in kept:
            self.after[who] += 1
        dropped = len({who for who, _ in decisions} - set(kept))  # no longer allowed: someone else decides
        if recorded in REVIEWED_MODES:
            approved = any(what in ("approved", "edited") for _, what in decisions)
            extra = dropped + (max(0, need - recorded_need) if approved else 0)
        else:
            extra = max(need, 1)  # newly gated: someone reviews it
        if extra:
            pool = (
                [ANYONE] if approvers is None else [a for a in approvers if a not in kept] or list(approvers)
            )
            for who in pool:
                self.after[who] += extra / len(pool)


def _days(first: str | None, last: str | None) -> float:
    """The days the proposals span (at least one)."""
    if first is None or last is None:
        return 1.0
    span = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds() / 86400
    return max(1.0, span)
