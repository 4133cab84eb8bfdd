"""The commands that resume graphs: `approve`, `reject`, `edit`, `respond`, `expire`, `recover`, `serve`.

They go through `Approvals`, so every check the runner makes (allowed type, approver,
four-eyes, confirmation phrase, one winner) applies here too. The request is looked up in
the store first, so an unknown or decided request fails fast, before the graph is imported.
`--thread T` instead of a request id decides the one request thread T waits on, by the rules
of `Approvals.resume` (several need `--interrupt-id`), through the same path.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ._answer import AnswerOptions
from ._base import (
    AllOption,
    ApproverOption,
    ArgsOption,
    CallOption,
    DbOption,
    GraphOption,
    InterruptIdOption,
    JsonOption,
    MessageOption,
    RequestArg,
    ThreadOption,
    VerifyOption,
    WebhookSecretOption,
    WebhookUrlOption,
    app,
    command,
    settings_of,
)
from ._common import open_db
from ._decide import open_runner, run_decision
from ._errors import CLIError, ExitCode
from ._notifier import build_notifier, close_notifier, open_notifier
from ._render import SHORT, console, print_json, text
from ._settings import graph_from_spec

__all__ = ["approve", "edit", "expire", "recover", "reject", "respond", "serve"]


@app.command()
@command
def approve(
    ctx: typer.Context,
    approver: ApproverOption,
    request: RequestArg = None,
    thread: ThreadOption = None,
    interrupt_id: InterruptIdOption = None,
    all_calls: AllOption = False,
    call: CallOption = None,
    verify: VerifyOption = None,
    args: ArgsOption = None,
    message: MessageOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
    webhook_url: WebhookUrlOption = None,
    webhook_secret: WebhookSecretOption = None,
) -> None:
    """Approve a request and resume its thread (needs --graph).

    A request with several tool calls takes --all, or one --call ID=TYPE per call.
    """
    opts = AnswerOptions("approve", all_calls, call or (), verify or (), args or (), message)
    settings = settings_of(ctx, db, graph, webhook_url=webhook_url, webhook_secret=webhook_secret)
    run_decision(settings, request, approver, opts, thread=thread, interrupt_id=interrupt_id, as_json=as_json)


@app.command()
@command
def reject(
    ctx: typer.Context,
    approver: ApproverOption,
    request: RequestArg = None,
    thread: ThreadOption = None,
    interrupt_id: InterruptIdOption = None,
    all_calls: AllOption = False,
    call: CallOption = None,
    verify: VerifyOption = None,
    args: ArgsOption = None,
    message: MessageOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
    webhook_url: WebhookUrlOption = None,
    webhook_secret: WebhookSecretOption = None,
) -> None:
    """Reject a request and resume its thread (needs --graph).

    A request with several tool calls takes --all, or one --call ID=TYPE per call.
    """
    opts = AnswerOptions("reject", all_calls, call or (), verify or (), args or (), message)
    settings = settings_of(ctx, db, graph, webhook_url=webhook_url, webhook_secret=webhook_secret)
    run_decision(settings, request, approver, opts, thread=thread, interrupt_id=interrupt_id, as_json=as_json)


@app.command()
@command
def edit(
    ctx: typer.Context,
    approver: ApproverOption,
    request: RequestArg = None,
    thread: ThreadOption = None,
    interrupt_id: InterruptIdOption = None,
    args: ArgsOption = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="ACTION",
            show_default=False,
            help="A different action name (default: the same action; a request with one call only).",
        ),
    ] = None,
    all_calls: AllOption = False,
    call: CallOption = None,
    verify: VerifyOption = None,
    message: MessageOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
    webhook_url: WebhookUrlOption = None,
    webhook_secret: WebhookSecretOption = None,
) -> None:
    """Approve with edited arguments and resume (needs --graph).

    The edited action is re-assessed by the policy; an edit cannot lower the gate it went through.
    """
    opts = AnswerOptions("edit", all_calls, call or (), verify or (), args or (), message, name)
    settings = settings_of(ctx, db, graph, webhook_url=webhook_url, webhook_secret=webhook_secret)
    run_decision(settings, request, approver, opts, thread=thread, interrupt_id=interrupt_id, as_json=as_json)


@app.command()
@command
def respond(
    ctx: typer.Context,
    approver: ApproverOption,
    message: Annotated[
        str,
        typer.Option(
            "--message",
            "-m",
            metavar="TEXT",
            show_default=False,
            help="Guidance for the agent instead of a verdict.",
        ),
    ],
    request: RequestArg = None,
    thread: ThreadOption = None,
    interrupt_id: InterruptIdOption = None,
    all_calls: AllOption = False,
    call: CallOption = None,
    verify: VerifyOption = None,
    args: ArgsOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
    webhook_url: WebhookUrlOption = None,
    webhook_secret: WebhookSecretOption = None,
) -> None:
    """Answer with a message instead of a verdict (needs --graph)."""
    opts = AnswerOptions("respond", all_calls, call or (), verify or (), args or (), message)
    settings = settings_of(ctx, db, graph, webhook_url=webhook_url, webhook_secret=webhook_secret)
    run_decision(settings, request, approver, opts, thread=thread, interrupt_id=interrupt_id, as_json=as_json)


@app.command()
@command
def expire(
    ctx: typer.Context,
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
    webhook_url: WebhookUrlOption = None,
    webhook_secret: WebhookSecretOption = None,
) -> None:
    """Resolve overdue requests with their on_timeout (needs --graph).

    The default on_timeout is reject (fail closed). Safe to run from cron and from several hosts.
    """
    settings = settings_of(ctx, db, graph, webhook_url=webhook_url, webhook_secret=webhook_secret)
    settings.require_graph("expire")
    with open_db(settings) as store:
        overdue = bool(store.inbox.overdue(store.clock(), limit=1))
    expired: list[str] = []
    if overdue:  # only then is the graph worth importing
        with open_notifier(settings) as notifier, open_runner(settings, "expire", notifier) as hitl:
            expired = hitl.expire_overdue()
    if as_json:
        print_json({"expired": expired})
        return
    if not expired:
        console().print("No overdue requests.")
        return
    console().print(
        f"Expired {len(expired)} overdue request(s): {', '.join(r[:SHORT] for r in expired)}", highlight=False
    )


@app.command()
@command
def recover(
    ctx: typer.Context,
    older_than: Annotated[
        float,
        typer.Option(
            "--older-than",
            min=0,
            metavar="SECONDS",
            help="Leave claims younger than this to the process holding them.",
        ),
    ] = 30.0,
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
    webhook_url: WebhookUrlOption = None,
    webhook_secret: WebhookSecretOption = None,
) -> None:
    """Finish what a crash interrupted (needs --graph).

    Re-drives decided requests the graph never received, continues runs, re-indexes threads.
    """
    settings = settings_of(ctx, db, graph, webhook_url=webhook_url, webhook_secret=webhook_secret)
    with open_notifier(settings) as notifier, open_runner(settings, "recover", notifier) as hitl:
        report = hitl.recover(older_than=older_than)
    data = {
        "redriven": report.redriven,
        "already_resumed": report.already_resumed,
        "continued": report.continued,
        "reindexed": report.reindexed,
    }
    if as_json:
        print_json(data)
        return
    if not any(data.values()):
        console().print("Nothing to recover.")
        return
    for key, items in data.items():
        if items:
            console().print(text(f"{key.replace('_', ' ')}: {', '.join(items)}"))


@app.command()
@command
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(metavar="HOST", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, metavar="PORT", help="Port to listen on.")] = 8000,
    approvers: Annotated[
        str | None,
        typer.Option(
            "--approvers",
            metavar="FILE",
            show_default=False,
            help="Who may sign in: a file of 'alice:<token>' lines. Default: the file named by $HITL_WEB_TOKENS.",
        ),
    ] = None,
    db: DbOption = None,
    graph: GraphOption = None,
    webhook_url: WebhookUrlOption = None,
    webhook_secret: WebhookSecretOption = None,
    slack_users: Annotated[
        str | None,
        typer.Option(
            "--slack-users",
            metavar="FILE",
            show_default=False,
            help="Answer Slack's Approve/Reject buttons at /slack/interactions as these people: a file of "
            "'U0123ABCD = alice' lines. Default: $HITL_SLACK_USERS. The app's secrets come from "
            "$HITL_SLACK_SIGNING_SECRET and $HITL_SLACK_BOT_TOKEN.",
        ),
    ] = None,
    mcp: Annotated[
        bool,
        typer.Option(
            "--mcp",
            help="Also serve the tools of `langgraph-hitl mcp` at /mcp (MCP streamable HTTP, needs the [mcp] "
            "extra), each request deciding as the approver its bearer token names.",
        ),
    ] = False,
    mcp_hosts: Annotated[
        list[str] | None,
        typer.Option(
            "--mcp-host",
            metavar="NAME",
            show_default=False,
            help="A Host name MCP clients reach this server by, besides loopback and --host (repeatable; "
            "implies --mcp); '*' leaves the Host/Origin check to a proxy in front.",
        ),
    ] = None,
    operators: Annotated[
        str | None,
        typer.Option(
            "--operators",
            metavar="NAME,...",
            show_default=False,
            help="Approvers who may halt and lift halts on the Operations page (comma-separated). "
            "Default: nobody.",
        ),
    ] = None,
) -> None:
    """Start the web inbox (needs the [web] extra).

    With --graph it can decide requests, not only list them; with a webhook it announces them;
    with --slack-users (and the [slack] extra) it answers the buttons of Slack review messages;
    with --mcp (and the [mcp] extra) it serves MCP clients at /mcp, behind the approvers' tokens.
    """
    settings = settings_of(ctx, db, graph, webhook_url=webhook_url, webhook_secret=webhook_secret)
    try:
        import uvicorn

        from ..web import create_app
    except ImportError as exc:
        msg = f"The web inbox is not available: {exc}."
        raise CLIError(
            msg, code=ExitCode.ERROR, hint='Install it: pip install "langgraph-hitl[web]".'
        ) from None
    slack = _slack_settings(slack_users)
    mcp_option = _mcp_option(mcp, mcp_hosts, host)
    loaded = graph_from_spec(settings.graph) if settings.graph else None
    notifier = build_notifier(settings)
    try:
        try:
            web_app = create_app(
                db=settings.require_database(),
                graph=loaded,
                approvers=approvers,
                hmac_key=settings.audit_key,
                notifier=notifier,
                slack=slack,
                mcp=mcp_option,
                operators=[n for n in operators.split(",") if n.strip()] if operators is not None else None,
            )
        except ValueError as exc:
            hint = (
                "Pass --approvers tokens.txt (one 'alice:<token>' line per reviewer), or set HITL_WEB_TOKENS."
            )
            raise CLIError(str(exc), code=ExitCode.USAGE, hint=hint) from None
        uvicorn.run(web_app, host=host, port=port)
    finally:
        if notifier is not None:
            close_notifier(notifier)


def _mcp_option(on: bool, names: list[str] | None, host: str) -> bool | list[str]:
    """`create_app(mcp=...)`: False, or the Host names beyond loopback (--mcp-host, and --host unless a wildcard)."""
    if not on and not names:
        return False
    try:
        import mcp.server.streamable_http_manager  # noqa: F401

        from ..web.mcp_http import allowed_hosts
    except ImportError as exc:
        msg = f"The MCP endpoint is not available: {exc}."
        hint = 'Install it: pip install "langgraph-hitl[mcp]".'
        raise CLIError(msg, code=ExitCode.ERROR, hint=hint) from None
    extra = [*(names or []), *([host] if host not in ("0.0.0.0", "::", "") else [])]
    try:
        allowed_hosts(extra)
    except ValueError as exc:
        raise CLIError(str(exc), code=ExitCode.USAGE, hint="Pass --mcp-host inbox.example.com.") from None
    return extra or True


def _slack_settings(users_file: str | None) -> Any:
    """The Slack app's settings from --slack-users and the environment, or None (Slack off)."""
    from ..web.slack import SlackSettings

    try:
        return SlackSettings.from_env(users_file)
    except ValueError as exc:
        hint = (
            "Set HITL_SLACK_SIGNING_SECRET and HITL_SLACK_BOT_TOKEN to the Slack app's signing secret and "
            "bot token, and list people as 'U0123ABCD = alice' lines in the users file."
        )
        raise CLIError(str(exc), code=ExitCode.USAGE, hint=hint) from None


from . import _mcp  # noqa: E402,F401  (registers mcp, the inbox as an MCP server)
