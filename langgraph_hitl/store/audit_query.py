"""Reading the audit log: filtered queries and JSON Lines export, paged by seq so the whole log
is never loaded at once."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from .._canonical import canonical_json
from ._db import Backend
from .audit_events import COLUMNS, utc_text

__all__ = ["AuditQueries"]


class AuditQueries:
    """`AuditLog.query`, `tail` and `export_jsonl` (a mixin: `AuditLog` gives the backend)."""

    backend: Backend

    def query(
        self,
        *,
        thread_id: str | None = None,
        request_id: str | None = None,
        action_id: str | None = None,
        actor: str | None = None,
        event: str | Sequence[str] | None = None,
        action: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        """Rows matching every given filter, in seq order.

        Args:
            thread_id: Only this thread's events.
            request_id: Only this inbox request's events.
            action_id: Only this action's events.
            actor: Only events caused by this actor (`alice`, `auto`, `system:timeout`, ...).
            event: An event name, or several (any of them).
            action: Only events about actions of this name.
            since: Events at or after this time (ISO 8601 text or a datetime; naive means UTC).
            until: Events strictly before this time.
            limit: At most this many rows.
            descending: Newest first.

        Returns:
            One dict per row with every column (`seq` ... `prev_hash`, `hash`); `args` and `detail`
            parsed back to dicts.

        Raises:
            ValueError: `since`/`until` is not an ISO 8601 time, or `limit` is negative.
        """
        return list(
            self._iter(
                _filters(thread_id, request_id, action_id, actor, event, action, since, until),
                limit=limit,
                descending=descending,
            )
        )

    def tail(self, n: int = 20) -> list[dict[str, Any]]:
        """The newest `n` rows, oldest first."""
        return list(reversed(self.query(limit=n, descending=True)))

    def export_jsonl(
        self,
        dest: str | Path | TextIO,
        *,
        thread_id: str | None = None,
        request_id: str | None = None,
        action_id: str | None = None,
        actor: str | None = None,
        event: str | Sequence[str] | None = None,
        action: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
    ) -> int:
        """Write matching rows as JSON Lines (one canonical JSON object per row, oldest first).

        Args:
            dest: A path (created or overwritten, UTF-8) or an open text stream.
            thread_id, request_id, action_id, actor, event, action, since, until: Filters, as in `query()`.

        Returns:
            The number of rows written.
        """
        rows = self._iter(_filters(thread_id, request_id, action_id, actor, event, action, since, until))
        if isinstance(dest, (str, Path)):
            with Path(dest).open("w", encoding="utf-8", newline="\n") as stream:
                return _write_lines(stream, rows)
        return _write_lines(dest, rows)

    def _iter(
        self,
        where: tuple[list[str], list[Any]],
        *,
        limit: int | None = None,
        descending: bool = False,
        page: int = 5_000,
    ) -> Iterator[dict[str, Any]]:
        """Stream matching rows by keyset pagination on seq, so exports never load the whole log."""
        if limit is not None and limit < 0:
            msg = f"limit must be zero or more, got {limit}."
            raise ValueError(msg)
        clauses, params = where
        order, cmp = ("DESC", "<") if descending else ("ASC", ">")
        cursor: int | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            size = page if remaining is None else min(page, remaining)
            extra = [*clauses, f"seq {cmp} ?"] if cursor is not None else clauses
            sql = (
                f"SELECT {COLUMNS} FROM hitl_audit{' WHERE ' + ' AND '.join(extra) if extra else ''} "
                f"ORDER BY seq {order} LIMIT ?"
            )
            rows = self.backend.execute(sql, [*params, *([cursor] if cursor is not None else []), size])
            for row in rows:
                yield _record(row)
            if len(rows) < size:
                return
            cursor = rows[-1]["seq"]
            if remaining is not None:
                remaining -= len(rows)


def _filters(
    thread_id: str | None,
    request_id: str | None,
    action_id: str | None,
    actor: str | None,
    event: str | Sequence[str] | None,
    action: str | None,
    since: str | datetime | None,
    until: str | datetime | None,
) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("thread_id", thread_id),
        ("request_id", request_id),
        ("action_id", action_id),
        ("actor", actor),
        ("action", action),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if event is not None:
        names = [event] if isinstance(event, str) else list(event)
        clauses.append(f"event IN ({', '.join('?' * len(names))})" if names else "1 = 0")
        params.extend(names)
    if since is not None:
        clauses.append("ts >= ?")
        params.append(utc_text(since, what="since"))
    if until is not None:
        clauses.append("ts < ?")
        params.append(utc_text(until, what="until"))
    return clauses, params


def _record(row: dict[str, Any]) -> dict[str, Any]:
    record = dict(row)
    for key in ("args", "detail"):
        if record[key] is not None:
            record[key] = json.loads(record[key])
    record["seq"] = int(record["seq"])
    return record


def _write_lines(stream: TextIO, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    for row in rows:
        stream.write(canonical_json(row) + "\n")
        count += 1
    return count
