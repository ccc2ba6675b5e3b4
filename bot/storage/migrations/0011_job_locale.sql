-- The language a job's requester reads (bot.i18n), so results and failures posted later,
-- with no interaction to ask, are written in it. NULL: English.
ALTER TABLE jobs ADD COLUMN locale TEXT;
