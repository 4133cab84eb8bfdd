"""The commands that resume graphs: `approve`, `reject`, `edit`, `respond`, `expire`, `recover`, `serve`.

They go through `Approvals`, so every check the runner makes (allowed type, approver,
four-eyes, confirmation phrase, one winner) applies here too. The request is looked up in
the store first, so an unknown or decided request fails fast, before the graph is imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._base import (
    ApproverOption,
    DbOption,
    GraphOption,
    JsonOption,
    MessageOption,
    RequestArg,
    VerifyOption,
    app,
    command,
    settings_of,
)
from ._common import check_pending, find_request, open_db, usage_error
from ._errors import CLIError, ExitCode
from ._render import SHORT, console, print_json
from ._settings import Settings, load_graph

if TYPE_CHECKING:
    from ..approvals import Approvals, RunResult

__all__ = ["approve", "edit", "expire", "recover", "reject", "respond", "serve"]

_PAST = {"approve": "Approved", "reject": "Rejected", "edit": "Edited", "respond": "Responded to"}


@contextmanager
def _runner(settings: Settings, command_name: str) -> Iterator[Approvals]:
    spec = settings.require_graph(command_name)
    graph = load_graph(spec)
    from ..approvals import Approvals

    with Approvals.open(graph, settings.require_database(), hmac_key=settings.audit_key) as hitl:
        yield hitl


def _decide(
    ctx: typer.Context,
    kind: str,
    request: str,
    approver: str,
    decision: dict[str, Any],
    *,
    db: str | None,
    graph: str | None,
    as_json: bool,
) -> None:
    settings = settings_of(ctx, db, graph)
    settings.require_graph(kind)
    with open_db(settings) as store:
        row = find_request(store, request)
    check_pending(row)
    decision = {"type": kind, **{k: v for k, v in decision.items() if v is not None}}
    from ..errors import AuthorizationError, DecisionError

    with _runner(settings, kind) as hitl:
        try:
            result = hitl.decide(row.request_id, decision, approver=approver)
        except (DecisionError, AuthorizationError) as exc:
            code = ExitCode.UNAUTHORIZED if isinstance(exc, AuthorizationError) else ExitCode.REFUSED
            hint = (
                f"Request {row.request_id[:SHORT]} is still pending; `langgraph-hitl show "
                f"{row.request_id[:SHORT]}` shows its approvers, allowed decisions and confirmation phrase."
            )
            raise CLIError(str(exc), code=code, hint=hint) from exc
    if as_json:
        print_json({"request_id": row.request_id, "decision": decision, **_result_dict(result)})
        return
    out = console()
    out.print(f"{_PAST[kind]} {row.request_id[:SHORT]} as {approver}.", highlight=False, markup=False)
    _print_result(out, result)


def _result_dict(result: RunResult) -> dict[str, Any]:
    return {
        "thread_id": result.thread_id,
        "status": result.status,
        "pending": [p.to_dict() for p in result.pending],
        "values": result.values,
    }


def _print_result(out: Any, result: RunResult) -> None:
    status = result.values.get("status")
    detail = f" (status: {status})" if status else ""
    out.print(f"Thread {result.thread_id}: {result.status}{detail}.", highlight=False, markup=False)
    if result.pending:
        out.print("It waits for:", highlight=False)
        for p in result.pending:
            out.print(
                f"  {p.request_id[:SHORT]}  {p.action['name']}  risk {p.risk}  approvers "
                f"{', '.join(p.approvers) if p.approvers else 'anyone'}",
                highlight=False,
                markup=False,
            )


@app.command()
@command
def approve(
    ctx: typer.Context,
    request: RequestArg,
    approver: ApproverOption,
    message: MessageOption = None,
    verify: VerifyOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
) -> None:
    """Approve a request and resume its thread (needs --graph)."""
    _decide(
        ctx,
        "approve",
        request,
        approver,
        {"message": message, "verify": verify},
        db=db,
        graph=graph,
        as_json=as_json,
    )


@app.command()
@command
def reject(
    ctx: typer.Context,
    request: RequestArg,
    approver: ApproverOption,
    message: MessageOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
) -> None:
    """Reject a request and resume its thread (needs --graph)."""
    _decide(ctx, "reject", request, approver, {"message": message}, db=db, graph=graph, as_json=as_json)


@app.command()
@command
def edit(
    ctx: typer.Context,
    request: RequestArg,
    approver: ApproverOption,
    args: Annotated[
        str,
        typer.Option(
            "--args",
            metavar="JSON",
            show_default=False,
            help="The new arguments, a JSON object replacing the old ones: '{\"id\": 7}'.",
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            metavar="ACTION",
            show_default=False,
            help="A different action name (default: the same action).",
        ),
    ] = None,
    message: MessageOption = None,
    verify: VerifyOption = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
) -> None:
    """Approve with edited arguments and resume (needs --graph).

    The edited action is re-assessed by the policy; an edit cannot lower the gate it went through.
    """
    try:
        new_args = json.loads(args)
    except json.JSONDecodeError as exc:
        msg = f"--args is not JSON: {exc}."
        raise usage_error(msg, """Quote a JSON object for the shell: --args '{"id": 7}'.""") from None
    if not isinstance(new_args, dict):
        msg = f"--args must be a JSON object, got {type(new_args).__name__}."
        raise usage_error(msg, """Pass the whole argument object: --args '{"id": 7}'.""")
    settings = settings_of(ctx, db, graph)
    if name is None:
        with open_db(settings) as store:
            name = find_request(store, request).action["name"]
    edited = {"name": name, "args": new_args}
    _decide(
        ctx,
        "edit",
        request,
        approver,
        {"edited_action": edited, "message": message, "verify": verify},
        db=db,
        graph=graph,
        as_json=as_json,
    )


@app.command()
@command
def respond(
    ctx: typer.Context,
    request: RequestArg,
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
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
) -> None:
    """Answer with a message instead of a verdict (needs --graph)."""
    _decide(ctx, "respond", request, approver, {"message": message}, db=db, graph=graph, as_json=as_json)


@app.command()
@command
def expire(
    ctx: typer.Context, as_json: JsonOption = False, db: DbOption = None, graph: GraphOption = None
) -> None:
    """Resolve overdue requests with their on_timeout (needs --graph).

    The default on_timeout is reject (fail closed). Safe to run from cron and from several hosts.
    """
    settings = settings_of(ctx, db, graph)
    settings.require_graph("expire")
    with open_db(settings) as store:
        overdue = bool(store.inbox.overdue(store.clock(), limit=1))
    expired: list[str] = []
    if overdue:  # only then is the graph worth importing
        with _runner(settings, "expire") as hitl:
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
) -> None:
    """Finish what a crash interrupted (needs --graph).

    Re-drives decided requests the graph never received, continues runs, re-indexes threads.
    """
    settings = settings_of(ctx, db, graph)
    with _runner(settings, "recover") as hitl:
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
            console().print(f"{key.replace('_', ' ')}: {', '.join(items)}", highlight=False, markup=False)


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
) -> None:
    """Start the web inbox (needs the [web] extra).

    With --graph it can decide requests, not only list them.
    """
    settings = settings_of(ctx, db, graph)
    try:
        import uvicorn

        from ..web import create_app
    except ImportError as exc:
        msg = f"The web inbox is not available: {exc}."
        raise CLIError(
            msg, code=ExitCode.ERROR, hint='Install it: pip install "langgraph-hitl[web]".'
        ) from None
    loaded = load_graph(settings.graph) if settings.graph else None
    try:
        web_app = create_app(
            db=settings.require_database(), graph=loaded, approvers=approvers, hmac_key=settings.audit_key
        )
    except ValueError as exc:
        hint = "Pass --approvers tokens.txt (one 'alice:<token>' line per reviewer), or set HITL_WEB_TOKENS."
        raise CLIError(str(exc), code=ExitCode.USAGE, hint=hint) from None
    uvicorn.run(web_app, host=host, port=port)
