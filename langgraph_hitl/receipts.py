"""Approval receipts: an approval counts only for the exact action it approved (G9).

An action's **digest** is the sha256 of the canonical JSON of its name and arguments, the
thread it runs in and its occurrence (the step that proposed it), so the same call later in a
loop is a new action. A **receipt** records one approval of one digest by one canonical person:

```json
{"request_id": "...", "digest": "...", "approver": "alice", "stage": 1, "decision": "approve",
 "mode": "hard", "risk": "high", "policy_version": "...", "decided_at": "...",
 "thread_id": "t1", "occurrence": "...", "mac": "..."}
```

The package issues receipts when a decision is accepted (the runner writes each one to the
audit log in the transaction that claims the request) and the nodes keep them in state.
Before a handler runs, only receipts whose digest equals the digest of the action about to
run, issued under the gate assessed for that digest, count. An edit, a revision or a change
made with `update_state` makes a new digest, so approvals of the old action stop counting.

`mac` is an HMAC-SHA256 over the receipt with the store's seal key (the audit key when the
store was opened with one), so receipts and assessments a graph node forges in state are
refused, and a downstream service holding the audit key can check them with `verify`.

Example:
    ```python
    from langgraph_hitl.receipts import verify

    def wire_money(args, *, idempotency_key, receipts):
        verify(receipts, {"name": "wire_money", "args": args}, key=AUDIT_KEY, required=2,
               idempotency_key=idempotency_key)
        bank.transfer(**args, reference=idempotency_key)
    ```
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from typing_extensions import NotRequired, TypedDict

from ._canonical import canonical_json
from .errors import AuthorizationError

__all__ = [
    "Receipt",
    "ReceiptError",
    "action_digest",
    "authentic",
    "counting",
    "enough",
    "issue",
    "seal",
    "sealed",
    "verify",
]

APPROVING = ("approve", "edit")
"""Decision types whose receipt approves the digest it names."""


class ReceiptError(AuthorizationError):
    """The receipts do not authorize the action: too few, forged, or for other arguments."""


class Receipt(TypedDict):
    """One approval of one exact action by one canonical person."""

    request_id: str
    """The question the approval answered."""
    digest: str
    """`action_digest` of the action approved (for an edit: of the edited action)."""
    approver: str
    """The canonical identity of who approved (`system:timeout` for a soft gate's timeout)."""
    stage: int
    """The review stage (1, 2 for four-eyes, or the pipeline stage)."""
    decision: str
    """`approve`, `edit`, or `timeout` (a soft gate approved on timeout)."""
    mode: str
    """The gate's mode for this digest when the approval was given."""
    risk: str
    """The gate's risk for this digest when the approval was given."""
    policy_version: str
    """The policy version that assessed the digest."""
    decided_at: str
    """When the decision was accepted (ISO 8601)."""
    thread_id: str
    """The thread the action runs in (part of the digest)."""
    occurrence: str
    """The step that proposed the action (part of the digest)."""
    mac: NotRequired[str | None]
    """HMAC-SHA256 with the store's seal key, or None when no key was available."""


def action_digest(action: Mapping[str, Any], *, thread_id: str | None, occurrence: str) -> str:
    """The sha256 hex digest that identifies `action` (its name and args) in this thread and step."""
    body = {
        "thread": thread_id or "",
        "occurrence": occurrence,
        "name": action.get("name"),
        "args": action.get("args"),
    }
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def _mac(key: bytes, body: Mapping[str, Any]) -> str:
    data = canonical_json({k: v for k, v in body.items() if k not in ("mac", "seal")})
    return hmac.new(key, data.encode("utf-8", "backslashreplace"), hashlib.sha256).hexdigest()


def seal(obj: Mapping[str, Any], key: bytes | None) -> dict[str, Any]:
    """`obj` with a `seal` (HMAC with `key`) that `sealed` checks; unchanged without a key."""
    out = dict(obj)
    out.pop("seal", None)
    if key:
        out["seal"] = _mac(key, out)
    return out


def sealed(obj: Any, key: bytes | None) -> bool:
    """Whether `obj` carries a valid seal for `key` (always True without a key)."""
    if not key:
        return True
    if not isinstance(obj, Mapping) or not isinstance(obj.get("seal"), str):
        return False
    try:
        return hmac.compare_digest(obj["seal"], _mac(key, obj))
    except (TypeError, ValueError):
        return False


def issue(
    *,
    request_id: str,
    digest: str,
    approver: str,
    stage: int,
    decision: str,
    gate: Mapping[str, Any],
    decided_at: str,
    thread_id: str | None,
    occurrence: str,
    key: bytes | None,
) -> Receipt:
    """Build (and MAC, with `key`) the receipt of one approval."""
    receipt: Receipt = {
        "request_id": request_id,
        "digest": digest,
        "approver": approver,
        "stage": int(stage),
        "decision": decision,
        "mode": str(gate.get("mode") or ""),
        "risk": str(gate.get("risk") or ""),
        "policy_version": str(gate.get("policy_version") or ""),
        "decided_at": decided_at,
        "thread_id": thread_id or "",
        "occurrence": occurrence,
    }
    receipt["mac"] = _mac(key, receipt) if key else None
    return receipt


def authentic(receipt: Any, key: bytes | None) -> bool:
    """Whether `receipt` is well formed and, with `key`, carries a valid MAC."""
    if not isinstance(receipt, Mapping) or not all(
        isinstance(receipt.get(f), str)
        for f in ("request_id", "digest", "approver", "decision", "mode", "occurrence")
    ):
        return False
    if not key:
        return True
    mac = receipt.get("mac")
    return isinstance(mac, str) and hmac.compare_digest(mac, _mac(key, receipt))


def counting(
    receipts: Iterable[Any],
    *,
    digest: str,
    gate: Mapping[str, Any],
    requester: str | Sequence[str] | None,
    key: bytes | None,
) -> list[Receipt]:
    """The receipts that count toward running the action with `digest` under `gate`.

    A receipt counts when it is authentic, names `digest`, was issued under the same gate (mode,
    risk, policy version), approves (approve or edit; a timeout only at a soft gate), and its
    approver is a canonical person who is not, and does not look like, the requester or an
    approver already counted (`identity.skeleton`).
    """
    from .identity import SYSTEM_PREFIX, canonical, skeleton

    asked = [requester] if isinstance(requester, str) else list(requester or ())
    seen: set[str] = set()
    for name in asked:
        try:
            seen.add(skeleton(canonical(name, allow_system=True)))
        except AuthorizationError:
            continue
    out: list[Receipt] = []
    for r in receipts:
        if not authentic(r, key) or r["digest"] != digest:
            continue
        if (r["mode"], r.get("risk"), r.get("policy_version")) != (
            gate.get("mode"),
            gate.get("risk"),
            gate.get("policy_version"),
        ):
            continue
        soft_timeout = (
            r["decision"] == "timeout"
            and r["approver"].startswith(SYSTEM_PREFIX)
            and gate.get("mode") == "soft"
        )
        if r["decision"] not in APPROVING and not soft_timeout:
            continue
        if not soft_timeout and r["approver"].startswith(SYSTEM_PREFIX):
            continue
        looks = skeleton(r["approver"])
        if looks in seen:
            continue  # the requester, someone counted already, or a name that passes for one of them
        seen.add(looks)
        out.append(r)
    return out


def enough(receipts: Sequence[Receipt], required: int) -> bool:
    """Whether `receipts` (from `counting`) meet a requirement of `required` distinct approvers."""
    if any(r["decision"] == "timeout" for r in receipts):
        return True  # a soft gate that nobody objected to in time
    return len(receipts) >= max(1, required)


def verify(
    receipts: Iterable[Any],
    action: Mapping[str, Any],
    *,
    key: bytes,
    required: int = 1,
    approvers: Sequence[str] | None = None,
    requester: str | None = None,
    idempotency_key: str | None = None,
) -> list[Receipt]:
    """Check, in the target system, that `receipts` authorize exactly `action`.

    Recomputes the action's digest from its name and args with each receipt's thread and
    occurrence, checks each MAC with `key`, and counts distinct approvers.

    Args:
        receipts: What the handler received as `receipts`.
        action: `{"name": ..., "args": {...}}` exactly as the handler is about to run it.
        key: The key receipts are MACed with: the `hmac_key` the store was opened with (or
            `LANGGRAPH_HITL_AUDIT_KEY` where the graph runs without a store). Required: a check
            without the key cannot tell a forged receipt from a real one.
        required: How many distinct approvers the action needs.
        approvers: If given, only receipts by these people count.
        requester: Who proposed the action (never counts as an approver).
        idempotency_key: The key the handler was called with. Given, receipts count only for
            this one run of the action, so they cannot be replayed for the same arguments later.

    Returns:
        The receipts that count.

    Raises:
        ReceiptError: Fewer than `required` valid receipts; the message says why each failed.
        TypeError: No key given.
    """
    from .identity import canonical_list

    if not isinstance(key, bytes) or not key:
        msg = (
            f"verify() needs the key receipts are MACed with (bytes), got {type(key).__name__}: pass the "
            "store's hmac_key (or LANGGRAPH_HITL_AUDIT_KEY's value) so forged receipts are refused."
        )
        raise TypeError(msg)

    allowed = canonical_list(approvers) if approvers is not None else None
    why: list[str] = []
    good: list[Receipt] = []
    for r in receipts:
        if not authentic(r, key):
            why.append(f"receipt {str(r)[:60]} has no valid MAC")
            continue
        digest = action_digest(action, thread_id=r["thread_id"], occurrence=r["occurrence"])
        if r["digest"] != digest:
            why.append(f"{r['approver']!r} approved other arguments (digest {r['digest'][:12]}…)")
            continue
        if allowed is not None and r["approver"] not in allowed:
            why.append(f"{r['approver']!r} is not an approver")
            continue
        if idempotency_key is not None and r["digest"][:32] != idempotency_key:
            why.append(f"{r['approver']!r} approved another run of the action (not {idempotency_key[:12]}…)")
            continue
        good.append(r)
    gate = (
        {"mode": good[0]["mode"], "risk": good[0]["risk"], "policy_version": good[0]["policy_version"]}
        if good
        else {}
    )
    count = counting(good, digest=good[0]["digest"] if good else "", gate=gate, requester=requester, key=key)
    if not enough(count, required) or not count:
        got = ", ".join(r["approver"] for r in count) or "none"
        msg = (
            f"Action {action.get('name')!r} needs {required} distinct approval(s) of exactly these arguments; "
            f"valid receipts from: {got}." + (f" Refused: {'; '.join(why)}." if why else "")
        )
        raise ReceiptError(msg)
    return count
