"""Versioned migrations for langgraph-hitl's own tables, one list per backend.

`Store.setup()` applies them; a version, once released, never changes: add a new one.

Tables:
- `hitl_requests`: the inbox index, one row per question a review node asked.
- `hitl_request_approvers`: who may decide each request (for "pending for approver X").
- `hitl_threads`: threads the runner is driving, for crash recovery.
- `hitl_audit`: the append-only, hash-chained audit log.
- `hitl_ledger`: the execution ledger (at most one completed run per action).
- `hitl_feedback`: reviewers' scores and comments on runs.
- `hitl_secret` (v2): the store's random seal key, with which the package's nodes seal the
  receipts, assessments and audit events they keep in graph state (G9, G11).
"""

from __future__ import annotations

__all__ = ["POSTGRES_MIGRATIONS", "SQLITE_MIGRATIONS"]

_REQUESTS = """
CREATE TABLE IF NOT EXISTS hitl_requests (
    request_id     TEXT PRIMARY KEY,
    thread_id      TEXT NOT NULL,
    interrupt_id   TEXT NOT NULL,
    checkpoint_ns  TEXT NOT NULL DEFAULT '',
    node           TEXT NOT NULL,
    stage          INTEGER NOT NULL DEFAULT 1,
    action_id      TEXT NOT NULL,
    action_name    TEXT NOT NULL,
    args_hash      TEXT NOT NULL,
    risk           TEXT NOT NULL,
    approvers      TEXT,
    open_to_all    INTEGER NOT NULL DEFAULT 1,
    requested_by   TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL CHECK (status IN ('pending', 'deciding', 'resumed', 'expired', 'cancelled')),
    decided_by     TEXT,
    decision       TEXT,
    payload        TEXT NOT NULL,
    graph          TEXT NOT NULL DEFAULT '',
    created_at     {float} NOT NULL,
    deadline       {float},
    decided_at     {float},
    resumed_at     {float},
    seq            {bigint} NOT NULL
)
"""

_COMMON_INDEXES = [
    "CREATE INDEX IF NOT EXISTS hitl_requests_pending ON hitl_requests (status, seq DESC)",
    "CREATE INDEX IF NOT EXISTS hitl_requests_seq ON hitl_requests (seq)",
    "CREATE INDEX IF NOT EXISTS hitl_requests_deadline ON hitl_requests (status, deadline)",
    "CREATE INDEX IF NOT EXISTS hitl_requests_thread ON hitl_requests (thread_id, seq)",
    "CREATE INDEX IF NOT EXISTS hitl_requests_risk ON hitl_requests (status, risk, seq DESC)",
    """CREATE TABLE IF NOT EXISTS hitl_request_approvers (
        approver   TEXT NOT NULL,
        request_id TEXT NOT NULL,
        seq        {bigint} NOT NULL,
        PRIMARY KEY (approver, request_id)
    )""",
    "CREATE INDEX IF NOT EXISTS hitl_request_approvers_seq ON hitl_request_approvers (approver, seq DESC)",
    """CREATE TABLE IF NOT EXISTS hitl_threads (
        thread_id  TEXT PRIMARY KEY,
        state      TEXT NOT NULL CHECK (state IN ('in_flight', 'idle')),
        graph      TEXT NOT NULL DEFAULT '',
        updated_at {float} NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS hitl_threads_state ON hitl_threads (state)",
    """CREATE TABLE IF NOT EXISTS hitl_audit (
        seq            {bigint} PRIMARY KEY,
        event_id       TEXT NOT NULL UNIQUE,
        ts             TEXT NOT NULL,
        thread_id      TEXT,
        request_id     TEXT,
        action_id      TEXT,
        event          TEXT NOT NULL,
        actor          TEXT NOT NULL,
        action         TEXT,
        args           TEXT,
        args_hash      TEXT,
        reversibility  TEXT,
        risk           TEXT,
        decision       TEXT,
        outcome        TEXT,
        policy_version TEXT,
        detail         TEXT,
        prev_hash      TEXT NOT NULL,
        hash           TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS hitl_audit_thread ON hitl_audit (thread_id, seq)",
    "CREATE INDEX IF NOT EXISTS hitl_audit_request ON hitl_audit (request_id, seq)",
    "CREATE INDEX IF NOT EXISTS hitl_audit_action_id ON hitl_audit (action_id, seq)",
    "CREATE INDEX IF NOT EXISTS hitl_audit_actor ON hitl_audit (actor, seq)",
    "CREATE INDEX IF NOT EXISTS hitl_audit_event ON hitl_audit (event, seq)",
    "CREATE INDEX IF NOT EXISTS hitl_audit_action ON hitl_audit (action, seq)",
    "CREATE INDEX IF NOT EXISTS hitl_audit_ts ON hitl_audit (ts)",
    """CREATE TABLE IF NOT EXISTS hitl_ledger (
        action_id       TEXT PRIMARY KEY,
        idempotency_key TEXT NOT NULL,
        thread_id       TEXT,
        action          TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
        result          TEXT,
        error           TEXT,
        attempts        INTEGER NOT NULL DEFAULT 1,
        started_at      {float} NOT NULL,
        finished_at     {float}
    )""",
    """CREATE TABLE IF NOT EXISTS hitl_feedback (
        feedback_id TEXT PRIMARY KEY,
        ts          TEXT NOT NULL,
        thread_id   TEXT,
        request_id  TEXT,
        actor       TEXT NOT NULL,
        score       {float} NOT NULL,
        kind        TEXT NOT NULL,
        comment     TEXT,
        forwarded   INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS hitl_feedback_thread ON hitl_feedback (thread_id)",
]

_SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS hitl_audit_no_update BEFORE UPDATE ON hitl_audit
       BEGIN SELECT RAISE(ABORT, 'hitl_audit is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS hitl_audit_no_delete BEFORE DELETE ON hitl_audit
       BEGIN SELECT RAISE(ABORT, 'hitl_audit is append-only: DELETE refused'); END""",
]

_POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION hitl_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'hitl_audit is append-only: % refused', TG_OP; END $$""",
    "DROP TRIGGER IF EXISTS hitl_audit_append_only ON hitl_audit",
    """CREATE TRIGGER hitl_audit_append_only BEFORE UPDATE OR DELETE ON hitl_audit
       FOR EACH ROW EXECUTE FUNCTION hitl_audit_refuse()""",
    "DROP TRIGGER IF EXISTS hitl_audit_no_truncate ON hitl_audit",
    """CREATE TRIGGER hitl_audit_no_truncate BEFORE TRUNCATE ON hitl_audit
       FOR EACH STATEMENT EXECUTE FUNCTION hitl_audit_refuse()""",
]


def _render(statements: list[str], *, float_type: str, bigint_type: str) -> list[str]:
    return [s.replace("{float}", float_type).replace("{bigint}", bigint_type) for s in statements]


_SECRET = "CREATE TABLE IF NOT EXISTS hitl_secret (name TEXT PRIMARY KEY, value TEXT NOT NULL)"

SQLITE_MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, _render([_REQUESTS, *_COMMON_INDEXES, *_SQLITE_TRIGGERS], float_type="REAL", bigint_type="INTEGER")),
    (
        2,
        [
            _SECRET,
            "INSERT OR IGNORE INTO hitl_secret (name, value) VALUES ('seal', lower(hex(randomblob(32))))",
        ],
    ),
]


def _leases(float_type: str) -> list[str]:
    """Version 3: who drives a claim, a thread or a handler, and until when by the database's clock."""
    return [
        *(
            f"ALTER TABLE {table} ADD COLUMN {column}"
            for table in ("hitl_requests", "hitl_threads", "hitl_ledger")
            for column in ("lease_owner TEXT", f"lease_until {float_type}")
        ),
        "CREATE INDEX IF NOT EXISTS hitl_requests_lease ON hitl_requests (lease_owner) WHERE status = 'deciding'",
        "CREATE INDEX IF NOT EXISTS hitl_threads_lease ON hitl_threads (lease_owner) WHERE state = 'in_flight'",
        "CREATE INDEX IF NOT EXISTS hitl_ledger_lease ON hitl_ledger (lease_owner) WHERE status = 'started'",
    ]


SQLITE_MIGRATIONS.append((3, _leases("REAL")))

POSTGRES_MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        _render(
            [_REQUESTS, *_COMMON_INDEXES, *_POSTGRES_TRIGGERS],
            float_type="DOUBLE PRECISION",
            bigint_type="BIGINT",
        ),
    ),
    (
        2,
        [
            _SECRET,
            "INSERT INTO hitl_secret (name, value) VALUES ('seal', "
            "replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '')) "
            "ON CONFLICT (name) DO NOTHING",
        ],
    ),
]

POSTGRES_MIGRATIONS.append((3, _leases("DOUBLE PRECISION")))


def _nonces(float_type: str) -> list[str]:
    """Version 4: used approval-link nonces, so a one-time link works once across every server
    on the database (before, only a SQLite file kept them, in a table made outside the migrations)."""
    return [
        "CREATE TABLE IF NOT EXISTS hitl_link_nonces "
        f"(nonce TEXT PRIMARY KEY, expires_at {float_type} NOT NULL, used_at {float_type} NOT NULL)",
        "CREATE INDEX IF NOT EXISTS hitl_link_nonces_expiry ON hitl_link_nonces (expires_at)",
    ]


SQLITE_MIGRATIONS.append((4, _nonces("REAL")))
POSTGRES_MIGRATIONS.append((4, _nonces("DOUBLE PRECISION")))

# Versions are applied in this order; keep each list sorted whichever module appended last.
SQLITE_MIGRATIONS.sort(key=lambda migration: migration[0])
POSTGRES_MIGRATIONS.sort(key=lambda migration: migration[0])
