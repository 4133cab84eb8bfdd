"""Canonical JSON, hashes and stable ids shared by the policy, nodes, store and runner."""

from __future__ import annotations

import hashlib
import json
import math
import time
from datetime import datetime, timezone
from typing import Any

__all__ = ["args_hash", "canonical_json", "iso", "now_iso", "plain_json", "stable_id", "check_json"]


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


def plain_json(value: Any, *, where: str, _depth: int = 0) -> tuple[Any, list[str]]:
    """A copy of `value` that any store and transport can hold, and what had to be converted.

    For what reviewers are shown (context): nothing is dropped. Values that are not plain JSON
    (a `datetime`, a `Decimal`, an integer past 64 bits, NaN, a non-string key) become their text;
    text with NUL or a lone surrogate is escaped. Each conversion is named in the returned list.
    """
    notes: list[str] = []

    def text(v: Any, why: str, at: str) -> str:
        notes.append(f"{at}: {why}, shown as text")
        shown = v if isinstance(v, str) else (v.isoformat() if hasattr(v, "isoformat") else str(v))
        return shown.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")

    def walk(v: Any, at: str, depth: int) -> Any:
        if depth > 64:
            return text(repr(v)[:200], "nested deeper than 64 levels", at)
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, int):
            return v if -(2**63) <= v < 2**64 else text(v, "an integer past 64 bits", at)
        if isinstance(v, float):
            return v if math.isfinite(v) else text(v, f"{v!r} is not JSON", at)
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return text(v, "text with a lone surrogate", at)
            return text(v, "text with a NUL character", at) if "\x00" in v else v
        if isinstance(v, (list, tuple)):
            return [walk(item, f"{at}[{i}]", depth + 1) for i, item in enumerate(v)]
        if isinstance(v, dict):
            out: dict[str, Any] = {}
            for k, item in v.items():
                key = k if isinstance(k, str) else text(k, f"a {type(k).__name__} key", at)
                out[key] = walk(item, f"{at}.{key}", depth + 1)
            return out
        return text(v, f"a {type(v).__name__}", at)

    return walk(value, where, _depth), notes
