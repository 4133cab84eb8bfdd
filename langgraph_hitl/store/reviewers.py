"""Approvers' recent decisions from the inbox, for rubber-stamp detection (`rubber_stamp.py`).

Every interface records a decision on the request's inbox row (`decided_by`, `decided_at`, the
answer), whether it went through the runner or was a plain LangGraph resume settled from the
audit trail, so these rows are where an approver's record is read from. Two indexes (migration 8)
keep the decide-time check to an index range scan: the names that decided in the look-back
window, then the last `window` rows of the names that are the asking approver (lookalikes too).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from .._canonical import canonical_json
from ..identity import canonical_or_none
from ..rubber_stamp import ReviewerDecision, ReviewerProfile, RubberStampRule, identity_key, profile
from ._db import Backend

__all__ = ["Reviewers", "decision_of"]

_DECIDED = "status IN ('deciding', 'resumed') AND decided_by IS NOT NULL AND decided_by NOT LIKE 'system:%'"


class Reviewers:
    """Read approvers' recent decisions and profile them (see `rubber_stamp.profile`).

    Args:
        backend: The database connection (from `open_store`).
        clock: Returns the epoch time; the look-back window ends now.
    """

    def __init__(self, backend: Backend, *, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.clock = clock

    def recent(self, approver: str, *, window: int, lookback_s: float) -> list[ReviewerDecision]:
        """`approver`'s last `window` decisions (theirs under any lookalike spelling), newest first."""
        since = self.clock() - lookback_s
        key = identity_key(canonical_or_none(approver, allow_system=True) or approver)
        # Only the index's two columns, so it is read alone (a status filter here read every row).
        names = [
            row["decided_by"]
            for row in self.backend.execute(
                "SELECT DISTINCT decided_by FROM hitl_requests WHERE decided_at >= ? AND decided_by IS NOT NULL",
                (since,),
            )
            if identity_key(str(row["decided_by"])) == key
        ]
        if not names:
            return []
        marks = ", ".join("?" * len(names))
        rows = self.backend.execute(
            "SELECT request_id, decided_by, decision, payload, created_at, decided_at FROM hitl_requests "
            f"WHERE decided_by IN ({marks}) AND decided_at >= ? AND {_DECIDED} "
            "ORDER BY decided_at DESC, seq DESC LIMIT ?",
            (*names, since, window),
        )
        return [decision_of(row) for row in rows]

    def profiles(self, rule: RubberStampRule, *, limit: int = 100_000) -> dict[str, ReviewerProfile]:
        """Every approver who decided in the rule's look-back window, profiled, by canonical name."""
        rows = self.backend.execute(
            "SELECT request_id, decided_by, decision, payload, created_at, decided_at FROM hitl_requests "
            f"WHERE decided_at >= ? AND {_DECIDED} ORDER BY decided_at DESC, seq DESC LIMIT ?",
            (self.clock() - rule.lookback_s, limit),
        )
        people: dict[str, list[ReviewerDecision]] = defaultdict(list)
        for row in rows:
            one = decision_of(row)
            mine = people[identity_key(one["approver"])]
            if len(mine) < rule.window:
                mine.append(one)
        found = [profile(decisions, rule) for decisions in people.values()]
        return {p["approver"]: p for p in sorted(found, key=lambda p: p["approver"])}


def decision_of(row: Any) -> ReviewerDecision:
    """One inbox row as a `ReviewerDecision`."""
    answer = _json(row["decision"])
    batch = answer.get("decisions")
    items: Sequence[Any] = batch if isinstance(batch, list) else [answer]
    kinds = [str(i.get("type")) for i in items if isinstance(i, dict)] or ["?"]
    kind = "approve" if all(k == "approve" for k in kinds) else next(k for k in kinds if k != "approve")
    payload = _json(row["payload"])
    hitl: dict[str, Any] = payload["hitl"] if isinstance(payload.get("hitl"), dict) else {}
    shown = [payload.get("action_requests"), hitl.get("reasons"), hitl.get("impact"), hitl.get("context")]
    return {
        "approver": str(row["decided_by"]),
        "request_id": str(row["request_id"]),
        "kind": kind,
        "seconds": max(0.0, float(row["decided_at"]) - float(row["created_at"])),
        "shown_bytes": len(canonical_json(shown).encode("utf-8")),
        "confirmed": any(isinstance(i, dict) and bool(i.get("verify")) for i in items),
        "decided_at": float(row["decided_at"]),
    }


def _json(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if isinstance(text, str | bytes) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
