"""langgraph-hitl's own tables: the inbox index, the audit log, the execution ledger, feedback.

They live next to LangGraph's checkpoints, in the same SQLite file or Postgres database.
Nothing here imports LangGraph, so listing the inbox stays fast.

Example:
    ```python
    from langgraph_hitl.store import open_store

    with open_store("sqlite:///hitl.db") as store:
        print(store.inbox.pending(limit=10))
        print(store.audit.verify())
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING

from .._sqlite import database_kind
from ..errors import CheckpointerError
from ._db import Backend, SQLiteBackend, sqlite_path_from_url
from .audit import AuditLog, VerifyResult
from .feedback import FeedbackStore
from .halts import Halt, Halts, HaltScope
from .inbox import Inbox, RequestRow
from .ledger import Ledger, LedgerEntry
from .nonces import LinkNonces
from .reviewers import Reviewers

if TYPE_CHECKING:
    pass

from .._keys import AUDIT_KEY_ENV, AUDIT_KEY_FILE_ENV, audit_key_from, audit_key_from_env

__all__ = [
    "AUDIT_KEY_ENV",
    "AUDIT_KEY_FILE_ENV",
    "AuditLog",
    "Backend",
    "FeedbackStore",
    "Halt",
    "HaltScope",
    "Halts",
    "Inbox",
    "Ledger",
    "LedgerEntry",
    "LinkNonces",
    "RequestRow",
    "Store",
    "VerifyResult",
    "audit_key_from",
    "audit_key_from_env",
    "open_store",
]


class Store:
    """The inbox, audit log, ledger, feedback and link-nonce tables over one database connection.

    Use `open_store(url)`; a `Store` is a context manager that closes its connection.
    Writes that must land together (an inbox row and its audit event) share
    `with store.transaction():`.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        url: str = "",
        hmac_key: bytes | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.backend = backend
        self.url = url
        self._hmac_key = hmac_key
        self._seal_key: bytes | None = None
        self.clock: Callable[[], float] = clock or time.time
        self.inbox = Inbox(backend, clock=self.clock)
        self.audit = AuditLog(backend, hmac_key=hmac_key, clock=self.clock)
        self.audit.seal_key_source = lambda: self.seal_key  # checks pruning cuts' signatures
        self.halts = Halts(backend, clock=self.clock, audit=self.audit)
        """The stop switch (`store.halts`): no handler starts under an active halt."""
        self.ledger = Ledger(backend, clock=self.clock, halts=self.halts)
        self.feedback = FeedbackStore(backend, clock=self.clock, audit=self.audit)
        self.nonces = LinkNonces(backend, clock=self.clock)
        """Used approval-link nonces: pass as `LinkSigner.redeem(store=...)`."""
        self.reviewers = Reviewers(backend, clock=self.clock)
        """Approvers' recent decisions, for rubber-stamp detection (`rubber_stamp.py`)."""

    def setup(self) -> None:
        """Create or migrate the tables (idempotent; safe from several processes at once).

        Also checks the audit key: a log first written with a key is recorded as keyed (by a
        fingerprint of the key, never the key). Opening it with another key fails; opening it
        without one still reads, but refuses to append, so unkeyed rows never enter a keyed chain.
        """
        self.backend.apply_migrations(self.backend.migrations)
        self._check_audit_key()

    def _check_audit_key(self) -> None:
        import hashlib
        import hmac

        from ..errors import AuditIntegrityError

        key = self._hmac_key
        with self.backend.transaction():
            rows = self.backend.execute("SELECT value FROM hitl_secret WHERE name = 'audit_key'")
            recorded = rows[0]["value"] if rows else None
            if key:
                fingerprint = hmac.new(key, b"langgraph-hitl audit key", hashlib.sha256).hexdigest()
                if recorded is None:
                    if self.backend.execute("SELECT 1 AS x FROM hitl_audit LIMIT 1"):
                        msg = (
                            "This audit log was started without a key; a key now would break its chain. "
                            "Open it without hmac_key (and unset LANGGRAPH_HITL_AUDIT_KEY), or start a new database."
                        )
                        raise AuditIntegrityError(msg)
                    self.backend.execute(
                        "INSERT INTO hitl_secret (name, value) VALUES ('audit_key', ?) ON CONFLICT (name) DO NOTHING",
                        (fingerprint,),
                    )
                elif not hmac.compare_digest(recorded, fingerprint):
                    msg = (
                        "This audit log is keyed with another key: open the store with the key it was started "
                        "with (hmac_key=..., or LANGGRAPH_HITL_AUDIT_KEY)."
                    )
                    raise AuditIntegrityError(msg)
            elif recorded is not None:
                self.audit.keyed_without_key = True

    @property
    def seal_key(self) -> bytes:
        """The key that seals receipts, assessments and audit events kept in graph state.

        The audit key when the store was opened with `hmac_key` (so a downstream service holding
        it can check receipts), else a random secret created with the tables.
        """
        if self._hmac_key:
            return self._hmac_key
        if self._seal_key is None:
            rows = self.backend.execute("SELECT value FROM hitl_secret WHERE name = 'seal'")
            if not rows:
                msg = "The store has no seal key: open it with setup=True (or run `langgraph-hitl` once) to migrate."
                raise CheckpointerError(msg)
            self._seal_key = bytes.fromhex(rows[0]["value"])
        return self._seal_key

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction shared by every table in the store."""
        with self.backend.transaction():
            yield

    def close(self) -> None:
        """Close the database connection."""
        self.backend.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_store(
    url: str = "sqlite:///hitl.db",
    *,
    setup: bool = True,
    hmac_key: bytes | None = None,
    clock: Callable[[], float] | None = None,
) -> Store:
    """Open langgraph-hitl's tables at `url` (`sqlite:///path.db` or `postgresql://...`).

    Args:
        url: Where the tables live; the same URL as the checkpointer's.
        setup: Create or migrate the tables first (default True).
        hmac_key: Key the audit chain's hashes with HMAC-SHA256 instead of plain sha256; None
            takes `LANGGRAPH_HITL_AUDIT_KEY` from the environment, or reads the file named by
            `LANGGRAPH_HITL_AUDIT_KEY_FILE`, so the CLI, the web inbox and the runner all use
            the same key.
        clock: Returns the current epoch time; tests pass a `FakeClock`.

    Raises:
        CheckpointerError: The URL is not supported or the database cannot be opened.
    """
    if hmac_key is None:
        hmac_key = audit_key_from_env()
    if database_kind(url, what="store") == "sqlite":
        backend: Backend = SQLiteBackend(sqlite_path_from_url(url))
    else:
        from .postgres import PostgresBackend

        backend = PostgresBackend(url)
    store = Store(backend, url=url, hmac_key=hmac_key, clock=clock)
    if setup:
        try:
            store.setup()
        except BaseException:
            store.close()
            raise
    return store
