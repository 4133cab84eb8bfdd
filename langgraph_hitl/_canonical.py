"""Canonical JSON, hashes and stable ids shared by the policy, nodes, store and runner."""

from __future__ import annotations

import hashlib
import json
import math
import time
from datetime import datetime, timezone
from typing import Any

__all__ = ["args_hash", "canonical_json", "iso", "now_iso", "stable_id", "check_json"]


def canonical_json(value: Any) -> str:
    """Serialize `value` deterministically: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def args_hash(args: Any) -> str:
    """sha256 hex digest of the canonical JSON of `args`."""
    return hashlib.sha256(canonical_json(args).encode("utf-8")).hexdigest()


def stable_id(*parts: object) -> str:
    """A 32-hex id derived from `parts`: the same parts always give the same id."""
    joined = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


def iso(ts: float) -> str:
    """ISO 8601 UTC text for an epoch timestamp, with microseconds."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="microseconds")


def now_iso() -> str:
    """The current time as ISO 8601 UTC text."""
    return iso(time.time())


def check_json(value: Any, *, where: str, _depth: int = 0) -> None:
    """Raise `TypeError` naming `where` if `value` is not plain JSON (or nests absurdly deep)."""
    if _depth > 64:
        msg = f"{where} nests deeper than 64 levels; flatten it."
        raise TypeError(msg)
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"{where} holds {value!r}; JSON has no NaN or infinity."
            raise TypeError(msg)
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_json(item, where=f"{where}[{i}]", _depth=_depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                msg = f"{where} has a non-string key {key!r}; JSON object keys are strings."
                raise TypeError(msg)
            check_json(item, where=f"{where}.{key}", _depth=_depth + 1)
        return
    msg = (
        f"{where} holds a {type(value).__name__} ({value!r:.60}); payloads must be plain JSON "
        "(str, int, float, bool, None, list, dict). Convert it before it reaches the gate."
    )
    raise TypeError(msg)
