"""Read-only pages: the audit log (with a chain-verification badge) and the gate metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from .deps import page_user, render, state_of
from .views import STAT_COLUMNS, event_view, fmt_duration, fmt_rate

__all__ = ["AUDIT_FILTERS", "audit_filters", "router", "stats_rows"]

router = APIRouter(include_in_schema=False)

AUDIT_FILTERS = ("thread_id", "request_id", "actor", "event", "action", "since", "until")
"""Query parameters the audit page and `GET /api/audit` filter by (see `AuditLog.query`)."""

User = Annotated[str, Depends(page_user)]


def audit_filters(request: Request) -> dict[str, str]:
    """The non-empty audit filters in the query string."""
    return {k: v.strip() for k in AUDIT_FILTERS if (v := request.query_params.get(k, "")).strip()}


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, user: User, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Response:
    """Recent audit events, newest first, with filters and the hash chain's status."""
    service = state_of(request).inbox
    filters = audit_filters(request)
    error = None
    try:
        rows = service.audit(limit=limit, **filters)
    except ValueError as exc:
        rows, error = [], str(exc)
    verified = service.verify()
    return render(
        request,
        "audit.html",
        {
            "events": [event_view(e) for e in rows],
            "filters": filters,
            "fields": AUDIT_FILTERS,
            "limit": limit,
            "error": error,
            "verify": verified,
            "nav": "audit",
        },
        status_code=400 if error else 200,
    )


def _cell(key: str, value: Any) -> str:
    if key.endswith("_s"):
        return fmt_duration(value) if value is not None else ""
    return fmt_rate(value)


def stats_rows(groups: dict[str, Any]) -> list[dict[str, Any]]:
    """One table row per group of a `compute_stats` section: name, cells, flags."""
    return [
        {
            "name": name,
            "cells": [_cell(k, stats.get(k)) for k, _ in STAT_COLUMNS],
            "flags": list(stats.get("flags") or []),
        }
        for name, stats in groups.items()
        if isinstance(stats, dict)
    ]


@router.get("/metrics", response_class=HTMLResponse)
def metrics_page(request: Request, user: User, since: str = "") -> Response:
    """Approval rates, timings and tuning flags per gate, action and approver."""
    service = state_of(request).inbox
    error = None
    try:
        stats = service.stats(since=since.strip() or None)
    except ValueError as exc:
        stats, error = service.stats(), str(exc)
    sections = [
        (title, stats_rows(stats.get(key) or {}))
        for key, title in (("gates", "Per gate"), ("actions", "Per action"), ("approvers", "Per approver"))
    ]
    return render(
        request,
        "metrics.html",
        {
            "columns": [label for _, label in STAT_COLUMNS],
            "totals": stats_rows({"All decisions": stats.get("totals") or {}}),
            "sections": sections,
            "flags": stats.get("flags") or [],
            "since": since,
            "error": error,
            "thresholds": stats.get("thresholds") or {},
            "reviewers": list((stats.get("reviewers") or {}).values()),  # rubber-stamp flags, with evidence
            "rubber_stamp": stats.get("rubber_stamp") or {},
            "shadow": stats.get("shadow") or {},
            "nav": "metrics",
        },
        status_code=400 if error else 200,
    )
