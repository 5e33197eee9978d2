-- A carried-forward service's record in the cycle it was carried from (ServiceCarriedForward's
-- previous_service_id and previous_cycle), so its questionnaire can bring last year's answers in.
-- Null for a service registered new, and for services carried forward before this migration
-- (their link was not kept).
ALTER TABLE known_services
    ADD COLUMN IF NOT EXISTS previous_service_id text,
    ADD COLUMN IF NOT EXISTS previous_cycle      text;
