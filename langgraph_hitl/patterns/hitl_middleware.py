"""`HumanInTheLoopMiddleware`: a drop-in for langchain's, with this package's gate underneath.

Swap one import and keep your `interrupt_on`, your clients and your tests:

```python
# from langchain.agents.middleware import HumanInTheLoopMiddleware
from langgraph_hitl.patterns import HumanInTheLoopMiddleware
```

By default it behaves as langchain 1.4.7's middleware does (the constructor, the interrupt values,
descriptions, the `ToolMessage` texts the model reads, `after_model`'s output, `ValueError` on
an answer that breaks the rules, `interrupt_mode="per_call"`), and every decision still goes
through this package: it is checked against the question, attributed to the person the run's
config names (`Approvals`, or LangGraph Server's `langgraph_auth_user_id`; `anonymous` when
nobody is named), bound to the exact call by a receipt, and written to the audit trail, so
`Approvals` can drive the agent. Differences that remain, and why:

- an invalid answer is refused *before* LangGraph saves it: `invoke` raises a
  `pydantic.ValidationError` (a `ValueError`) carrying langchain's message, and the same question
  stays answerable (langchain raises after saving it, which wedges the thread);
- `wrap_tool_call` runs only calls its own sealed record clears, and only the call it reviewed:
  an edit or approval planted in state does not run, a call changed in state after its review
  (`update_state` keeping its ids) is asked about afresh, and calls sharing one tool-call id do
  not run when any of them is gated (their results and approvals could not be told apart);
- an edit may not write a call its own `interrupt_on` entry forbids approving (e.g. a tool that
  allows only `reject`): the answer is refused like any other invalid one;
- a question that needs more than one answer (a policy's second approver, an edit the policy
  gates more strictly) is asked again per call, in the tools step.

Options make it stricter: `policy=` (gate unlisted tools, deny, verify phrases, named and
distinct approvers), `require_approver=True`, `approvers=[...]`, `unlisted="review"`,
`on_invalid="ask_again"` (record the refusal and ask again instead of raising).
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal, cast, get_args

from langchain.agents.middleware.human_in_the_loop import (
    Action,
    ActionRequest,
    Decision,
    DecisionType,
    HITLRequest,
    HITLResponse,
    InterruptMode,
    InterruptOnConfig,
    ReviewConfig,
    ToolApprovalRequest,
)
from langchain.agents.middleware.types import AgentMiddleware, AgentState, PrivateStateAttr, ToolCallRequest
from langgraph.prebuilt.tool_node import ToolRuntime
from langgraph.runtime import Runtime
from typing_extensions import NotRequired

from ..errors import PolicyError
from ..nodes._common import run_config
from ..policy import Policy
from ..types import AuditEvent, DecisionRecord
from ._hitl_answers import Asker
from ._hitl_tools import ToolStep, context_of, deny_shared_ids, notice, with_update
from ._interrupt_on import (
    ANONYMOUS,
    EDIT_NOTICE,
    InterruptOnPolicy,
    answer_message,
    describe,
    gate,
    resolve_interrupt_on,
)
from ._toolcalls import ToolGateRecord, ToolReviewCore, last_ai_message, turn_key

__all__ = [
    "Action",
    "ActionRequest",
    "Decision",
    "DecisionType",
    "EDIT_NOTICE",
    "HITLRequest",
    "HITLResponse",
    "HumanInTheLoopMiddleware",
    "HumanInTheLoopState",
    "InterruptMode",
    "InterruptOnConfig",
    "OnInvalid",
    "ReviewConfig",
    "ToolApprovalRequest",
    "Unlisted",
]

OnInvalid = Literal["raise", "ask_again"]
"""What an answer that breaks the question's rules gets.

- `raise` (langchain's): `invoke` raises a `pydantic.ValidationError` (a `ValueError`) with the
  reason; the answer is not saved and the question stays open for a valid one.
- `ask_again` (this package's): the refusal is recorded (`decisions`, audit) and the question is
  asked again with the reason in `hitl.context.refused`; after `max_asks` the calls are rejected.
  An answer from someone who may not decide, an answer that names an `approver` (whether or not
  it is the sender) and an edit its tool's gate forbids are still refused with an error: such an
  answer cannot be asked again soundly, since LangGraph replays earlier answers of a node under
  the resumer's identity (a forged name would count as that person's approval).
"""

Unlisted = Literal["run", "review"]
"""What tools missing from `interrupt_on` get (a policy, when given, still gates them).

- `run` (langchain's): they run without review.
- `review` (fail closed): they are reviewed with all four decisions; tools set to `False` still run.
"""


class HumanInTheLoopState(AgentState[Any]):
    """`create_agent`'s state plus the middleware's keys, all private (absent from `invoke`'s output)."""

    tool_gate: NotRequired[Annotated[ToolGateRecord, PrivateStateAttr]]
    """The record of the last reviewed turn: each call's gate, state and receipts."""
    decisions: NotRequired[Annotated[list[DecisionRecord], PrivateStateAttr, operator.add]]
    """Every answer received, refused ones included."""
    audit_trail: NotRequired[Annotated[list[AuditEvent], PrivateStateAttr, operator.add]]
    """Audit events, sealed; `Approvals` writes them to its audit log."""


def _check_option(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        msg = f"{name}={value!r}; use {' or '.join(map(repr, allowed))}."
        raise PolicyError(msg)


class HumanInTheLoopMiddleware(ToolStep, AgentMiddleware[HumanInTheLoopState, Any, Any]):
    """Pause the agent so a person reviews tool calls before they run: langchain's middleware, audited.

    Args:
        interrupt_on: Tool name -> `True` (all four decisions), `False` (runs), or an
            `InterruptOnConfig` with `allowed_decisions`, an optional `description` (text, or
            `(tool_call, state, runtime) -> str`) and an optional `when(request) -> bool`.
        description_prefix: Starts the default description (`"{prefix}\\n\\nTool: ...\\nArgs: ..."`).
        edit_notice: Prepended to an edited call's result, naming the call that ran; None adds nothing.
        interrupt_mode: `batched` (one question per model turn) or `per_call` (one per gated call,
            with a typed `response_schema`).
        policy: A `Policy` layered on `interrupt_on`; it can only make a gate stricter.
        approvers: Who may decide every gated call (anonymous answers then never qualify).
        require_approver: Refuse answers when the run's config names nobody.
        on_invalid: `raise` or `ask_again`; see `OnInvalid`.
        unlisted: `run` or `review`; see `Unlisted`.
        requested_by: Who proposes the calls (may never approve them).
        timeout: Seconds a reviewer has (`Approvals.expire_overdue` rejects after that).
        max_asks: With `ask_again`, questions per turn before the calls are rejected.
        trust_answer_identity: Development only: take the decider from the answer's `approver`.

    Raises:
        ValueError: A bad `interrupt_on` entry or `interrupt_mode` (langchain's messages).
        PolicyError: A bad option of this package's.

    Example:
        ```python
        agent = create_agent(model, [send_email, search], checkpointer=saver,
                             middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})])
        out = agent.invoke({"messages": [("user", "Email Bob")]}, config)
        agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config)
        ```
    """

    state_schema = HumanInTheLoopState

    def __init__(
        self,
        interrupt_on: dict[str, bool | InterruptOnConfig],
        *,
        description_prefix: str = "Tool execution requires approval",
        edit_notice: str | None = EDIT_NOTICE,
        interrupt_mode: InterruptMode = "batched",
        policy: Policy | None = None,
        approvers: Sequence[str] | None = None,
        require_approver: bool = False,
        on_invalid: OnInvalid = "raise",
        unlisted: Unlisted = "run",
        requested_by: str = "agent",
        timeout: float | None = None,
        max_asks: int = 10,
        trust_answer_identity: bool = False,
    ) -> None:
        super().__init__()
        if interrupt_mode not in (modes := get_args(InterruptMode)):
            allowed = " or ".join(repr(mode) for mode in modes)
            msg = f"`interrupt_mode` must be {allowed}, got {interrupt_mode!r}."
            raise ValueError(msg)
        self.interrupt_mode = interrupt_mode
        self.edit_notice = edit_notice
        self.interrupt_on, off = resolve_interrupt_on(interrupt_on)
        self.description_prefix = description_prefix
        _check_option("on_invalid", on_invalid, get_args(OnInvalid))
        _check_option("unlisted", unlisted, get_args(Unlisted))
        if policy is not None and not isinstance(policy, Policy):
            msg = f"policy must be a Policy, got {type(policy).__name__}."
            raise PolicyError(msg)
        if not isinstance(max_asks, int) or max_asks < 1:
            msg = f"max_asks={max_asks!r}; use a positive whole number (default 10)."
            raise PolicyError(msg)
        self.on_invalid = on_invalid
        self.max_asks = max_asks if on_invalid == "ask_again" else 1
        self.gates = InterruptOnPolicy(
            interrupt_on=self.interrupt_on,
            off=frozenset(off),
            review_unlisted=unlisted == "review",
            layered=policy,
        )
        self.core = ToolReviewCore(
            self.gates,
            name=self.name,
            approvers=approvers,
            timeout=timeout,
            requested_by=requested_by,
            describe=lambda call, assessment: describe(call, assessment, self.description_prefix),
            trust_answer_identity=trust_answer_identity,
            anonymous=None if require_approver else ANONYMOUS,
            force_reject=False,
            reply=answer_message,
        )
        self.asker = Asker(self.core, raise_invalid=on_invalid == "raise", max_asks=self.max_asks)

    # -- which calls are gated, and how --------------------------------------------------------------------

    def _when_request(self, call: Any, state: Any, runtime: Any) -> ToolCallRequest:
        """The request langchain's `when` gets in `after_model`: no tool, a fresh `ToolRuntime`."""
        tool_runtime = ToolRuntime(
            state=state,
            context=getattr(runtime, "context", None),
            config=run_config() or {},
            stream_writer=cast(Any, getattr(runtime, "stream_writer", None)),
            tool_call_id=call.get("id"),
            store=getattr(runtime, "store", None),
            execution_info=getattr(runtime, "execution_info", None),
            server_info=getattr(runtime, "server_info", None),
        )
        return ToolCallRequest(tool_call=call, tool=None, state=state, runtime=tool_runtime)

    def _gate(self, call: Any, state: Any, runtime: Any, request: ToolCallRequest | None = None) -> Any:
        """The call's gate: its `interrupt_on` entry after `when`, layered with the policy; described."""
        config = self.gates.config_for(call["name"])
        when = config.get("when") if config is not None else None
        if when is not None and not when(request or self._when_request(call, state, runtime)):
            config = None
        assessed: dict[str, Any] = dict(gate(call["name"], call["args"], config, self.gates.layered))
        description = config.get("description") if config is not None else None
        if assessed["mode"] in ("soft", "hard", "verify") and description is not None:
            assessed["description"] = (
                description(call, state, runtime) if callable(description) else description
            )
        return assessed

    # -- batched: one question per model turn ----------------------------------------------------------------

    def after_model(self, state: HumanInTheLoopState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Ask about the last turn's gated calls (once) and apply the answer.

        Returns None when nothing needs a person, else the turn's `AIMessage` (unchanged: the
        model's own calls stay in it), a `ToolMessage` per rejected, answered or denied call, and
        the private record, decisions and audit events.
        """
        if self.interrupt_mode == "per_call":
            return None
        messages = state["messages"]
        ai = last_ai_message(messages) if messages else None
        if ai is None or not ai.tool_calls:
            return None
        record = state.get("tool_gate")
        if record is not None and record["key"] == turn_key(ai):
            return None  # asked already; what is left is asked per call, in the tools step
        config, context = run_config(), context_of(messages)
        gates = iter(deny_shared_ids(ai.tool_calls, [self._gate(c, state, runtime) for c in ai.tool_calls]))
        record, denied, events = self.core.assess_turn(
            ai,
            requester=self.core.requested_by,
            config=config,
            context=context,
            assess=lambda _call: next(gates),  # assess_turn takes the turn's calls in order
        )
        if record["status"] != "pending" and not denied:
            return None
        record, replies, decisions, more = self.asker.ask(record, config=config, context=context)
        order = {c["id"]: i for i, c in enumerate(ai.tool_calls)}
        answered = sorted([*denied, *replies], key=lambda m: order.get(getattr(m, "tool_call_id", None), 0))
        return {
            "messages": [ai, *answered],
            "tool_gate": record,
            "decisions": decisions,
            "audit_trail": [*events, *more],
        }

    async def aafter_model(self, state: HumanInTheLoopState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async twin of `after_model`."""
        return self.after_model(state, runtime)

    # -- the hooks ---------------------------------------------------------------------------------------

    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Any]) -> Any:
        """Run a call only once its review clears it; ask first when it has not been asked about."""
        prepared = self._prepare(request)
        if not isinstance(prepared, tuple):
            return prepared
        to_run, executed, update = prepared
        result = notice(handler(to_run), to_run.tool_call.get("id"), executed, self.edit_notice)
        return with_update(result, update)

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[Any]]
    ) -> Any:
        """Async twin of `wrap_tool_call`."""
        prepared = self._prepare(request)
        if not isinstance(prepared, tuple):
            return prepared
        to_run, executed, update = prepared
        result = notice(await handler(to_run), to_run.tool_call.get("id"), executed, self.edit_notice)
        return with_update(result, update)
