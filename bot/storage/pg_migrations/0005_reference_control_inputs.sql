-- Reference and control images in job_input_extras (as SQLite's 0009_reference_control_inputs).
ALTER TABLE job_input_extras DROP CONSTRAINT job_input_extras_kind_check;
ALTER TABLE job_input_extras ADD CONSTRAINT job_input_extras_kind_check
    CHECK (kind IN ('mask', 'image', 'reference', 'control'));
