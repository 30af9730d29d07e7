"""The state schema, as numbered migrations applied in order and recorded in ``meta``.

Each migration is a list of statements; ``{serial}`` is the dialect's auto-increment
primary key, ``{big}`` its 64-bit integer and ``{real}`` its double-precision float. A store
opened on an older file applies the missing migrations in one transaction (history kept); a
file from a newer crmseg is refused rather than misread.
"""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    # 1: runs, sync state, local copy, recorded tags, transitions, snapshots, locks
    [
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE runs (
            id {serial}, sync TEXT NOT NULL, mode TEXT NOT NULL, status TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT,
            n_read {big} NOT NULL DEFAULT 0, n_evaluated {big} NOT NULL DEFAULT 0,
            n_changed {big} NOT NULL DEFAULT 0, n_written {big} NOT NULL DEFAULT 0,
            n_failed {big} NOT NULL DEFAULT 0, n_pinned {big} NOT NULL DEFAULT 0,
            n_api_calls {big} NOT NULL DEFAULT 0,
            watermark_before TEXT, watermark_after TEXT, rules_fingerprint TEXT,
            message TEXT, holder TEXT)""",
        "CREATE INDEX runs_sync ON runs (sync, id)",
        """CREATE TABLE sync_state (
            sync TEXT PRIMARY KEY, watermark TEXT, rules_fingerprint TEXT, read_fingerprint TEXT,
            last_full_at TEXT)""",
        """CREATE TABLE accounts (
            sync TEXT NOT NULL, account TEXT NOT NULL, data TEXT NOT NULL,
            present INTEGER NOT NULL DEFAULT 1, seen_run {big} NOT NULL,
            PRIMARY KEY (sync, account))""",
        """CREATE TABLE tags (
            sync TEXT NOT NULL, account TEXT NOT NULL, dimension TEXT NOT NULL, value TEXT,
            rule TEXT, run {big} NOT NULL, at TEXT NOT NULL,
            PRIMARY KEY (sync, account, dimension))""",
        """CREATE TABLE transitions (
            id {serial}, sync TEXT NOT NULL, account TEXT NOT NULL, dimension TEXT NOT NULL,
            from_value TEXT, to_value TEXT, rule TEXT, run {big} NOT NULL, at TEXT NOT NULL)""",
        "CREATE INDEX transitions_sync_run ON transitions (sync, run)",
        """CREATE TABLE snapshots (
            sync TEXT NOT NULL, run {big} NOT NULL, dimension TEXT NOT NULL, label TEXT NOT NULL,
            n {big} NOT NULL, PRIMARY KEY (sync, run, dimension, label))""",
        """CREATE TABLE locks (
            sync TEXT PRIMARY KEY, holder TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
            acquired_at TEXT NOT NULL, expires_at TEXT NOT NULL)""",
    ],
    # 2: the write outbox, per-record errors, blocked counts, API allowance and drift alerts on runs
    [
        """CREATE TABLE outbox (
            sync TEXT NOT NULL, account TEXT NOT NULL, run {big} NOT NULL, dims TEXT NOT NULL,
            fields TEXT NOT NULL, PRIMARY KEY (sync, account))""",
        """CREATE TABLE record_errors (
            sync TEXT NOT NULL, account TEXT NOT NULL, error TEXT NOT NULL, permanent INTEGER NOT NULL,
            attempts INTEGER NOT NULL, targets TEXT NOT NULL, first_run {big}, last_run {big}, at TEXT,
            PRIMARY KEY (sync, account))""",
        "ALTER TABLE runs ADD COLUMN n_blocked {big} NOT NULL DEFAULT 0",
        "ALTER TABLE runs ADD COLUMN api_remaining {big}",
        "ALTER TABLE runs ADD COLUMN drift_alert TEXT",
    ],
    # 3: the CRM a sync's state belongs to (``kind:id``, and where it was, for messages); existing
    # states have none and adopt the CRM of their next run
    [
        "ALTER TABLE sync_state ADD COLUMN crm_identity TEXT",
        "ALTER TABLE sync_state ADD COLUMN crm_where TEXT",
    ],
    # 4: what a running daemon tells other processes (``status``): per sync, the rules it runs
    # and an edit it rejected (problems as JSON), and its schedule under a renewed expiry
    [
        """CREATE TABLE rule_status (
            sync TEXT PRIMARY KEY, fingerprint TEXT, since TEXT, rejected_fingerprint TEXT,
            rejected_at TEXT, rejected_problems TEXT, reporter TEXT NOT NULL, updated_at TEXT NOT NULL)""",
        """CREATE TABLE schedules (
            sync TEXT NOT NULL, holder TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
            next_run TEXT, expires_at TEXT NOT NULL, PRIMARY KEY (sync, holder))""",
    ],
    # 5: ``first_eval`` marks a transition logged at an account's first evaluation of a dimension
    # (no tag recorded for it yet): drift shows those out of ``(none)`` as the initial load, not as
    # moves. Rows logged before have no such record; the first move of an account and dimension out
    # of ``(none)`` that is not a CRM edit is taken for its first evaluation.
    [
        "ALTER TABLE transitions ADD COLUMN first_eval INTEGER",
        """UPDATE transitions SET first_eval = 1
            WHERE from_value IS NULL AND (rule IS NULL OR rule <> '(crm edit)')
            AND id IN (SELECT MIN(id) FROM transitions GROUP BY sync, account, dimension)""",
    ],
    # 6: deals (one row per deal, updated in place; ``seen_run`` finds the deals a full read no
    # longer returned), their account index (counts of deals whose account crmseg never saw), and
    # the deals' own watermark. Additive: every existing table and row stays as it is.
    [
        """CREATE TABLE deals (
            sync TEXT NOT NULL, deal TEXT NOT NULL, account TEXT, status TEXT NOT NULL, amount {real},
            currency TEXT, created_at TEXT NOT NULL, closed_at TEXT, stage TEXT, pipeline TEXT, type TEXT,
            extra TEXT NOT NULL, seen_run {big} NOT NULL, PRIMARY KEY (sync, deal))""",
        "CREATE INDEX deals_account ON deals (sync, account)",
        "ALTER TABLE sync_state ADD COLUMN deals_watermark TEXT",
    ],
    # 7: change tracking's delta link (Dataverse), where the next incremental read of a sync goes
    # on from; None for every existing state (its next run reads in full if it tracks changes)
    [
        "ALTER TABLE sync_state ADD COLUMN delta_link TEXT",
    ],
]

#: The schema version this crmseg writes.
VERSION = len(MIGRATIONS)
