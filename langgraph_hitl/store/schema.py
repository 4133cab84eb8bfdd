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
- `hitl_audit_cuts` (v5): signed checkpoints of the audit chain's head where old rows were pruned.
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

_CUTS = """CREATE TABLE IF NOT EXISTS hitl_audit_cuts (
    cut_seq        {bigint} PRIMARY KEY,
    head_hash      TEXT NOT NULL,
    cut_ts         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    archive_sha256 TEXT NOT NULL,
    mac            TEXT NOT NULL
)"""
_CUT_REFUSED = (
    "hitl_audit_cuts: a cut names an audit row by its hash, below the newest row, above the last cut"
)
_DELETE_REFUSED = "hitl_audit is append-only: DELETE refused above the last recorded cut"


def _cuts_sqlite() -> list[str]:
    """Version 5 (retention): signed checkpoints of the chain head at each prune cut; the audit
    table then lets DELETE through only for rows at or below the last cut (and no INSERT OR
    REPLACE over a row), and the cuts table itself is append-only and accepts only a cut that
    names a real row by its hash."""
    last_cut = "(SELECT COALESCE(MAX(cut_seq), 0) FROM hitl_audit_cuts)"
    return [
        _CUTS.replace("{bigint}", "INTEGER"),
        "DROP TRIGGER IF EXISTS hitl_audit_no_delete",
        f"""CREATE TRIGGER hitl_audit_no_delete BEFORE DELETE ON hitl_audit WHEN OLD.seq > {last_cut}
           BEGIN SELECT RAISE(ABORT, '{_DELETE_REFUSED}'); END""",
        # INSERT OR REPLACE deletes the row it collides with without firing DELETE triggers:
        """CREATE TRIGGER IF NOT EXISTS hitl_audit_no_replace BEFORE INSERT ON hitl_audit
           WHEN EXISTS (SELECT 1 FROM hitl_audit WHERE seq = NEW.seq)
             OR EXISTS (SELECT 1 FROM hitl_audit WHERE event_id = NEW.event_id)
           BEGIN SELECT RAISE(ABORT, 'hitl_audit is append-only: an INSERT over an existing row refused'); END""",
        f"""CREATE TRIGGER IF NOT EXISTS hitl_audit_cuts_check BEFORE INSERT ON hitl_audit_cuts
           WHEN NOT EXISTS (SELECT 1 FROM hitl_audit WHERE seq = NEW.cut_seq AND hash = NEW.head_hash)
             OR NEW.cut_seq >= (SELECT MAX(seq) FROM hitl_audit) OR NEW.cut_seq <= {last_cut}
           BEGIN SELECT RAISE(ABORT, '{_CUT_REFUSED}'); END""",
        """CREATE TRIGGER IF NOT EXISTS hitl_audit_cuts_no_update BEFORE UPDATE ON hitl_audit_cuts
           BEGIN SELECT RAISE(ABORT, 'hitl_audit_cuts is append-only: UPDATE refused'); END""",
        """CREATE TRIGGER IF NOT EXISTS hitl_audit_cuts_no_delete BEFORE DELETE ON hitl_audit_cuts
           BEGIN SELECT RAISE(ABORT, 'hitl_audit_cuts is append-only: DELETE refused'); END""",
    ]


def _cuts_postgres() -> list[str]:
    """Version 5 on Postgres: the same rules as `_cuts_sqlite`, in trigger functions."""
    last_cut = "(SELECT COALESCE(MAX(cut_seq), 0) FROM hitl_audit_cuts)"
    return [
        _CUTS.replace("{bigint}", "BIGINT"),
        f"""CREATE OR REPLACE FUNCTION hitl_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF TG_OP = 'DELETE' AND OLD.seq <= {last_cut} THEN RETURN OLD; END IF;
             IF TG_OP = 'DELETE' THEN RAISE EXCEPTION '{_DELETE_REFUSED}'; END IF;
             RAISE EXCEPTION 'hitl_audit is append-only: % refused', TG_OP;
           END $$""",
        "DROP TRIGGER IF EXISTS hitl_audit_append_only ON hitl_audit",
        """CREATE TRIGGER hitl_audit_append_only BEFORE UPDATE OR DELETE ON hitl_audit
           FOR EACH ROW EXECUTE FUNCTION hitl_audit_guard()""",
        f"""CREATE OR REPLACE FUNCTION hitl_audit_cuts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF TG_OP <> 'INSERT' THEN RAISE EXCEPTION 'hitl_audit_cuts is append-only: % refused', TG_OP; END IF;
             IF NOT EXISTS (SELECT 1 FROM hitl_audit WHERE seq = NEW.cut_seq AND hash = NEW.head_hash)
                OR NEW.cut_seq >= (SELECT MAX(seq) FROM hitl_audit) OR NEW.cut_seq <= {last_cut} THEN
               RAISE EXCEPTION '{_CUT_REFUSED}';
             END IF;
             RETURN NEW;
           END $$""",
        """CREATE TRIGGER hitl_audit_cuts_guard BEFORE INSERT OR UPDATE OR DELETE ON hitl_audit_cuts
           FOR EACH ROW EXECUTE FUNCTION hitl_audit_cuts_guard()""",
        """CREATE TRIGGER hitl_audit_cuts_no_truncate BEFORE TRUNCATE ON hitl_audit_cuts
           FOR EACH STATEMENT EXECUTE FUNCTION hitl_audit_refuse()""",
    ]


SQLITE_MIGRATIONS.append((5, _cuts_sqlite()))
POSTGRES_MIGRATIONS.append((5, _cuts_postgres()))


def _halts(float_type: str, serial: str) -> list[str]:
    """Version 6: the stop switch (`store.halts`): one row per halt, lifted but never deleted."""
    return [
        f"""CREATE TABLE IF NOT EXISTS hitl_halts (
            id          {serial},
            scope_kind  TEXT NOT NULL CHECK (scope_kind IN ('all', 'graph', 'action')),
            scope_value TEXT NOT NULL DEFAULT '',
            reason      TEXT NOT NULL,
            actor       TEXT NOT NULL,
            created_at  {float_type} NOT NULL,
            lifted_at   {float_type},
            lifted_by   TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS hitl_halts_active ON hitl_halts (scope_kind, scope_value) WHERE lifted_at IS NULL",
    ]


SQLITE_MIGRATIONS.append((6, _halts("REAL", "INTEGER PRIMARY KEY AUTOINCREMENT")))
POSTGRES_MIGRATIONS.append((6, _halts("DOUBLE PRECISION", "BIGSERIAL PRIMARY KEY")))

_TRACEPARENT = ["ALTER TABLE hitl_requests ADD COLUMN traceparent TEXT"]
"""Version 7: the W3C `traceparent` of the run that asked each question (NULL without tracing), so
the review span of a decision made in another process continues that trace (`telemetry`)."""
SQLITE_MIGRATIONS.append((7, _TRACEPARENT))
POSTGRES_MIGRATIONS.append((7, _TRACEPARENT))

_DECIDERS = [
    "CREATE INDEX IF NOT EXISTS hitl_requests_decided ON hitl_requests (decided_at, decided_by)",
    "CREATE INDEX IF NOT EXISTS hitl_requests_decider ON hitl_requests (decided_by, decided_at)",
]
"""Version 8: who decided what, recently, so the rubber-stamp check at decide time reads an index
range, not the whole inbox (`store.reviewers`)."""
SQLITE_MIGRATIONS.append((8, _DECIDERS))
POSTGRES_MIGRATIONS.append((8, _DECIDERS))

_THREAD_STATUS = [
    "CREATE INDEX IF NOT EXISTS hitl_requests_thread_status ON hitl_requests (thread_id, status, seq)",
    "DROP INDEX IF EXISTS hitl_requests_thread",
]
"""Version 9: one thread's rows in one status (`cancel_stale` at every index, the start claim's
"nothing deciding" check) are an index range. With only `(thread_id, seq)` beside the status
indexes, SQLite searched `status = 'pending'` and filtered by thread: every start and decision read
every pending request of every thread. The new index also serves everything the old one did."""
SQLITE_MIGRATIONS.append((9, _THREAD_STATUS))
POSTGRES_MIGRATIONS.append((9, _THREAD_STATUS))

# Versions are applied in this order; keep each list sorted whichever module appended last.
SQLITE_MIGRATIONS.sort(key=lambda migration: migration[0])
POSTGRES_MIGRATIONS.sort(key=lambda migration: migration[0])
