-- Saved styles: a member's own (scope 'member', owner_id their user id) and a server's, which
-- its moderators keep for everyone there (scope 'guild', owner_id the guild id). Names are
-- stored normalised (lower case); prompt is a suffix, or a template holding {prompt}; params
-- are inline --params, checked when saved. A member's default style is kept by name.
CREATE TABLE styles (
    scope      TEXT NOT NULL CHECK (scope IN ('member', 'guild')),
    owner_id   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    prompt     TEXT NOT NULL DEFAULT '',
    negative   TEXT NOT NULL DEFAULT '',
    params     TEXT NOT NULL DEFAULT '',
    actor_id   INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (scope, owner_id, name)
);
ALTER TABLE user_preferences ADD COLUMN style TEXT;
