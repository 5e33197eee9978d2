-- A services file that passed its dry run, kept so its confirmation need not send it again
-- (a national file is ~25 MB): the confirmation names it by `upload_id`. Only the person who
-- checked it may import it; files are kept a day.
CREATE TABLE service_import_uploads (
    upload_id  uuid PRIMARY KEY,
    actor      text        NOT NULL,
    media_type text        NOT NULL,
    body       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX service_import_uploads_created ON service_import_uploads (created_at);
