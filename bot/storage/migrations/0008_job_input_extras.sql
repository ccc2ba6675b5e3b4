-- An edit's or a repaint's further input images, beside job_inputs' init image: the mask of an
-- inpaint or outpaint (kind 'mask', idx 0) and the extra images of an edit (kind 'image', idx
-- 0, 1, ... in the request's order). Pruned with job_inputs by retention.
CREATE TABLE job_input_extras (
    job_id INTEGER NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    kind   TEXT NOT NULL CHECK (kind IN ('mask', 'image')),
    idx    INTEGER NOT NULL,
    image  BLOB NOT NULL,
    PRIMARY KEY (job_id, kind, idx)
);
