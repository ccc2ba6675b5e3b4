-- Providers paused (jobs wait) or disabled (requests refused) at run time, '*' for the whole
-- queue; per-member daily allowances set by moderators.
CREATE TABLE provider_states (
    provider   TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('paused', 'disabled')),
    actor_id   INTEGER NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);

CREATE TABLE member_quotas (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    daily_units INTEGER NOT NULL CHECK (daily_units >= 0),
    actor_id    INTEGER NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
