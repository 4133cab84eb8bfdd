"""Gate metrics: how reviewers decide, how fast, and which gates need tuning.

`compute_stats` reads the audit log's decision events and the inbox's decision times, and
returns plain JSON-able dicts per gate (review node), per action and per approver:

- counts of each decision, and approval / edit / rejection / timeout rates over the decisions
  people (or the timeout) took; `auto_approved` (no review) and `cancelled` (a review ended
  without a decision) are counted but stay out of the rates;
- median and 90th-percentile seconds from question to decision (`decided_at - created_at`,
  human decisions only: a timeout's delay is its deadline, not a reviewer's speed);
- flags, for gates and actions with at least `min_samples` decisions:
  `relax` when approved unmodified more than 95% of the time (the gate is too conservative),
  `upstream` when edited more than 30% of the time (the agent's proposals need work);
- `reviewers`: each approver's recent decisions against the size of what they were shown, with
  rubber-stamp flags and their evidence (`rubber_stamp.py`; thresholds from `rubber_stamp=`);
- `shadow`: what a shadow policy would have gated differently (`store.shadow_log`).

Example:
    ```python
    from langgraph_hitl.store.metrics import compute_stats

    stats = compute_stats(store.backend, since="2026-01-01")
    for flag in stats["flags"]:
        print(flag["message"])
    ```
"""

from __future__ import annotations

import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Literal

from typing_extensions import TypedDict

from ..rubber_stamp import ReviewerProfile, RubberStampRule
from ._db import Backend
from .reviewers import Reviewers
from .shadow_log import ShadowStats, shadow_summary

__all__ = ["DECISION_EVENTS", "Flag", "FlagNote", "GroupStats", "Stats", "Thresholds", "compute_stats"]

DECISION_EVENTS: tuple[str, ...] = (
    "approved",
    "edited",
    "rejected",
    "timed_out",
    "responded",
    "revision_requested",
    "auto_approved",
    "cancelled",
)
"""The audit events counted (`auto_approved` and `cancelled` beside the decisions, not among them)."""

_NOT_DECISIONS = ("auto_approved", "cancelled")
"""Counted, but not a reviewer's answer: kept out of `decisions` and the rates."""

Flag = Literal["relax", "upstream"]
"""`relax`: approved unmodified so often the gate may be too conservative (consider `auto`, a soft
gate, or a narrower rule). `upstream`: edited so often the agent's proposals need work."""


class GroupStats(TypedDict):
    """Decision counts, rates and timings for one gate, action or approver (or all of them)."""

    decisions: int
    """Reviews answered: approved + edited + rejected + timed_out + responded + revision_requested."""
    approved: int
    """Approved unmodified."""
    edited: int
    """Approved with edited arguments (modified)."""
    rejected: int
    """Rejected by a person."""
    timed_out: int
    """Resolved by the deadline (`system:timeout`)."""
    responded: int
    """Answered with guidance instead of a verdict."""
    revision_requested: int
    """Sent back for a revised proposal."""
    auto_approved: int
    """Run by the policy without review (not part of `decisions` or the rates)."""
    cancelled: int
    """Reviews ended without a decision (Agent Inbox's "Mark as Resolved", a state change that
    removed the question): not part of `decisions` or the rates."""
    approval_rate: float | None
    """approved / decisions, None without decisions."""
    edit_rate: float | None
    """edited / decisions."""
    rejection_rate: float | None
    """rejected / decisions."""
    timeout_rate: float | None
    """timed_out / decisions."""
    timed: int
    """Requests decided by a person with both timestamps, the sample of the two timings below."""
    median_decision_s: float | None
    """Median seconds from question to decision."""
    p90_decision_s: float | None
    """90th percentile (nearest rank) of seconds from question to decision."""
    flags: list[Flag]
    """`relax` and/or `upstream`, for gates and actions only."""


class FlagNote(TypedDict):
    """One flag raised, with a sentence a person can act on."""

    scope: Literal["gate", "action"]
    """What is flagged."""
    name: str
    """The gate (node) or action name."""
    flag: Flag
    """Which flag."""
    rate: float
    """The approval rate (`relax`) or edit rate (`upstream`) that raised it."""
    decisions: int
    """The sample size."""
    message: str
    """What it means and what to do."""


class Thresholds(TypedDict):
    """The thresholds the flags used."""

    min_samples: int
    """Fewest decisions before a gate or action is flagged."""
    relax_above: float
    """Approval rate above which `relax` is raised."""
    upstream_above: float
    """Edit rate above which `upstream` is raised."""


class Stats(TypedDict):
    """What `compute_stats` returns; every value is plain JSON."""

    since: str | None
    """The window's start (ISO 8601 UTC), None for all time."""
    thresholds: Thresholds
    """The thresholds used."""
    totals: GroupStats
    """Everything together."""
    gates: dict[str, GroupStats]
    """Per review node (from the inbox row of each decision; decisions without one count in totals and actions)."""
    actions: dict[str, GroupStats]
    """Per action name."""
    approvers: dict[str, GroupStats]
    """Per person who decided (`system:*` actors and policy auto-approvals excluded)."""
    flags: list[FlagNote]
    """Every flag raised, gates first, then actions, by name."""
    reviewers: dict[str, ReviewerProfile]
    """Per approver (lookalike spellings together): recent decisions, timings and rubber-stamp flags."""
    rubber_stamp: dict[str, object]
    """The rubber-stamp thresholds used (`RubberStampRule.as_json()`)."""
    shadow: ShadowStats
    """Shadow mode's differences and errors in the window."""


def compute_stats(
    backend: Backend,
    *,
    since: str | datetime | float | None = None,
    min_samples: int = 20,
    relax_above: float = 0.95,
    upstream_above: float = 0.30,
    rubber_stamp: RubberStampRule | None = None,
    clock: Callable[[], float] = time.time,
) -> Stats:
    """Approval metrics per gate, action and approver, with tuning flags.

    Args:
        backend: The database connection (`store.backend`).
        since: Only decisions and requests at or after this time: ISO 8601 text, a datetime
            (naive means UTC) or epoch seconds.
        min_samples: Fewest decisions a gate or action needs before it can be flagged.
        relax_above: Flag `relax` when the approval rate is above this.
        upstream_above: Flag `upstream` when the edit rate is above this.
        rubber_stamp: The thresholds that flag an approver (default `RubberStampRule()`); its
            `lookback_s` and `window` bound the decisions looked at, not `since`.
        clock: Returns the epoch time the look-back window ends at (the store's clock).

    Returns:
        A `Stats` dict.

    Raises:
        ValueError: A threshold is out of range, or `since` is not a time.
    """
    _check_thresholds(min_samples, relax_above, upstream_above)
    rule = rubber_stamp if rubber_stamp is not None else RubberStampRule()
    start = _epoch(since)
    since_text = (
        None
        if start is None
        else datetime.fromtimestamp(start, tz=timezone.utc).isoformat(timespec="microseconds")
    )
    counts = _count_events(backend, since_text)
    durations = _decision_times(backend, start)
    thresholds: Thresholds = {
        "min_samples": min_samples,
        "relax_above": relax_above,
        "upstream_above": upstream_above,
    }
    groups = {
        scope: {
            key: _group(
                counts[scope].get(key) or _zero(),
                durations[scope].get(key, []),
                thresholds if scope != "approvers" else None,
            )
            for key in sorted(set(counts[scope]) | set(durations[scope]))
        }
        for scope in ("gates", "actions", "approvers")
    }
    flags = [
        _note(scope, name, flag, stats)
        for scope in ("gates", "actions")
        for name, stats in groups[scope].items()
        for flag in stats["flags"]
    ]
    return {
        "since": since_text,
        "thresholds": thresholds,
        "totals": _group(counts["totals"].get("") or _zero(), durations["totals"].get("", []), None),
        "gates": groups["gates"],
        "actions": groups["actions"],
        "approvers": groups["approvers"],
        "flags": flags,
        "reviewers": Reviewers(backend, clock=clock).profiles(rule),
        "rubber_stamp": rule.as_json(),
        "shadow": shadow_summary(backend, since_text),
    }


def _check_thresholds(min_samples: int, relax_above: float, upstream_above: float) -> None:
    if min_samples < 1:
        msg = f"min_samples must be at least 1, got {min_samples}."
        raise ValueError(msg)
    for name, value in (("relax_above", relax_above), ("upstream_above", upstream_above)):
        if not 0 <= value <= 1:
            msg = f"{name} is a rate from 0 to 1, got {value!r}."
            raise ValueError(msg)


_SCOPES = ("totals", "gates", "actions", "approvers")


def _count_events(backend: Backend, since_text: str | None) -> dict[str, dict[str, dict[str, int]]]:
    """Decision events from the audit log, counted per scope (`totals`, `gates`, ...) -> key -> event."""
    counts: dict[str, dict[str, dict[str, int]]] = {k: defaultdict(_zero) for k in _SCOPES}
    marks = ", ".join("?" * len(DECISION_EVENTS))
    sql = (
        f"SELECT r.node AS node, a.action AS action, r.action_name AS action_name, a.actor AS actor, "
        f"a.event AS event, COUNT(*) AS n FROM hitl_audit a LEFT JOIN hitl_requests r "
        f"ON r.request_id = a.request_id WHERE a.event IN ({marks})"
    )
    params: list[object] = list(DECISION_EVENTS)
    if since_text is not None:
        sql += " AND a.ts >= ?"
        params.append(since_text)
    sql += " GROUP BY r.node, a.action, r.action_name, a.actor, a.event"
    for row in backend.execute(sql, params):
        event, n = row["event"], int(row["n"])
        counts["totals"][""][event] += n
        counts["actions"][row["action"] or row["action_name"] or "(unknown)"][event] += n
        if row["node"] is not None and event != "auto_approved":
            counts["gates"][row["node"]][event] += n
        if event not in _NOT_DECISIONS and _is_person(row["actor"]):
            counts["approvers"][row["actor"]][event] += n
    return counts


def _decision_times(backend: Backend, start: float | None) -> dict[str, dict[str, list[float]]]:
    """Seconds from question to a person's decision, from the inbox, per scope -> key."""
    durations: dict[str, dict[str, list[float]]] = {k: defaultdict(list) for k in _SCOPES}
    sql = (
        "SELECT node, action_name, decided_by, created_at, decided_at FROM hitl_requests "
        "WHERE decided_at IS NOT NULL AND decided_by IS NOT NULL"
    )
    params: list[object] = []
    if start is not None:
        sql += " AND created_at >= ?"
        params.append(start)
    for row in backend.execute(sql, params):
        if not _is_person(row["decided_by"]):
            continue
        seconds = max(0.0, float(row["decided_at"]) - float(row["created_at"]))
        for scope, key in (
            ("totals", ""),
            ("gates", row["node"]),
            ("actions", row["action_name"]),
            ("approvers", row["decided_by"]),
        ):
            durations[scope][key].append(seconds)
    return durations


def _zero() -> dict[str, int]:
    return dict.fromkeys(DECISION_EVENTS, 0)


def _is_person(actor: str | None) -> bool:
    return bool(actor) and not str(actor).startswith("system:") and actor not in ("auto", "policy")


def _group(counts: dict[str, int], seconds: list[float], thresholds: Thresholds | None) -> GroupStats:
    decisions = sum(n for event, n in counts.items() if event not in _NOT_DECISIONS)

    def rate(event: str) -> float | None:
        return counts[event] / decisions if decisions else None

    stats: GroupStats = {
        "decisions": decisions,
        "approved": counts["approved"],
        "edited": counts["edited"],
        "rejected": counts["rejected"],
        "timed_out": counts["timed_out"],
        "responded": counts["responded"],
        "revision_requested": counts["revision_requested"],
        "auto_approved": counts["auto_approved"],
        "cancelled": counts["cancelled"],
        "approval_rate": rate("approved"),
        "edit_rate": rate("edited"),
        "rejection_rate": rate("rejected"),
        "timeout_rate": rate("timed_out"),
        "timed": len(seconds),
        "median_decision_s": statistics.median(seconds) if seconds else None,
        "p90_decision_s": _nearest_rank(seconds, 0.9),
        "flags": [],
    }
    if thresholds is not None and decisions >= thresholds["min_samples"]:
        if counts["approved"] / decisions > thresholds["relax_above"]:
            stats["flags"].append("relax")
        if counts["edited"] / decisions > thresholds["upstream_above"]:
            stats["flags"].append("upstream")
    return stats


def _nearest_rank(values: Iterable[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _note(scope: str, name: str, flag: Flag, stats: GroupStats) -> FlagNote:
    label: Literal["gate", "action"] = "gate" if scope == "gates" else "action"
    if flag == "relax":
        rate = stats["approval_rate"] or 0.0
        message = (
            f"{label} {name!r}: approved unmodified in {rate:.0%} of {stats['decisions']} reviews; "
            "it may be too conservative: consider a soft gate, auto-approval, or a narrower rule."
        )
    else:
        rate = stats["edit_rate"] or 0.0
        message = (
            f"{label} {name!r}: edited in {rate:.0%} of {stats['decisions']} reviews; "
            "reviewers keep correcting it: improve the upstream agent's proposals."
        )
    return {
        "scope": label,
        "name": name,
        "flag": flag,
        "rate": rate,
        "decisions": stats["decisions"],
        "message": message,
    }


def _epoch(value: str | datetime | float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        msg = f"since must be a time, got {value!r}."
        raise ValueError(msg)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            msg = f"since is {value!r}, not an ISO 8601 time; use e.g. '2026-01-31' or '2026-01-31T09:30:00+00:00'."
            raise ValueError(msg) from None
    if not isinstance(value, datetime):
        msg = f"since must be ISO 8601 text, a datetime or epoch seconds, got {type(value).__name__}."
        raise ValueError(msg)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()
