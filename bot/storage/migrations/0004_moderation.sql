-- Quota tiers set by moderators per role, where a report was posted for moderators, audit
-- reasons, and indexes for the moderator views.
CREATE TABLE tiers (
    guild_id         INTEGER NOT NULL,
    role_id          INTEGER NOT NULL,
    name             TEXT NOT NULL,
    daily_units      INTEGER CHECK (daily_units >= 0),
    max_queued       INTEGER CHECK (max_queued >= 1),
    max_width        INTEGER CHECK (max_width >= 1),
    max_height       INTEGER CHECK (max_height >= 1),
    max_steps        INTEGER CHECK (max_steps >= 1),
    max_count        INTEGER CHECK (max_count >= 1),
    cooldown_seconds REAL CHECK (cooldown_seconds >= 0),
    priority         REAL NOT NULL DEFAULT 1 CHECK (priority > 0),
    updated_at       REAL NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

ALTER TABLE reports ADD COLUMN channel_id INTEGER;
ALTER TABLE reports ADD COLUMN message_id INTEGER;
CREATE INDEX reports_by_status ON reports (status, guild_id);

ALTER TABLE audit_log ADD COLUMN reason TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_by_time ON audit_log (created_at);

CREATE INDEX bans_by_guild ON bans (guild_id, lifted_at);
CREATE INDEX jobs_by_guild ON jobs (guild_id, finished_at);
