"""The gate's shadow: assess a proposal under a candidate policy too, and audit the difference.

`ClassifyAndGateNode` calls `observe` after it has assessed a proposal under the enforced policy.
Nothing here changes what the gate returns: the shadow's assessment is never put in state, never
routes, and a shadow policy that raises costs a log line and a `shadow_error` audit row, nothing
else. The rows go straight to the store's audit log (the gate's own store, else the runner's),
so the run's state, route and trail are exactly those of a run without a shadow.

Which shadow: the gate's own `shadow_policy=` if it has one, else the runner's
(`Approvals.open(..., shadow_policy=candidate)`, handed over in the run's config as
`hitl_shadow_policy`, a key only the runner may set). Without a store the differences are only
logged (logger `langgraph_hitl.shadow`), since there is no audit log to write them to.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from langchain_core.runnables import RunnableConfig

from .._canonical import stable_id
from .._events import make_event
from ..policy import Policy
from ..policy_engine import assess_for
from ..receipts import action_digest
from ..shadow import compare
from ..types import ActionRequest, Assessment, AuditEvent
from ._common import event_time, resolve_store, step_key, thread_id_of

__all__ = ["SHADOW_CONFIG_KEY", "observe", "shadow_of"]

log = logging.getLogger("langgraph_hitl.shadow")

SHADOW_CONFIG_KEY = "hitl_shadow_policy"
"""The `configurable` key under which the runner hands its shadow policy to the gate."""


def shadow_of(own: Policy | None, config: RunnableConfig | None) -> Policy | None:
    """The shadow policy for this run: the gate's own, else the runner's (a `Policy` object, which
    no remote client can put in a config)."""
    if own is not None:
        return own
    candidate = ((config or {}).get("configurable") or {}).get(SHADOW_CONFIG_KEY)
    return candidate if isinstance(candidate, Policy) else None


def observe(
    own: Policy | None,
    config: RunnableConfig,
    store: Any,
    *,
    action: ActionRequest,
    enforced: Assessment,
    confidence: float | None,
    requester: str,
    node: str,
) -> None:
    """Assess `action` under the shadow policy and audit how it differs from `enforced`.

    Never raises: whatever goes wrong is logged and, where there is a log, audited as `shadow_error`.
    An action the gate denied before asking any policy (malformed, or without a handler: its
    assessment has no `args_hash`) is not compared.
    """
    try:
        candidate = shadow_of(own, config)
        if candidate is None or not enforced.get("args_hash"):
            return
        thread_id = thread_id_of(config)
        digest = action_digest(action, thread_id=thread_id, occurrence=step_key(config, node))
        action_id = digest[:32]  # the gate's own id for this proposal
        event = _event(candidate, config, action, enforced, confidence, requester, action_id, node)
        if event is None:
            return
        log.info("shadow policy %s: %s on %s", candidate.version, event["event"], action["name"])
        audit = getattr(resolve_store(store, config), "audit", None)
        if audit is None:
            log.warning("shadow policy %s: no store to audit %s", candidate.version, event["detail"])
            return
        audit.append([event])
    except Exception:  # the shadow must never change or stop the run
        log.exception("shadow mode failed on %s; the run goes on under the enforced policy", node)


def _event(
    candidate: Policy,
    config: RunnableConfig,
    action: ActionRequest,
    enforced: Assessment,
    confidence: float | None,
    requester: str,
    action_id: str,
    node: str,
) -> AuditEvent | None:
    """The `shadow_differs` or `shadow_error` event for `action`, or None when both policies agree."""
    version = str(getattr(candidate, "version", "?"))
    try:
        # A copy: a candidate that rewrites what it is given must not change what runs.
        shadow = assess_for(candidate, copy.deepcopy(action), confidence=confidence, requester=requester)
    except Exception as exc:  # a broken candidate is a finding, not a failure of the run
        log.warning("shadow policy %s raised on %s: %r", version, action["name"], exc)
        name: str = "shadow_error"
        detail: dict[str, Any] = {
            "node": node,
            "shadow_version": version,
            "error": f"{type(exc).__name__}: {str(exc)[:500]}",
        }
    else:
        diff = compare(enforced, shadow)
        if diff is None:
            return None
        name, detail = "shadow_differs", {"node": node, "shadow_version": version, **diff}
    return make_event(
        name,
        action_id=action_id,
        actor="system:shadow",
        thread_id=thread_id_of(config),
        action={"name": action["name"], "args": action["args"]},
        assessment=enforced,
        detail=detail,
        event_id=stable_id(action_id, name, version),
        ts=event_time(config),
    )
