-- An edit's or a repaint's further input images (as SQLite's 0008_job_input_extras).
CREATE TABLE job_input_extras (
    job_id BIGINT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    kind   TEXT NOT NULL CHECK (kind IN ('mask', 'image')),
    idx    INTEGER NOT NULL,
    image  BYTEA NOT NULL,
    PRIMARY KEY (job_id, kind, idx)
);
