"""What shadow mode found: the `shadow_differs` and `shadow_error` audit rows, summarised.

`compute_stats()["shadow"]` and the web inbox's metrics page show this summary: how many
proposals a candidate policy would have treated differently, per action and per direction
(`stricter`, `looser`, `mixed`, `changed`; see `shadow.Direction`), and how often it failed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from typing_extensions import TypedDict

from ._db import Backend

__all__ = ["ShadowStats", "shadow_summary"]


class ShadowStats(TypedDict):
    """Shadow mode's findings over the window."""

    differs: int
    """Proposals the shadow policy would have gated differently."""
    errors: int
    """Proposals on which the shadow policy raised."""
    directions: dict[str, int]
    """`stricter` / `looser` / `mixed` / `changed` -> count."""
    actions: dict[str, dict[str, int]]
    """Action name -> direction (and `errors`) -> count."""
    versions: dict[str, int]
    """Shadow policy version -> rows (differences and errors)."""


def shadow_summary(backend: Backend, since_text: str | None = None) -> ShadowStats:
    """Count the shadow rows of the audit log at or after `since_text` (ISO 8601; None: all)."""
    sql = "SELECT action, event, detail FROM hitl_audit WHERE event IN ('shadow_differs', 'shadow_error')"
    params: list[object] = []
    if since_text is not None:
        sql += " AND ts >= ?"
        params.append(since_text)
    out: ShadowStats = {"differs": 0, "errors": 0, "directions": {}, "actions": {}, "versions": {}}
    directions: dict[str, int] = defaultdict(int)
    actions: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    versions: dict[str, int] = defaultdict(int)
    for row in backend.execute(sql, params):
        detail: Any = row["detail"]
        if isinstance(detail, str):
            try:
                detail = json.loads(detail)
            except ValueError:
                detail = {}
        detail = detail if isinstance(detail, dict) else {}
        action = str(row["action"] or "(unknown)")
        versions[str(detail.get("shadow_version") or "?")] += 1
        if row["event"] == "shadow_error":
            out["errors"] += 1
            actions[action]["errors"] += 1
            continue
        out["differs"] += 1
        direction = str(detail.get("direction") or "changed")
        directions[direction] += 1
        actions[action][direction] += 1
    out["directions"] = dict(sorted(directions.items()))
    out["actions"] = {name: dict(sorted(counts.items())) for name, counts in sorted(actions.items())}
    out["versions"] = dict(sorted(versions.items()))
    return out
