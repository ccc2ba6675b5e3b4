-- Where the reported message was seen (as SQLite's 0006_report_seen).
ALTER TABLE reports ADD COLUMN seen_channel_id BIGINT;
ALTER TABLE reports ADD COLUMN seen_message_id BIGINT;
