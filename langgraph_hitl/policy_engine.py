"""An external policy engine beside the built-in policy: it may only make a gate stricter, or deny.

Organisations that already write authorization rules in an engine (Cedar, through `cedarpy`)
can have the gate consult it. The built-in `Policy` assesses first; then the engine answers for
the same action, and its answer counts like a `Rule` that matched: it can raise the risk, tighten
the gate mode or deny (the action is refused, audited as `denied`, never executed), never loosen.
Any engine error (a bad answer, an exception, no answer within `timeout_s`) fails closed: the
action is denied, and the reason says why. The engine's version joins the assessment's
`policy_version` (`"2026-11+cedar:3f2a..."`), so each audit row and receipt names both.

The engine is asked with the requester as principal where the package knows it (the gate, and a
review node re-assessing an edited or changed action); elsewhere (tool gates, middlewares) the
principal is `unknown`.

Example:
    ```python
    from langgraph_hitl import Policy
    from langgraph_hitl.policy_engine import CedarEngine, with_engine

    cedar = CedarEngine('''
        permit(principal, action, resource);
        @id("big-payments") forbid(principal, action == Action::"pay", resource)
            when { context.args.amount > 10000 };
    ''')
    policy = with_engine(Policy({"pay": "irreversible_high"}), cedar)
    assert policy.assess({"name": "pay", "args": {"amount": 50000}})["mode"] == "deny"
    ```
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

from .errors import PolicyError
from .policy import MODE_ORDER, Policy, Rule
from .types import RISK_ORDER, ActionRequest, Assessment, GateMode, Risk

__all__ = ["CedarEngine", "EnginePolicy", "EngineVerdict", "PolicyEngine", "assess_for", "with_engine"]


@dataclass(frozen=True)
class EngineVerdict:
    """An engine's answer for one action.

    Args:
        allowed: False denies the action.
        risk: The least risk the engine asks for (None: no opinion).
        mode: The least gate mode the engine asks for (None: no opinion).
        reasons: Why, shown to reviewers first (e.g. the engine's policy ids).
    """

    allowed: bool
    risk: Risk | None = None
    mode: GateMode | None = None
    reasons: tuple[str, ...] = ()


@runtime_checkable
class PolicyEngine(Protocol):
    """What the gate consults after the built-in policy (`CedarEngine` is one)."""

    version: str
    """Recorded in the assessment's `policy_version`, after the built-in policy's."""

    def judge(self, action: ActionRequest, *, requester: str | None) -> EngineVerdict:
        """The verdict for `action` proposed by `requester` (None when the caller does not know)."""
        ...


def _within(fn: Any, timeout_s: float) -> Any:
    """`fn()` on a daemon thread, abandoned after `timeout_s` (`TimeoutError`): an engine call
    cannot be interrupted, and one that hangs must hold up neither the run nor the process's exit."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def call() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller, which denies
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=call, name="hitl-engine", daemon=True).start()
    if not done.wait(timeout_s):
        raise TimeoutError
    error = box.get("error")
    if isinstance(error, Exception):
        raise error
    if error is not None:  # SystemExit, a BaseException subclass: still the engine's failure, which denies
        msg = f"{type(error).__name__}: {error}"
        raise RuntimeError(msg) from error
    return box["value"]


@dataclass(frozen=True)
class EnginePolicy(Policy):
    """A `Policy` that also consults an external engine, which can only make a gate stricter.

    Build it with `with_engine(policy, engine)`. Every option of `Policy` applies; `assess`
    takes the requester too (`assess_for` passes it where the caller knows it).

    Args:
        engine: The engine (`CedarEngine(...)` or any `PolicyEngine`).
        engine_timeout_s: Seconds the engine has to answer; after that the action is denied.
    """

    engine: PolicyEngine | None = None
    engine_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.engine, PolicyEngine):
            msg = (
                f"engine={self.engine!r:.80} is not a policy engine: pass CedarEngine(policies) or an object "
                "with a `version` and a `judge(action, *, requester)` method."
            )
            raise PolicyError(msg)
        timeout = self.engine_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            msg = f"engine_timeout_s={timeout!r}; give the engine's time limit in seconds, a positive number."
            raise PolicyError(msg)

    def assess(
        self, action: ActionRequest, *, confidence: float | None = None, requester: str | None = None
    ) -> Assessment:
        """`Policy.assess`, then the engine's verdict applied as a rule (never loosening).

        Args:
            action: `{"name": ..., "args": {...}}`.
            confidence: As for `Policy.assess`.
            requester: Who proposed the action: the engine's principal (None: `unknown`).
        """
        base = self._plain(()).assess(action, confidence=confidence)
        verdict, why = self._verdict(action, requester)
        version = f"{self.version}+{self.engine.version}" if self.engine is not None else self.version
        rule = _as_rule(verdict, why, base)
        out = base if rule is None else self._plain((rule,)).assess(action, confidence=confidence)
        return {**out, "policy_version": version}

    def _plain(self, extra: tuple[Rule, ...]) -> Policy:
        """This policy without the engine, with `extra` rules after its own."""
        values = {f.name: getattr(self, f.name) for f in fields(Policy)}
        values["rules"] = (*self.rules, *extra)
        return Policy(**values)

    def _verdict(self, action: ActionRequest, requester: str | None) -> tuple[EngineVerdict | None, str]:
        """The engine's verdict, or None with the reason when it failed (which denies: fail closed)."""
        engine = self.engine
        assert engine is not None
        try:
            verdict = _within(lambda: engine.judge(action, requester=requester), self.engine_timeout_s)
        except TimeoutError:
            return None, f"policy engine {engine.version} gave no answer within {self.engine_timeout_s:g} s"
        except Exception as exc:  # any failure of the engine denies the action
            return None, f"policy engine {engine.version} failed: {type(exc).__name__}: {str(exc)[:300]}"
        if not isinstance(verdict, EngineVerdict):
            return None, f"policy engine {engine.version} answered {type(verdict).__name__}, not a verdict"
        return verdict, ""


def _as_rule(verdict: EngineVerdict | None, why: str, base: Assessment) -> Rule | None:
    """The verdict as a rule that always matches (None when it asks nothing more than `base`)."""
    if verdict is None:
        return Rule("policy-engine", mode="deny", reason=f"{why}: denied (fail closed)")
    reason = "; ".join(verdict.reasons) or "policy engine"
    if verdict.allowed is not True:  # False, or not a yes at all ("false", 1): denies
        return Rule("policy-engine", mode="deny", reason=f"{reason}: denied by the policy engine")
    risk = verdict.risk if verdict.risk in RISK_ORDER else None
    mode = verdict.mode if verdict.mode in MODE_ORDER else None
    if (verdict.risk is not None and risk is None) or (verdict.mode is not None and mode is None):
        bad = f"risk={verdict.risk!r}, mode={verdict.mode!r}"
        return Rule(
            "policy-engine", mode="deny", reason=f"policy engine asked for {bad}: denied (fail closed)"
        )
    raises_risk = risk is not None and RISK_ORDER[risk] > RISK_ORDER[base["risk"]]
    raises_mode = mode is not None and MODE_ORDER[mode] > MODE_ORDER[base["mode"]]
    if not (raises_risk or raises_mode):
        return None
    return Rule(
        "policy-engine", risk=risk if raises_risk else None, mode=mode if raises_mode else None, reason=reason
    )


def with_engine(policy: Policy, engine: PolicyEngine, *, timeout_s: float = 2.0) -> EnginePolicy:
    """`policy` consulting `engine` after its own table and rules (see the module's docstring).

    Raises:
        PolicyError: `engine` is not a `PolicyEngine`, or `timeout_s` is not a positive number.
    """
    if not isinstance(policy, Policy):
        msg = f"with_engine() needs a Policy, got {type(policy).__name__}; build one with Policy({{...}})."
        raise PolicyError(msg)
    values = {f.name: getattr(policy, f.name) for f in fields(Policy)}
    return EnginePolicy(**values, engine=engine, engine_timeout_s=timeout_s)


def assess_for(
    policy: Policy, action: ActionRequest, *, confidence: float | None = None, requester: str | None = None
) -> Assessment:
    """`policy.assess(action)`, telling an `EnginePolicy` who proposed the action."""
    if isinstance(policy, EnginePolicy):
        return policy.assess(action, confidence=confidence, requester=requester)
    return policy.assess(action, confidence=confidence)


class CedarEngine:
    """Cedar policies (through `cedarpy`, imported when the engine is built) as a `PolicyEngine`.

    Each action is one Cedar request: principal `Agent::"<requester>"` (`unknown` when not
    known), action `Action::"<action name>"`, resource `Tool::"<action name>"`, context
    `{"args": {...}}` (the action's arguments). Cedar denies unless a `permit` matches and no
    `forbid` does, so permit what the built-in policy governs (`permit(principal, action,
    resource);`) and forbid with conditions. A matching `permit` annotated `@risk("critical")` or
    `@mode("verify")` raises the gate to at least that; `@id("name")` names a policy in reasons.
    Argument values Cedar has no type for are converted: a JSON null leaves the key out (test it
    with `has`), a number with a fraction becomes a `decimal` when it has at most 4 decimal places
    and text otherwise, an integer outside 64 bits becomes text. A policy that fails to evaluate
    (e.g. a type error in a condition) denies the action: errors fail closed.

    Args:
        policies: Cedar policy text.
        entities: Cedar entities (a list of entity dicts, or their JSON text), e.g. agents' groups.
        schema: A Cedar schema (text or dict); None evaluates without one.
        version: Recorded in assessments; default `cedar:` and the first 12 hex digits of the
            policy text's sha256.
        principal_type, action_type, resource_type: The Cedar entity types used in requests.

    Raises:
        PolicyError: The policy text does not parse (named with Cedar's error), or cedarpy is missing.
    """

    def __init__(
        self,
        policies: str,
        *,
        entities: Any = None,
        schema: Any = None,
        version: str | None = None,
        principal_type: str = "Agent",
        action_type: str = "Action",
        resource_type: str = "Tool",
    ) -> None:
        import hashlib
        import json

        try:
            import cedarpy
        except ImportError as exc:
            msg = "CedarEngine needs cedarpy: pip install 'langgraph-hitl[cedar]'."
            raise PolicyError(msg) from exc
        if not isinstance(policies, str) or not policies.strip():
            msg = f"policies={policies!r:.80}: give Cedar policy text, e.g. 'permit(principal, action, resource);'."
            raise PolicyError(msg)
        try:
            parsed = json.loads(cedarpy.policies_to_json_str(policies))
        except ValueError as exc:
            msg = f"The Cedar policies do not parse: {exc}. Fix the policy text."
            raise PolicyError(msg) from exc
        self._cedar = cedarpy
        self.policies = policies
        self._policy_set = cedarpy.PolicySet.from_str(policies)
        self.entities = entities if entities is not None else []
        self.schema = schema
        self._annotations: dict[str, dict[str, str]] = {
            pid: dict(p.get("annotations") or {}) for pid, p in (parsed.get("staticPolicies") or {}).items()
        }
        self.version = version or "cedar:" + hashlib.sha256(policies.encode("utf-8")).hexdigest()[:12]
        self.types = (principal_type, action_type, resource_type)

    def request(self, action: ActionRequest, *, requester: str | None) -> dict[str, Any]:
        """The Cedar request for `action` proposed by `requester`."""
        principal, kind, resource = self.types
        return {
            "principal": {"type": principal, "id": requester or "unknown"},
            "action": {"type": kind, "id": action["name"]},
            "resource": {"type": resource, "id": action["name"]},
            "context": {"args": _cedar_value(dict(action["args"]))},
        }

    def judge(self, action: ActionRequest, *, requester: str | None) -> EngineVerdict:
        """Ask Cedar; a deny, no decision or any evaluation error denies (fail closed)."""
        result = self._cedar.is_authorized(
            self.request(action, requester=requester), self._policy_set, self.entities, self.schema
        )
        reasons = list(result.diagnostics.reasons)
        names = [self._annotations.get(r, {}).get("id") or r for r in reasons]
        errors = list(result.diagnostics.errors)
        if errors:
            return EngineVerdict(False, reasons=(f"cedar error ({self.version}): {'; '.join(errors)[:500]}",))
        if not result.allowed:
            why = f"forbidden by cedar {', '.join(names)}" if names else "no cedar policy permits it"
            return EngineVerdict(False, reasons=(why,))
        risks = [self._annotations.get(r, {}).get("risk") for r in reasons]
        modes = [self._annotations.get(r, {}).get("mode") for r in reasons]
        risk = max((r for r in risks if r), key=lambda r: RISK_ORDER.get(r, 99), default=None)
        mode = max((m for m in modes if m), key=lambda m: MODE_ORDER.get(m, 99), default=None)
        return EngineVerdict(True, risk=risk, mode=mode, reasons=(f"cedar {', '.join(names)}",))  # type: ignore[arg-type]


def _cedar_value(value: Any) -> Any:
    """`value` as Cedar's JSON takes it (see `CedarEngine`): no nulls, no floats, 64-bit integers."""
    if isinstance(value, dict):
        return {str(k): _cedar_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_cedar_value(v) for v in value if v is not None]
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**63:
            return int(value)
        text = repr(value)
        if "e" not in text and "n" not in text and len(text.split(".")[1]) <= 4:
            return {"__extn": {"fn": "decimal", "arg": text}}
        return text
    return str(value)
