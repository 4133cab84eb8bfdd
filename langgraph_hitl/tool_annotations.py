"""MCP tool annotations as reversibility hints: defaults for tools a policy does not list.

An MCP server describes each tool with four optional hints (`readOnlyHint`,
`destructiveHint`, `idempotentHint`, `openWorldHint`). `policy_with_tool_annotations(policy,
tools)` turns them into reversibility classes and gives back a `Policy` that gates by them
where the policy is silent, and that the policy can only make stricter:

| readOnlyHint | destructiveHint | idempotentHint | openWorldHint | class (gate) |
|---|---|---|---|---|
| `true` | - | - | `false` | `fully_reversible` (auto) |
| `true` | - | - | `true` or absent | `partially_reversible` (notify: a read of the open world can carry data out) |
| not `true` | `false` | `true` | `false` | `partially_reversible` (notify) |
| not `true` | `false` | `true` | `true` or absent | `irreversible_low` (soft) |
| not `true` | `false` | not `true` | any | `irreversible_low` (soft: additive, but not undone) |
| not `true` | `true` or absent | any | any | `irreversible_high` (hard) |
| no hint at all (no annotations, or none of the four is a bool) | | | | no class: the policy's `unknown` gate (hard or deny) |

Absent hints take the MCP specification's defaults (`destructiveHint` and `openWorldHint`
true, the others false), which are the strict ones. A hint counts only when it is a real
JSON boolean: `"true"`, `1` or `null` count as absent.

Annotations are **untrusted hints from a server**, so they never loosen what the policy
says: a tool the policy lists keeps the stricter of its listed class and its hinted class
(a server that calls `delete_record` read-only still gets `delete_record`'s gate; one that
calls a listed `search` destructive gets more review, the safe side), and the policy's rules,
confirmation phrases, requirements and confidence bands apply to every tool on top of the
class. Only a tool the policy does not list takes its class from the hints alone, and only
while the policy's `unknown` gate is the default `hard`: a policy with `unknown="verify"` or
`unknown="deny"` has said what unlisted tools get, and hints do not change it. To keep every
unlisted tool under review whatever its server claims, set `unknown="verify"`, or add a rule
such as `Rule("mcp-tools", actions="*", mode="soft")`.

Example:
    ```python
    from langgraph_hitl import Policy
    from langgraph_hitl.tool_annotations import policy_with_tool_annotations

    tools = {"search": {"readOnlyHint": True, "openWorldHint": False}, "drop_table": {"destructiveHint": True}}
    policy = policy_with_tool_annotations(Policy({"drop_table": "partially_reversible"}), tools)
    assert policy.assess({"name": "search", "args": {}})["mode"] == "auto"
    assert policy.assess({"name": "drop_table", "args": {}})["mode"] == "hard"
    assert policy.assess({"name": "other", "args": {}})["mode"] == "hard"  # no hints: unknown
    ```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import PolicyError
from .policy import Policy
from .types import Reversibility

__all__ = ["HINTS", "ORDER", "policy_with_tool_annotations", "reversibility_from_annotations"]

HINTS = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
"""The MCP tool annotations read here (camelCase as on the wire; snake_case attributes work too)."""

ORDER: dict[Reversibility, int] = {
    "fully_reversible": 0,
    "partially_reversible": 1,
    "irreversible_low": 2,
    "irreversible_high": 3,
}
"""Reversibility classes from the least to the most strictly gated."""


def _hint(annotations: Any, name: str) -> bool | None:
    """One hint as a bool, or None when it is absent or not a real bool."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    if isinstance(annotations, Mapping):
        value = annotations.get(name, annotations.get(snake))
    else:
        value = getattr(annotations, snake, getattr(annotations, name, None))
    return value if isinstance(value, bool) else None


def reversibility_from_annotations(annotations: Any) -> Reversibility | None:
    """The reversibility class a tool's MCP annotations hint at (the table in the module docstring).

    Args:
        annotations: An `mcp.types.ToolAnnotations`, a mapping with the hints' wire names
            (`{"readOnlyHint": True}`) or snake_case names, or None.

    Returns:
        The class, or None when there is no hint at all (the policy's `unknown` gate applies).

    Example:
        >>> reversibility_from_annotations({"readOnlyHint": True, "openWorldHint": False})
        'fully_reversible'
        >>> reversibility_from_annotations({"destructiveHint": False})
        'irreversible_low'
        >>> reversibility_from_annotations({"readOnlyHint": "true"}) is None
        True
    """
    if annotations is None:
        return None
    read_only, destructive, idempotent, open_world = (_hint(annotations, n) for n in HINTS)
    if read_only is None and destructive is None and idempotent is None and open_world is None:
        return None
    closed = open_world is False
    if read_only is True:
        return "fully_reversible" if closed else "partially_reversible"
    if destructive is not False:
        return "irreversible_high"
    if idempotent is True:
        return "partially_reversible" if closed else "irreversible_low"
    return "irreversible_low"


def _annotations_by_tool(tools: Any) -> dict[str, Any]:
    """`{name: annotations}` from a mapping, or from objects with `name` and `annotations` (MCP `Tool`s)."""
    if isinstance(tools, Mapping):
        items = list(tools.items())
    elif isinstance(tools, Iterable) and not isinstance(tools, (str, bytes)):
        items = []
        for tool in tools:
            name = tool.get("name") if isinstance(tool, Mapping) else getattr(tool, "name", None)
            notes = (
                tool.get("annotations") if isinstance(tool, Mapping) else getattr(tool, "annotations", None)
            )
            items.append((name, notes))
    else:
        msg = (
            f"tools must map tool names to their MCP annotations, or list MCP tools; got {type(tools).__name__}. "
            "Pass {name: annotations} or the tools of `await session.list_tools()`."
        )
        raise PolicyError(msg)
    out: dict[str, Any] = {}
    for name, notes in items:
        if not isinstance(name, str) or not name:
            msg = f"An MCP tool's name must be non-empty text, got {name!r}. Pass each tool with its name."
            raise PolicyError(msg)
        if name in out:
            msg = f"MCP tool {name!r} is given twice; tool names must be unique (two servers offering one name?)."
            raise PolicyError(msg)
        out[name] = notes
    return out


def policy_with_tool_annotations(policy: Policy, tools: Any) -> Policy:
    """`policy` with each tool's MCP annotations as a reversibility hint it can only make stricter.

    A tool the policy lists keeps the stricter of its listed class and its hinted one; a tool it
    does not list takes its hinted class (unless the policy's `unknown` gate is `verify` or
    `deny`, which hints never loosen); a tool without hints stays unknown. Rules, confirmation
    phrases, requirements and confidence bands are kept.

    Args:
        policy: The policy in force.
        tools: `{tool name: annotations}` (each an `mcp.types.ToolAnnotations`, a mapping of
            hints, or None), or MCP tools with `name` and `annotations` (what
            `ClientSession.list_tools()` returns in `.tools`).

    Returns:
        A new `Policy`; `policy` itself is unchanged.

    Raises:
        PolicyError: `policy` is not a `Policy`, or a tool has no name or appears twice.
    """
    if not isinstance(policy, Policy):
        msg = f"policy must be a Policy, got {type(policy).__name__}."
        raise PolicyError(msg)
    actions: dict[str, Reversibility] = dict(policy.actions)
    for name, notes in _annotations_by_tool(tools).items():
        hinted = reversibility_from_annotations(notes)
        if hinted is None:
            continue
        listed = actions.get(name)
        if listed is None and policy.unknown != "hard":
            continue  # the policy chose a stricter gate for whatever it does not list
        if listed is None or ORDER[hinted] > ORDER[listed]:
            actions[name] = hinted
    return dataclasses.replace(policy, actions=actions)
