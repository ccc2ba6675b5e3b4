-- Whether the output classifier flagged an image, for the NSFW policy at delivery.
ALTER TABLE job_images ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
