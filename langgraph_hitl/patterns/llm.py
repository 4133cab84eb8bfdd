"""`LLMRiskClassifier`: a chat model's risk opinion on top of the policy's rules.

The classifier is a `Policy`: it assesses with your policy first (the floor), then asks the
model for `{risk, reasons, confidence}`. The model can only RAISE the risk (its verdict becomes
one more rule), never lower it, and if the call fails or answers nonsense the policy's
assessment stands, with a reason saying so (fail closed; `on_error="review"` also sends the
action to a person). Use it wherever a `Policy` goes: `ClassifyAndGateNode`, `ToolGateNode`,
`add_approval_flow`. Those call it before any interrupt, once per step.

Any langchain chat model works: with `with_structured_output(RiskVerdict)` when the model
supports it (`ChatOpenAI`, the documented default, sends a `json_schema` response format), else
a plain call whose JSON reply is parsed (e.g. langchain_core's fake chat models).

Example:
    ```python
    from langchain_openai import ChatOpenAI   # pip install "langgraph-hitl[openai]"
    from langgraph_hitl.patterns import LLMRiskClassifier

    policy = Policy({"send_email": "irreversible_low"})
    classifier = LLMRiskClassifier(ChatOpenAI(model="gpt-4o-mini", temperature=0), policy)
    builder.add_node("classify_and_gate", ClassifyAndGateNode(classifier))
    ```
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal, TypeVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import PolicyError
from ..policy import MODE_ORDER, Policy, Rule
from ..types import RISK_ORDER, ActionRequest, Assessment, Risk

__all__ = ["DEFAULT_RISK_PROMPT", "LLMRiskClassifier", "RiskVerdict", "parse_structured", "structured_call"]

_M = TypeVar("_M", bound=BaseModel)

DEFAULT_RISK_PROMPT = (
    "You review actions an AI agent wants to take, before they run. Rate how bad it would be if the "
    "action were a mistake: low (harmless, easy to undo), medium (annoying, fixable), high (hard to undo, "
    "affects customers, money or data), critical (irreversible and broad: production, mass deletion, large "
    "payments, credentials). Look for risks the rules may miss: many recipients, production targets, "
    "sensitive data, destructive arguments. Answer only with JSON: "
    '{"risk": "low|medium|high|critical", "reasons": ["..."], "confidence": 0.0-1.0}.'
)
"""The system prompt the classifier sends unless given another."""


def no_default(schema: dict[str, Any]) -> None:
    """Drop `default` from a field's JSON schema: OpenAI's strict structured outputs want every field required."""
    schema.pop("default", None)


def unit_interval(value: float) -> float:
    """Check a confidence is in [0, 1] (a validator, so the JSON schema sent to the model stays plain)."""
    if not 0.0 <= value <= 1.0:
        msg = f"confidence {value!r} is outside [0, 1]"
        raise ValueError(msg)
    return value


class RiskVerdict(BaseModel):
    """The model's structured answer."""

    model_config = ConfigDict(extra="ignore")
    risk: Risk
    """How risky the model thinks the action is."""
    reasons: list[str] = Field(default_factory=list, json_schema_extra=no_default)
    """Why, in a few short sentences (the first ten are kept)."""
    confidence: float
    """How sure the model is, in [0, 1] (self-reported: a hint, not a probability)."""

    _confidence = field_validator("confidence")(unit_interval)

    @field_validator("reasons")
    @classmethod
    def _first_ten(cls, value: list[str]) -> list[str]:
        return [str(r)[:500] for r in value[:10]]


def _chat_openai(name: str) -> Any:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        msg = (
            f'LLMRiskClassifier({name!r}, ...) uses ChatOpenAI: pip install "langgraph-hitl[openai]" ({exc}).'
        )
        raise PolicyError(msg) from exc
    return ChatOpenAI(model=name, temperature=0)


def parse_structured(result: Any, schema: type[_M]) -> _M:
    """Read `schema` from a model's reply: the schema itself, a dict, tool-call args or JSON text."""
    if isinstance(result, schema):
        return result
    if isinstance(result, BaseMessage):
        if getattr(result, "tool_calls", None):
            result = result.tool_calls[0]["args"]  # type: ignore[attr-defined]
        else:
            result = result.content if isinstance(result.content, str) else json.dumps(result.content)
    if isinstance(result, str):
        start, end = result.find("{"), result.rfind("}")
        if start < 0 or end < start:
            msg = f"the model's reply has no JSON object: {result[:120]!r}"
            raise ValueError(msg)
        result = json.loads(result[start : end + 1])
    if isinstance(result, BaseModel):
        result = result.model_dump()
    return schema.model_validate(result)


def structured_call(model: Any, schema: type[BaseModel]) -> Callable[[list[BaseMessage]], Any]:
    """A function `messages -> reply` asking `model` for `schema`.

    Uses `model.with_structured_output(schema)` when the model supports it, else the model's
    plain `invoke` (its JSON reply is parsed by `parse_structured`), else `model` itself if it
    is callable.

    Raises:
        PolicyError: `model` is neither a chat model nor callable.
    """
    structured = getattr(model, "with_structured_output", None)
    if structured is not None:
        try:
            return structured(schema).invoke  # type: ignore[no-any-return]
        except NotImplementedError:  # e.g. fake chat models: ask for JSON and parse it
            pass
    if hasattr(model, "invoke"):
        return model.invoke  # type: ignore[no-any-return]
    if callable(model):
        return model  # type: ignore[no-any-return]
    msg = f"model={model!r} is neither a chat model nor callable; pass e.g. ChatOpenAI(model='gpt-4o-mini')."
    raise PolicyError(msg)


class LLMRiskClassifier(Policy):
    """A `Policy` that also asks a chat model how risky an action is; the model can only raise risk.

    Args:
        model: A langchain chat model (e.g. `ChatOpenAI(model="gpt-4o-mini", temperature=0)`), a
            model name for `ChatOpenAI` (needs the `openai` extra and `OPENAI_API_KEY`), or a
            callable `messages -> RiskVerdict | dict | AIMessage`.
        policy: The rules the model cannot override: its assessment is the floor.
        prompt: The system prompt (default: `DEFAULT_RISK_PROMPT`).
        actions: Ask the model only about these action names (default: every action the
            policy does not already deny or rate critical).
        on_error: When the model fails: `keep` the policy's assessment (default) or `review`
            (at least a hard gate: a person decides).

    Raises:
        PolicyError: `policy` is not a `Policy`, `model` is unusable, or a bad option.

    Example:
        ```python
        classifier = LLMRiskClassifier(model, Policy({"send_email": "irreversible_low"}))
        assessment = classifier.assess({"name": "send_email", "args": {"to": ["all@corp.example"]}})
        ```
    """

    def __init__(
        self,
        model: Any,
        policy: Policy,
        *,
        prompt: str | None = None,
        actions: Sequence[str] | None = None,
        on_error: Literal["keep", "review"] = "keep",
    ) -> None:
        if not isinstance(policy, Policy) or isinstance(policy, LLMRiskClassifier):
            msg = f"LLMRiskClassifier needs a plain Policy as its floor, got {type(policy).__name__}."
            raise PolicyError(msg)
        if on_error not in ("keep", "review"):
            msg = f"on_error={on_error!r}. Allowed: keep (the policy's assessment stands), review (a person decides)."
            raise PolicyError(msg)
        if actions is not None and (isinstance(actions, str) or not actions):
            msg = f"actions={actions!r}; give a non-empty list of action names, or None for every action."
            raise PolicyError(msg)
        for name in policy.__dataclass_fields__:
            object.__setattr__(self, name, getattr(policy, name))
        if isinstance(model, str):
            model = _chat_openai(model)
        object.__setattr__(self, "base_policy", policy)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "prompt", prompt or DEFAULT_RISK_PROMPT)
        object.__setattr__(self, "only", tuple(actions) if actions is not None else None)
        object.__setattr__(self, "on_error", on_error)
        object.__setattr__(self, "_call", structured_call(model, RiskVerdict))

    base_policy: Policy
    model: Any
    prompt: str
    only: tuple[str, ...] | None
    on_error: str
    _call: Callable[[list[BaseMessage]], Any]

    def __repr__(self) -> str:
        return f"LLMRiskClassifier(model={type(self.model).__name__}, policy={self.base_policy!r})"

    def classify(self, action: ActionRequest, assessment: Assessment) -> RiskVerdict:
        """Ask the model about `action`; raises whatever the model call or parsing raises."""
        payload = {
            "action": action["name"],
            "args": action["args"],
            "description": action.get("description"),
            "policy": {
                "risk": assessment["risk"],
                "reversibility": assessment["reversibility"],
                "mode": assessment["mode"],
                "reasons": assessment["reasons"],
            },
        }
        text = json.dumps(payload, default=str, sort_keys=True)
        return parse_structured(
            self._call([SystemMessage(self.prompt), HumanMessage(text[:8000])]), RiskVerdict
        )

    def assess(self, action: ActionRequest, *, confidence: float | None = None) -> Assessment:
        """The policy's assessment, raised (never lowered) by the model's verdict.

        Args:
            action: `{"name": ..., "args": {...}}`.
            confidence: The agent's self-reported confidence, for the policy's confidence bands.

        Returns:
            The assessment; its reasons say what the model concluded or that it failed.
        """
        base = self.base_policy.assess(action, confidence=confidence)
        if (
            base["mode"] == "deny"
            or base["risk"] == "critical"
            or (self.only and action["name"] not in self.only)
        ):
            return base
        try:
            verdict = self.classify(action, base)
        except Exception as exc:  # fail closed: the rules' assessment stands
            why = f"LLM risk check failed ({type(exc).__name__}: {str(exc)[:160]}); kept the policy's assessment"
            if self.on_error == "review" and MODE_ORDER[base["mode"]] < MODE_ORDER["hard"]:
                rule = Rule(
                    "llm-unavailable", actions=action["name"], mode="hard", reason=why + ", a person decides"
                )
                return replace(self.base_policy, rules=[*self.base_policy.rules, rule]).assess(
                    action, confidence=confidence
                )
            return {**base, "reasons": [*base["reasons"], why]}
        said = f"the model rates it {verdict.risk} (confidence {verdict.confidence:.2f})"
        detail = f"{said}: {'; '.join(verdict.reasons)}" if verdict.reasons else said
        if RISK_ORDER[verdict.risk] <= RISK_ORDER[base["risk"]]:
            return {
                **base,
                "reasons": [
                    *base["reasons"],
                    f"LLM risk check: {detail}; the policy's {base['risk']} stands",
                ],
            }
        rule = Rule("llm-risk", actions=action["name"], risk=verdict.risk, reason=detail)
        return replace(self.base_policy, rules=[*self.base_policy.rules, rule]).assess(
            action, confidence=confidence
        )
