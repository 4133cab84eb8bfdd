"""`reviewers`: each approver's recent decisions against what they were shown, and rubber-stamp flags.

Reads the inbox only (`store.reviewers`); the thresholds are `RubberStampRule`'s, each one an
option, so a team can try its own before putting the rule in the policy.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..errors import PolicyError
from ._base import DbOption, JsonOption, app, command, settings_of
from ._common import open_db, usage_error
from ._render import console, print_json, span, text

__all__ = ["reviewers"]


@app.command()
@command
def reviewers(
    ctx: typer.Context,
    window: Annotated[int, typer.Option(min=1, metavar="N", help="Each approver's last N decisions.")] = 20,
    min_decisions: Annotated[
        int, typer.Option(min=1, metavar="N", help="Fewest decisions before anyone is flagged.")
    ] = 10,
    fast_s: Annotated[float, typer.Option(metavar="SECONDS", help="An approval under this is fast.")] = 5.0,
    fast_share: Annotated[float, typer.Option(metavar="SHARE", help="Flag `fast` at this share.")] = 0.5,
    read_s_per_kb: Annotated[
        float, typer.Option(metavar="SECONDS", help="Reading time per KB shown (plus 1 s).")
    ] = 2.0,
    unread_share: Annotated[float, typer.Option(metavar="SHARE", help="Flag `unread` at this share.")] = 0.5,
    streak: Annotated[int, typer.Option(min=1, metavar="N", help="Flag N approvals in a row.")] = 15,
    lookback_days: Annotated[float, typer.Option(metavar="DAYS", help="Ignore older decisions.")] = 30.0,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Who approves faster than they could read: per approver, time to decide against what they
    were shown, approval streaks, and flags with the numbers behind them."""
    from ..rubber_stamp import RubberStampRule

    try:
        rule = RubberStampRule(
            window=window,
            min_decisions=min_decisions,
            fast_s=fast_s,
            fast_share=fast_share,
            read_s_per_kb=read_s_per_kb,
            unread_share=unread_share,
            streak=streak,
            lookback_s=lookback_days * 86400.0,
        )
    except PolicyError as exc:
        raise usage_error(str(exc), "Shares are between 0 and 1; times and counts are positive.") from None
    with open_db(settings_of(ctx, db, None)) as store:
        found = store.reviewers.profiles(rule)
    if as_json:
        print_json({"rubber_stamp": rule.as_json(), "reviewers": found})
        return
    _show(found)


def _show(found: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    if not found:
        out.print("No decisions by people in the look-back window.")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("approver", "decisions", "approvals", "median", "median shown", "s/KB", "fast", "unread"):
        table.add_column(name, justify="left" if name == "approver" else "right", overflow="fold")
    table.add_column("streak", justify="right")
    table.add_column("flags", overflow="fold")
    for who, p in found.items():
        table.add_row(
            text(who),
            str(p["decisions"]),
            str(p["approvals"]),
            "-" if p["median_s"] is None else span(p["median_s"]),
            "-" if p["median_shown_bytes"] is None else f"{p['median_shown_bytes'] / 1024:.1f} KB",
            "-" if p["median_s_per_kb"] is None else f"{p['median_s_per_kb']:.1f}",
            str(p["fast"]),
            str(p["unread"]),
            str(p["streak"]),
            ", ".join(f["flag"] for f in p["flags"]),
        )
    out.print(table)
    for who, p in found.items():
        for flag in p["flags"]:
            out.print(text(f"flag {who} {flag['flag']}: {flag['message']}", style="yellow"))
