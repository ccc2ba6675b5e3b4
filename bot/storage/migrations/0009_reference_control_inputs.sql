-- A request's reference images (kind 'reference', idx 0, 1, ... in the order of its references)
-- and its control image (kind 'control', idx 0) join the mask and an edit's further images in
-- job_input_extras. SQLite cannot change a CHECK in place, so the table is rebuilt.
CREATE TABLE job_input_extras_new (
    job_id INTEGER NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    kind   TEXT NOT NULL CHECK (kind IN ('mask', 'image', 'reference', 'control')),
    idx    INTEGER NOT NULL,
    image  BLOB NOT NULL,
    PRIMARY KEY (job_id, kind, idx)
);
INSERT INTO job_input_extras_new (job_id, kind, idx, image)
    SELECT job_id, kind, idx, image FROM job_input_extras;
DROP TABLE job_input_extras;
ALTER TABLE job_input_extras_new RENAME TO job_input_extras;
