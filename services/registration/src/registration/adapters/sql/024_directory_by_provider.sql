-- A bulk import of services looks up what its providers already have in its cycles (to find
-- lines that repeat a registered service): by provider and cycle, not a scan of every record.
CREATE INDEX directory_services_provider ON directory_services (provider_id, cycle);
