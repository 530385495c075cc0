-- A reminder may broadcast each occurrence to a topic of its app instead of its user, and name a
-- notification type (docs/audiences.md).
ALTER TABLE reminders ADD COLUMN topic text;
ALTER TABLE reminders ADD COLUMN type text;
