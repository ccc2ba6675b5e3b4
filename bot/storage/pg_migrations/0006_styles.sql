-- Saved styles and a member's default style (as SQLite's 0010_styles).
CREATE TABLE styles (
    scope      TEXT NOT NULL CHECK (scope IN ('member', 'guild')),
    owner_id   BIGINT NOT NULL,
    name       TEXT NOT NULL,
    prompt     TEXT NOT NULL DEFAULT '',
    negative   TEXT NOT NULL DEFAULT '',
    params     TEXT NOT NULL DEFAULT '',
    actor_id   BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (scope, owner_id, name)
);
ALTER TABLE user_preferences ADD COLUMN style TEXT;
