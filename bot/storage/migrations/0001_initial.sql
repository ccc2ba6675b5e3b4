-- Users, preferences, jobs and their results, deliveries, the quota ledger.
CREATE TABLE users (
    user_id      INTEGER PRIMARY KEY,
    created_at   REAL NOT NULL,
    last_job_at  REAL,
    fair_finish  REAL NOT NULL DEFAULT 0
);

CREATE TABLE user_preferences (
    user_id          INTEGER PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    model            TEXT,
    width            INTEGER,
    height           INTEGER,
    negative_prompt  TEXT,
    private_delivery INTEGER NOT NULL DEFAULT 0,
    updated_at       REAL NOT NULL
);

CREATE TABLE jobs (
    job_id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          INTEGER NOT NULL REFERENCES users (user_id),
    guild_id         INTEGER,
    channel_id       INTEGER,
    origin           TEXT NOT NULL,
    provider         TEXT NOT NULL,
    model            TEXT NOT NULL,
    batch_key        TEXT NOT NULL DEFAULT '',
    request          TEXT NOT NULL,
    target           TEXT NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    timeout_seconds  REAL NOT NULL,
    fair_tag         REAL NOT NULL,
    priority         REAL NOT NULL DEFAULT 1,
    cost             INTEGER NOT NULL,
    quota_scope      INTEGER NOT NULL,
    quota_period     TEXT NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    not_before       REAL NOT NULL DEFAULT 0,
    error            TEXT,
    created_at       REAL NOT NULL,
    started_at       REAL,
    finished_at      REAL,
    delivered        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_queue ON jobs (status, fair_tag, job_id);
CREATE INDEX jobs_by_user ON jobs (user_id, status);

CREATE TABLE job_inputs (
    job_id INTEGER PRIMARY KEY REFERENCES jobs (job_id) ON DELETE CASCADE,
    image  BLOB NOT NULL
);

CREATE TABLE job_images (
    job_id INTEGER NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    idx    INTEGER NOT NULL,
    seed   INTEGER,
    path   TEXT NOT NULL,
    width  INTEGER NOT NULL,
    height INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
);

CREATE TABLE deliveries (
    job_id       INTEGER PRIMARY KEY REFERENCES jobs (job_id) ON DELETE CASCADE,
    delivered_at REAL NOT NULL,
    reference    TEXT
);

-- Append-only. units > 0 consume, units < 0 give back; a period is a UTC day.
CREATE TABLE quota_ledger (
    entry_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL,
    scope      INTEGER NOT NULL,
    period     TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('reserve', 'commit', 'refund', 'grant', 'reset')),
    units      INTEGER NOT NULL,
    job_id     INTEGER,
    actor_id   INTEGER,
    note       TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX quota_usage ON quota_ledger (user_id, scope, period);
CREATE UNIQUE INDEX quota_job_entry ON quota_ledger (job_id, kind) WHERE job_id IS NOT NULL;

CREATE TABLE scheduler_state (
    key   TEXT PRIMARY KEY,
    value REAL NOT NULL
);
INSERT INTO scheduler_state (key, value) VALUES ('virtual_time', 0);
