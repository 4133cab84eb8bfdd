"""The checkpointer factory `langgraph.json` names: an async context manager yielding a saver.

LangGraph Server enters it once at start-up and leaves it at shutdown. It must be async
(`AsyncSqliteSaver`, `AsyncPostgresSaver`): the server calls only the saver's `a*` methods,
and a sync `SqliteSaver` raises `NotImplementedError` there.

`HITL_CHECKPOINT_URL` picks the database: `sqlite:///server-checkpoints.db` by default, or
`postgresql://user:password@host:5432/db` to share checkpoints with other servers and workers.
`langgraph_hitl.aopen_checkpointer` sets the database up on open (WAL and a busy timeout on SQLite).

With `HITL_STORE_URL` set (the store the graph audits into), the saver also records every review
that a change to its thread ends without a decision, such as Agent Inbox's "Mark as Resolved":
the request becomes `cancelled` with who and why, and the audit log gets a `cancelled` row
(`langgraph_hitl.server.record_ended_reviews`). No graph node runs then; only the saver sees it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph_hitl import aopen_checkpointer
from langgraph_hitl.server import record_ended_reviews
from langgraph_hitl.store import open_store


@asynccontextmanager
async def make_checkpointer() -> AsyncIterator[Any]:
    """Yield a set-up async saver for `HITL_CHECKPOINT_URL`; close it when the server stops."""
    url = os.environ.get("HITL_CHECKPOINT_URL", "sqlite:///server-checkpoints.db")
    store_url = os.environ.get("HITL_STORE_URL")
    async with aopen_checkpointer(url) as saver:
        if not store_url:
            yield saver
            return
        with open_store(store_url) as store:
            yield record_ended_reviews(saver, store)
