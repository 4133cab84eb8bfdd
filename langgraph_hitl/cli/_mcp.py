"""`langgraph-hitl mcp`: the inbox as an MCP server on stdio (see `langgraph_hitl.mcp_server`)."""

from __future__ import annotations

import typer

from ._base import (
    ApproverOption,
    DbOption,
    GraphOption,
    WebhookSecretOption,
    WebhookUrlOption,
    app,
    command,
    settings_of,
)
from ._errors import CLIError, ExitCode

__all__ = ["mcp"]


@app.command()
@command
def mcp(
    ctx: typer.Context,
    approver: ApproverOption,
    db: DbOption = None,
    graph: GraphOption = None,
    webhook_url: WebhookUrlOption = None,
    webhook_secret: WebhookSecretOption = None,
) -> None:
    """Serve the inbox to an MCP client over stdio, deciding as --as (needs the [mcp] extra).

    Tools list_pending, show_request and decide; resources hitl://audit and
    hitl://audit/{thread_id}. Every decision is made as the --as identity; no tool argument
    changes it. Without --graph the tools can read but not decide.
    """
    settings = settings_of(ctx, db, graph, webhook_url=webhook_url, webhook_secret=webhook_secret)
    try:
        from ..mcp_server import serve_stdio
    except ImportError as exc:
        msg = f"The MCP server is not available: {exc}."
        raise CLIError(
            msg, code=ExitCode.ERROR, hint='Install it: pip install "langgraph-hitl[mcp]".'
        ) from None
    serve_stdio(settings, identity=approver)
