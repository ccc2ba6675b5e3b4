-- A job whose result is a text rather than images (a /describe caption) keeps it here.
ALTER TABLE jobs ADD COLUMN result_text TEXT;
