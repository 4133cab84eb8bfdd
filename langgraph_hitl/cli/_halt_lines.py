"""The halt lines `pending` and `show` print (no typer import: the reading commands' fast path
uses them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._render import text

__all__ = ["halt_notes", "print_halt_notes"]


def halt_notes(store: Any, rows: Sequence[Any]) -> dict[str, str]:
    """Request id -> the active halt covering its action (only the covered ones)."""
    active = store.halts.active()
    if not active:
        return {}
    notes = {}
    for row in rows:
        halt = store.halts.covering(action=row.action_name, graph=row.graph or None, halts=active)
        if halt is not None:
            notes[row.request_id] = halt.describe()
    return notes


def print_halt_notes(out: Any, notes: dict[str, str]) -> None:
    """One line per halt covering listed requests: nothing under it runs until it is lifted."""
    for note in sorted(set(notes.values())):
        count = sum(1 for n in notes.values() if n == note)
        out.print(
            text(f"HALTED: {note} ({count} listed); nothing under it runs until `langgraph-hitl unhalt`."),
            style="bold red",
        )
