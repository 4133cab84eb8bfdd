"""Oversight commands: the stop switch (`halt`, `unhalt`, `halts`) and reversal (`reverse`,
`reversible`). The lines `pending` and `show` print under a halt are in `_halt_lines`.

`halt`, `unhalt` and `halts` need only the database: a halt stops every process on it from
starting handlers under its scope. `reverse` and `reversible` need `--graph`, where the
compensations (`Handler(do=..., undo=...)`) and the policy are.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import HaltedError
from ._base import ApproverOption, DbOption, GraphOption, JsonOption, app, command, settings_of
from ._common import open_db, usage_error
from ._decide import open_runner
from ._errors import CLIError, ExitCode
from ._render import console, print_json, text

__all__ = ["halt", "halts", "reverse", "reversible", "unhalt"]

ScopeArg = Annotated[
    str,
    typer.Argument(
        metavar="SCOPE", help="all, graph:NAME or action:NAME (names match exactly).", show_default=False
    ),
]
ReasonOption = Annotated[
    str, typer.Option("--reason", metavar="TEXT", help="Why, for the audit log.", show_default=False)
]


def _scope_error(exc: ValueError) -> CLIError:
    return usage_error(
        str(exc), "Write the scope as all, graph:NAME or action:NAME; list halts with `halts`."
    )


@app.command()
@command
def halt(
    ctx: typer.Context,
    scope: ScopeArg,
    reason: ReasonOption,
    actor: ApproverOption,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Stop handlers under SCOPE from starting, in every process on the database, now."""
    with open_db(settings_of(ctx, db, None)) as store:
        try:
            found = store.halts.halt(scope, reason=reason, actor=actor)
        except ValueError as exc:
            raise _scope_error(exc) from None
    if as_json:
        print_json(found.to_dict())
        return
    console().print(
        text(f"Halt {found.id} on: {found.describe()}. Lift it with `langgraph-hitl unhalt {found.scope}`.")
    )


@app.command()
@command
def unhalt(
    ctx: typer.Context,
    scope: ScopeArg,
    reason: ReasonOption,
    actor: ApproverOption,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Lift the halt on exactly SCOPE; then the runner's resume_halted() continues what it stopped."""
    with open_db(settings_of(ctx, db, None)) as store:
        try:
            lifted = store.halts.unhalt(scope, reason=reason, actor=actor)
        except ValueError as exc:
            raise _scope_error(exc) from None
    if as_json:
        print_json(lifted.to_dict())
        return
    console().print(text(f"Halt {lifted.id} ({lifted.scope}) lifted by {lifted.lifted_by}."))


@app.command()
@command
def halts(
    ctx: typer.Context,
    lifted: Annotated[bool, typer.Option("--all", help="Lifted halts too, newest first.")] = False,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List the halts on now (or every halt with --all)."""
    with open_db(settings_of(ctx, db, None)) as store:
        found = store.halts.history() if lifted else store.halts.active()
    if as_json:
        print_json([h.to_dict() for h in found])
        return
    out = console()
    if not found:
        out.print(text("No halts." if lifted else "No halt is on."))
        return
    for h in found:
        state = "on" if h.active else f"lifted by {h.lifted_by}"
        out.print(text(f"{h.id}  {h.scope}  {state}  by {h.actor}: {h.reason}"))


@app.command()
@command
def reverse(
    ctx: typer.Context,
    request: Annotated[
        str,
        typer.Argument(
            metavar="REQUEST", help="The request (or executed action id) to reverse.", show_default=False
        ),
    ],
    reason: ReasonOption,
    actor: ApproverOption,
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
) -> None:
    """Run the compensation of the action REQUEST approved, through the policy and the ledger (needs --graph)."""
    from ..approvals.reversal_parts import ReversalError

    with open_runner(settings_of(ctx, db, graph), "reverse") as hitl:
        try:
            done = hitl.reverse(request, approver=actor, reason=reason)
        except (ReversalError, HaltedError) as exc:
            raise CLIError(str(exc), code=ExitCode.REFUSED, hint="Nothing was run.") from None
    if as_json:
        print_json(done.__dict__)
        return
    out = console()
    if done.status == "pending":
        out.print(
            text(f"Reversal of {done.action} asked by {', '.join(done.requested_by)}; needs {done.needed}.")
        )
        return
    again = " (recorded before; nothing ran again)" if done.replayed else ""
    out.print(text(f"{done.action} {done.action_id}: {done.status}{again}. {done.error or ''}".strip()))
    if done.status == "failed":
        raise typer.Exit(int(ExitCode.ERROR))


@app.command()
@command
def reversible(
    ctx: typer.Context,
    as_json: JsonOption = False,
    db: DbOption = None,
    graph: GraphOption = None,
) -> None:
    """List executed actions that may be reversed, and until when (needs --graph)."""
    from .._canonical import iso

    with open_runner(settings_of(ctx, db, graph), "reversible") as hitl:
        found = hitl.reversible()
    if as_json:
        print_json([a.to_dict() for a in found])
        return
    out = console()
    if not found:
        out.print(text("Nothing may be reversed now."))
        return
    for a in found:
        out.print(text(f"{a.action_id}  {a.action}  thread {a.thread_id}  until {iso(a.until)}"))
