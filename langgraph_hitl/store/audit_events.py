"""Audit events as the log stores them: the names it accepts, the hashed columns, and the
checks an event passes before it is written (`AuditEventError` names what is wrong)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .._canonical import args_hash as _args_hash
from .._canonical import canonical_json, check_json
from ..errors import HITLError
from ..types import AUDIT_EVENT_NAMES, AuditEvent

__all__ = ["AUDIT_EVENTS", "COLUMNS", "GENESIS_HASH", "HASHED", "AuditEventError", "prepare", "utc_text"]

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first row."""

AUDIT_EVENTS: frozenset[str] = frozenset(AUDIT_EVENT_NAMES)
"""The event names the log accepts (see `types.AuditEvent.event`); `cancelled`: a review ended
without a decision (`server.record_ended_reviews`)."""

HASHED = (
    "seq",
    "event_id",
    "ts",
    "thread_id",
    "request_id",
    "action_id",
    "event",
    "actor",
    "action",
    "args",
    "args_hash",
    "reversibility",
    "risk",
    "decision",
    "outcome",
    "policy_version",
    "detail",
    "prev_hash",
)
COLUMNS = ", ".join((*HASHED, "hash"))
_TEXT_FIELDS = (
    "thread_id",
    "request_id",
    "action_id",
    "action",
    "args_hash",
    "reversibility",
    "risk",
    "decision",
    "outcome",
    "policy_version",
)
_EVENT_KEYS = frozenset(AuditEvent.__annotations__)


class AuditEventError(HITLError, ValueError):
    """An audit event is malformed (missing `event_id`, unknown event name, non-JSON args, ...)."""


def prepare(event: AuditEvent, index: int, now: str) -> dict[str, Any]:
    """Validate one event and turn it into column values (everything but seq and the hashes)."""
    where = f"audit event #{index}"
    if not isinstance(event, Mapping):
        msg = f"{where} is a {type(event).__name__}; each event is a dict (types.AuditEvent)."
        raise AuditEventError(msg)
    unknown = sorted(set(event) - _EVENT_KEYS)
    if unknown:
        msg = (
            f"{where} has unknown keys {unknown}; allowed: {sorted(_EVENT_KEYS)}. Put extra data in 'detail'."
        )
        raise AuditEventError(msg)
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        msg = (
            f"{where} ({event.get('event')!r}) has no event_id (got {event_id!r}); every event needs a "
            "stable, unique id (derived from what it records) so writing it twice stores it once."
        )
        raise AuditEventError(msg)
    where = f"audit event {event_id!r}"
    name = event.get("event")
    if name not in AUDIT_EVENTS:
        msg = f"{where} has event {name!r}; allowed: {', '.join(sorted(AUDIT_EVENTS))}."
        raise AuditEventError(msg)
    actor = event.get("actor")
    if not isinstance(actor, str) or not actor:
        msg = f"{where} has actor {actor!r}; name who caused it (an approver, 'auto', 'system:timeout', the agent)."
        raise AuditEventError(msg)
    out: dict[str, Any] = {"event_id": event_id, "event": name, "actor": actor}
    for key in _TEXT_FIELDS:
        value = event.get(key)
        if value is not None and not isinstance(value, str):
            msg = f"{where} has {key}={value!r} ({type(value).__name__}); it must be a string or None."
            raise AuditEventError(msg)
        out[key] = value
    ts = event.get("ts")
    try:
        out["ts"] = now if ts is None else utc_text(ts, what=f"{where} ts")
    except ValueError as exc:
        raise AuditEventError(str(exc)) from None
    for key in ("args", "detail"):
        value = event.get(key)
        try:
            check_json(value, where=f"{where} {key}")
        except TypeError as exc:
            raise AuditEventError(str(exc)) from None
        out[key] = None if value is None else canonical_json(value)
    if event.get("args") is not None:
        computed = _args_hash(event["args"])
        if out["args_hash"] is not None and out["args_hash"] != computed:
            msg = f"{where} has args_hash {out['args_hash']!r} but its args hash to {computed!r}; drop args_hash."
            raise AuditEventError(msg)
        out["args_hash"] = computed
    return out


def utc_text(value: object, *, what: str) -> str:
    """ISO 8601 UTC text with microseconds, the one form stored, so text order is time order."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
        except ValueError:
            msg = f"{what} is {value!r}, not an ISO 8601 time; use e.g. '2026-01-31T09:30:00+00:00'."
            raise ValueError(msg) from None
    else:
        msg = f"{what} is a {type(value).__name__} ({value!r}); pass ISO 8601 text or a datetime."
        raise ValueError(msg)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
