"""Human-in-the-loop patterns as prebuilt parts (pipelines, escalation, confidence bands, tool gates), built from the same nodes and policy.

Each part gets identity checks, timeouts, refusal of invalid answers, audit events and the
runner's recovery for free, because it asks through `ReviewNode` / the `ReviewRequest` shape.

- `Stage` + `create_approval_pipeline`: multi-stage work with sign-off and revision loops.
- `ToolGateNode` + `tool_gate_condition` (StateGraph) and `ToolGateMiddleware` (`create_agent`):
  approve a tool-calling agent's risky calls, one question per turn.
- `HumanInTheLoopMiddleware`: a drop-in for langchain's (same constructor, answers and texts),
  with this package's identity, receipts and audit underneath.
- `ModelLevel` / `HumanLevel` + `create_escalation_chain`: agent -> senior model -> human -> manager.
- `LLMRiskClassifier`: a chat model's risk opinion that can raise, never lower, the policy's.
- `read_confidence`, `confirmation_policy`, `confirmation_level`: confidence bands and
  confirmation levels (info / confirm / verify) on top of `Policy`.

`ToolGateMiddleware` and `HumanInTheLoopMiddleware` need `langchain` (extra `openai`) and are
imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .confidence import ConfirmationLevel, confirmation_level, confirmation_policy, read_confidence
from .escalation import create_escalation_chain
from .levels import (
    EscalationState,
    EscalationStep,
    HumanLevel,
    LevelAnswer,
    ModelLevel,
)
from .llm import DEFAULT_RISK_PROMPT, LLMRiskClassifier, RiskVerdict
from .pipeline import create_approval_pipeline
from .stages import PipelineState, Stage, StageResult
from .toolgate import CallReview, ToolGateNode, ToolGateRecord, ToolGateState, tool_gate_condition

if TYPE_CHECKING:
    from .hitl_middleware import HumanInTheLoopMiddleware, HumanInTheLoopState
    from .middleware import ToolGateAgentState, ToolGateMiddleware

__all__ = [
    "CallReview",
    "ConfirmationLevel",
    "DEFAULT_RISK_PROMPT",
    "EscalationState",
    "EscalationStep",
    "HumanInTheLoopMiddleware",
    "HumanInTheLoopState",
    "HumanLevel",
    "LLMRiskClassifier",
    "LevelAnswer",
    "ModelLevel",
    "PipelineState",
    "RiskVerdict",
    "Stage",
    "StageResult",
    "ToolGateAgentState",
    "ToolGateMiddleware",
    "ToolGateNode",
    "ToolGateRecord",
    "ToolGateState",
    "confirmation_level",
    "confirmation_policy",
    "create_approval_pipeline",
    "create_escalation_chain",
    "read_confidence",
    "tool_gate_condition",
]

_LAZY = {
    "HumanInTheLoopMiddleware": "hitl_middleware",
    "HumanInTheLoopState": "hitl_middleware",
    "ToolGateAgentState": "middleware",
    "ToolGateMiddleware": "middleware",
}
"""Names that need langchain, and the module each one lives in."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        try:
            module = import_module(f"{__name__}.{_LAZY[name]}")
        except ImportError as exc:
            msg = (
                f"langgraph_hitl.patterns.{name} needs langchain's create_agent: pip install "
                f'"langgraph-hitl[openai]" (or pip install langchain) ({exc}).'
            )
            raise ImportError(msg) from exc
        value = getattr(module, name)
        globals()[name] = value
        return value
    msg = f"module 'langgraph_hitl.patterns' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return __all__
