-- Bulletins scheduled for later (notification.application.bulletins). A scheduled bulletin
-- keeps its filter and no recipients: they are worked out, and its emails recorded, in the
-- transaction that marks it sent, under the row's lock, so it is sent once however many
-- replicas' schedulers find it due.
ALTER TABLE bulletins ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'sent';
ALTER TABLE bulletins ADD COLUMN IF NOT EXISTS send_at timestamptz;
ALTER TABLE bulletins ADD COLUMN IF NOT EXISTS sent_at timestamptz;
ALTER TABLE bulletins ADD COLUMN IF NOT EXISTS sent_by text;
ALTER TABLE bulletins ADD COLUMN IF NOT EXISTS cancelled_at timestamptz;
ALTER TABLE bulletins ADD COLUMN IF NOT EXISTS cancelled_by text;
-- Unknown until it is sent.
ALTER TABLE bulletins ALTER COLUMN recipients DROP NOT NULL;
-- Those published before scheduling existed were sent when written.
UPDATE bulletins SET sent_at = created_at, sent_by = created_by WHERE sent_at IS NULL
    AND status = 'sent';
CREATE INDEX IF NOT EXISTS bulletins_due ON bulletins (send_at) WHERE status = 'scheduled';
