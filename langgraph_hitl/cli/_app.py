"""The `langgraph-hitl` typer app: the reading commands here, the deciding ones in `_write`."""

from __future__ import annotations

from typing import Annotated

import typer

from . import _read
from ._base import DbOption, JsonOption, RequestArg, SinceOption, UntilOption, app, command, settings_of

__all__ = ["app"]


@app.command()
@command
def pending(
    ctx: typer.Context,
    approver: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Only requests this person may decide.", show_default=False),
    ] = None,
    risk: Annotated[
        str | None,
        typer.Option(
            metavar="LEVEL", help="Only this risk: low, medium, high, critical.", show_default=False
        ),
    ] = None,
    thread: Annotated[
        str | None,
        typer.Option(
            metavar="THREAD",
            help="Only this thread's requests (its exact id), with their interrupt ids.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, metavar="N", help="Page size.")] = 50,
    cursor: Annotated[
        str | None,
        typer.Option(
            metavar="CURSOR", help="The next page's cursor, printed under a full page.", show_default=False
        ),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List pending requests, newest first."""
    _read.run_pending(
        settings_of(ctx, db, None),
        approver=approver,
        risk=risk,
        thread=thread,
        limit=limit,
        cursor=cursor,
        as_json=as_json,
    )


@app.command()
@command
def show(
    ctx: typer.Context,
    request: RequestArg = None,
    thread: Annotated[
        str | None,
        typer.Option(
            metavar="THREAD",
            help="Instead of REQUEST: every request of this thread (its exact id), and its history.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show one request in full, with its thread's history; or a whole thread with --thread.

    Action and arguments, reasons, impact, reversibility, risk, approvers and excluded
    approvers, deadline, confirmation phrase, the context, and the thread's audit events.
    With --thread: a line per request of the thread, each pending one in full, and the history.
    """
    _read.run_show(settings_of(ctx, db, None), request=request, thread=thread, as_json=as_json)


@app.command()
@command
def audit(
    ctx: typer.Context,
    thread: Annotated[
        str | None, typer.Option(metavar="THREAD", help="Only this thread.", show_default=False)
    ] = None,
    request: Annotated[
        str | None,
        typer.Option(
            metavar="REQUEST", help="Only this request (id or 6+ character prefix).", show_default=False
        ),
    ] = None,
    actor: Annotated[
        str | None, typer.Option(metavar="NAME", help="Only events by this actor.", show_default=False)
    ] = None,
    event: Annotated[
        list[str] | None,
        typer.Option(metavar="EVENT", help="Only this event (repeat for several).", show_default=False),
    ] = None,
    action: Annotated[
        str | None, typer.Option(metavar="ACTION", help="Only this action name.", show_default=False)
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[
        int, typer.Option(min=0, metavar="N", help="The newest N matching events; 0 for all.")
    ] = 50,
    verify: Annotated[
        bool, typer.Option("--verify", help="Check the hash chain instead of listing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON Lines, one event per line.")] = False,
    db: DbOption = None,
) -> None:
    """Tail and filter the audit log, or verify its hash chain."""
    _read.run_audit(
        settings_of(ctx, db, None),
        thread=thread,
        request=request,
        actor=actor,
        event=event,
        action=action,
        since=since,
        until=until,
        limit=limit,
        verify=verify,
        as_json=as_json,
    )


@app.command()
@command
def stats(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(metavar="TIME", help="Only decisions from this ISO 8601 time.", show_default=False),
    ] = None,
    min_samples: Annotated[
        int, typer.Option(min=1, metavar="N", help="Fewest decisions before a gate is flagged.")
    ] = 20,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Approval rates and decision times per gate, action and approver."""
    _read.run_stats(settings_of(ctx, db, None), since=since, min_samples=min_samples, as_json=as_json)


from . import (  # noqa: E402,F401  (they register their commands)
    _evidence,  # evidence, audit-prune
    _oversight,  # halt, unhalt, halts, reverse, reversible
    _policy,  # policy check, policy backtest
    _reviewers,  # reviewers
    _write,  # approve, reject, edit, respond, expire, recover, serve
)
