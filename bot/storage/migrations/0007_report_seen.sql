-- Where the reported message was seen (a /show re-post may be in another server than the job):
-- the report goes to that server's moderators, and their Delete removes that message.
ALTER TABLE reports ADD COLUMN seen_channel_id INTEGER;
ALTER TABLE reports ADD COLUMN seen_message_id INTEGER;
