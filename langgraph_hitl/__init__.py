"""langgraph-hitl: prebuilt human-in-the-loop approval for LangGraph.

Nodes (`ClassifyAndGateNode`, `ReviewNode`, `SecondReviewNode`, `ExecuteNode`, `AuditNode`)
pause with `interrupt()` and resume with `Command(resume=...)`; `Policy` decides which
actions need a person; `Approvals` drives paused runs safely through a durable inbox.

Names are imported on first use, so `import langgraph_hitl` is cheap and pulls in neither
LangGraph nor any optional extra until you touch a name that needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # errors
    "AuditIntegrityError": "errors",
    "AuthorizationError": "errors",
    "CheckpointerError": "errors",
    "ConflictError": "errors",
    "DecisionError": "errors",
    "HITLError": "errors",
    "NotPendingError": "errors",
    "PolicyError": "errors",
    "ThreadStateError": "errors",
    "HaltedError": "errors",
    "ReversalError": "approvals.reversal_parts",
    "AuditEventError": "store.audit_events",
    "FeedbackError": "store.feedback",
    "ForwardError": "store.feedback",
    "PruneError": "store.retention",
    "PolicyFileError": "policy_files",
    "GraphSpecError": "graphspec",
    "LinkError": "notify.links",
    "NotifierConfigError": "notify.base",
    "ReceiptError": "receipts",
    "SignatureError": "notify.signing",
    # payloads
    "ActionRequest": "types",
    "Assessment": "types",
    "AuditEvent": "types",
    "Decision": "types",
    "DecisionRecord": "types",
    "GateMode": "types",
    "ReviewRequest": "types",
    "Reversibility": "types",
    "Risk": "types",
    # policy
    "ConfidenceBands": "policy",
    "Policy": "policy",
    "Requirement": "policy",
    "Rule": "policy",
    "RubberStampRule": "rubber_stamp",
    "CedarEngine": "policy_engine",
    "with_engine": "policy_engine",
    # nodes
    "AuditNode": "nodes",
    "ClassifyAndGateNode": "nodes",
    "ExecuteNode": "nodes",
    "Handler": "nodes.handlers",
    "HITLState": "nodes",
    "HITLModel": "nodes",
    "HITLDataclass": "nodes",
    "ReviewNode": "nodes",
    "SecondReviewNode": "nodes",
    "add_approval_flow": "nodes",
    "review_condition": "nodes",
    "execute_condition": "nodes",
    "risk_condition": "nodes",
    # storage and runner
    "aopen_checkpointer": "checkpoint",
    "open_checkpointer": "checkpoint",
    "AuditLog": "store",
    "Store": "store",
    "open_store": "store",
    "Approvals": "approvals",
    "AsyncApprovals": "approvals",
    "PendingRequest": "approvals",
    "RunResult": "approvals",
    "RunStream": "approvals",
    "AsyncRunStream": "approvals",
    # patterns
    "Stage": "patterns",
    "create_approval_pipeline": "patterns",
    "PipelineState": "patterns",
    "ToolGateNode": "patterns",
    "tool_gate_condition": "patterns",
    "ToolGateState": "patterns",
    "ToolGateMiddleware": "patterns",
    "ModelLevel": "patterns",
    "HumanLevel": "patterns",
    "create_escalation_chain": "patterns",
    "EscalationState": "patterns",
    "LLMRiskClassifier": "patterns",
    "read_confidence": "patterns",
    "confirmation_policy": "patterns",
    "confirmation_level": "patterns",
}

__all__ = [
    "ActionRequest",
    "Approvals",
    "Assessment",
    "AsyncApprovals",
    "AsyncRunStream",
    "AuditEvent",
    "AuditEventError",
    "AuditIntegrityError",
    "AuditLog",
    "AuditNode",
    "AuthorizationError",
    "CedarEngine",
    "CheckpointerError",
    "ClassifyAndGateNode",
    "ConfidenceBands",
    "ConflictError",
    "Decision",
    "DecisionError",
    "DecisionRecord",
    "EscalationState",
    "ExecuteNode",
    "FeedbackError",
    "ForwardError",
    "GateMode",
    "GraphSpecError",
    "HITLDataclass",
    "HITLError",
    "HITLModel",
    "HITLState",
    "HaltedError",
    "Handler",
    "HumanLevel",
    "LLMRiskClassifier",
    "LinkError",
    "ModelLevel",
    "NotPendingError",
    "NotifierConfigError",
    "PendingRequest",
    "PipelineState",
    "Policy",
    "PolicyError",
    "PolicyFileError",
    "PruneError",
    "ReceiptError",
    "Requirement",
    "ReversalError",
    "Reversibility",
    "ReviewNode",
    "ReviewRequest",
    "Risk",
    "RubberStampRule",
    "Rule",
    "RunResult",
    "RunStream",
    "SecondReviewNode",
    "SignatureError",
    "Stage",
    "Store",
    "ThreadStateError",
    "ToolGateMiddleware",
    "ToolGateNode",
    "ToolGateState",
    "__version__",
    "add_approval_flow",
    "aopen_checkpointer",
    "confirmation_level",
    "confirmation_policy",
    "create_approval_pipeline",
    "create_escalation_chain",
    "execute_condition",
    "open_checkpointer",
    "open_store",
    "read_confidence",
    "review_condition",
    "risk_condition",
    "tool_gate_condition",
    "with_engine",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'langgraph_hitl' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .approvals import Approvals, AsyncApprovals, AsyncRunStream, PendingRequest, RunResult, RunStream
    from .approvals.reversal_parts import ReversalError
    from .checkpoint import aopen_checkpointer, open_checkpointer
    from .errors import (
        AuditIntegrityError,
        AuthorizationError,
        CheckpointerError,
        ConflictError,
        DecisionError,
        HaltedError,
        HITLError,
        NotPendingError,
        PolicyError,
        ThreadStateError,
    )
    from .graphspec import GraphSpecError
    from .nodes import (
        AuditNode,
        ClassifyAndGateNode,
        ExecuteNode,
        HITLDataclass,
        HITLModel,
        HITLState,
        ReviewNode,
        SecondReviewNode,
        add_approval_flow,
        execute_condition,
        review_condition,
        risk_condition,
    )
    from .nodes.handlers import Handler
    from .notify.base import NotifierConfigError
    from .notify.links import LinkError
    from .notify.signing import SignatureError
    from .patterns import (
        EscalationState,
        HumanLevel,
        LLMRiskClassifier,
        ModelLevel,
        PipelineState,
        Stage,
        ToolGateMiddleware,
        ToolGateNode,
        ToolGateState,
        confirmation_level,
        confirmation_policy,
        create_approval_pipeline,
        create_escalation_chain,
        read_confidence,
        tool_gate_condition,
    )
    from .policy import ConfidenceBands, Policy, Requirement, Rule
    from .policy_engine import CedarEngine, with_engine
    from .policy_files import PolicyFileError
    from .receipts import ReceiptError
    from .rubber_stamp import RubberStampRule
    from .store import AuditLog, Store, open_store
    from .store.audit_events import AuditEventError
    from .store.feedback import FeedbackError, ForwardError
    from .store.retention import PruneError
    from .types import (
        ActionRequest,
        Assessment,
        AuditEvent,
        Decision,
        DecisionRecord,
        GateMode,
        Reversibility,
        ReviewRequest,
        Risk,
    )
