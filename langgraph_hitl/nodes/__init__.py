"""Graph nodes and edge conditions, in LangGraph's prebuilt style (`ToolNode` + `tools_condition`)."""

from __future__ import annotations

from .audit import AuditNode
from .execute import ExecuteNode, execute_condition
from .flow import FLOW_NODES, add_approval_flow
from .gate import ClassifyAndGateNode, risk_condition
from .review import ReviewNode, SecondReviewNode, review_condition
from .state import HITLDataclass, HITLModel, HITLState

__all__ = [
    "FLOW_NODES",
    "AuditNode",
    "ClassifyAndGateNode",
    "ExecuteNode",
    "HITLDataclass",
    "HITLModel",
    "HITLState",
    "ReviewNode",
    "SecondReviewNode",
    "add_approval_flow",
    "execute_condition",
    "review_condition",
    "risk_condition",
]
