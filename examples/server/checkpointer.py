"""The checkpointer factory `langgraph.json` names: an async context manager yielding a saver.

LangGraph Server enters it once at start-up and leaves it at shutdown. It must be async
(`AsyncSqliteSaver`, `AsyncPostgresSaver`): the server calls only the saver's `a*` methods,
and a sync `SqliteSaver` raises `NotImplementedError` there.

`HITL_CHECKPOINT_URL` picks the database: `sqlite:///server-checkpoints.db` by default, or
`postgresql://user:password@host:5432/db` to share checkpoints with other servers and workers.
`langgraph_hitl.aopen_checkpointer` sets the database up on open (WAL and a busy timeout on SQLite).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph_hitl import aopen_checkpointer


@asynccontextmanager
async def make_checkpointer() -> AsyncIterator[Any]:
    """Yield a set-up async saver for `HITL_CHECKPOINT_URL`; close it when the server stops."""
    url = os.environ.get("HITL_CHECKPOINT_URL", "sqlite:///server-checkpoints.db")
    async with aopen_checkpointer(url) as saver:
        yield saver
