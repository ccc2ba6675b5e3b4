-- Guild and channel settings, moderation and the audit log; finished jobs by duration for ETAs.
CREATE TABLE guild_settings (
    guild_id   INTEGER PRIMARY KEY,
    settings   TEXT NOT NULL DEFAULT '{}',
    updated_at REAL NOT NULL
);

CREATE TABLE channel_settings (
    channel_id INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    settings   TEXT NOT NULL DEFAULT '{}',
    updated_at REAL NOT NULL
);

CREATE TABLE bans (
    ban_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL,
    guild_id   INTEGER,
    reason     TEXT NOT NULL DEFAULT '',
    actor_id   INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    lifted_at  REAL
);
CREATE INDEX bans_by_user ON bans (user_id, guild_id);

CREATE TABLE blocked_terms (
    term_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER,
    pattern    TEXT NOT NULL,
    is_regex   INTEGER NOT NULL DEFAULT 0,
    actor_id   INTEGER NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (guild_id, pattern)
);

CREATE TABLE reports (
    report_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER REFERENCES jobs (job_id) ON DELETE SET NULL,
    guild_id    INTEGER,
    reporter_id INTEGER NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'dismissed')),
    created_at  REAL NOT NULL,
    resolved_at REAL,
    resolver_id INTEGER
);

CREATE TABLE audit_log (
    entry_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER,
    actor_id   INTEGER NOT NULL,
    action     TEXT NOT NULL,
    target_id  INTEGER,
    details    TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
CREATE INDEX audit_by_guild ON audit_log (guild_id, created_at);

CREATE INDEX jobs_durations ON jobs (provider, model, finished_at) WHERE status = 'succeeded';
