-- The directory of services: an inline read model of the `service-<uuid>` streams, written in
-- the same transaction as each append (the event store stays the truth; this table can be
-- rebuilt from it). One row per service record and cycle.

-- array_to_string is only STABLE (it works for any array type); for text[] it is immutable,
-- which a generated column needs.
CREATE FUNCTION directory_words(text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT array_to_string($1, ' ') $$;

CREATE TABLE directory_services (
    service_id          uuid PRIMARY KEY,
    version             int      NOT NULL,
    cycle               text     NOT NULL,
    status              text     NOT NULL,
    name                text     NOT NULL,
    description         text     NOT NULL,
    service_type        text     NOT NULL,
    age_min             smallint NOT NULL,
    age_max             smallint NOT NULL,
    needs               text[]   NOT NULL,
    camhs               boolean  NOT NULL,
    camhs_tier          smallint,
    group_id            text,
    provider_id         text     NOT NULL,
    commissioner_ids    text[]   NOT NULL,
    -- provider then commissioners: whose leads see the record
    organisation_ids    text[]   NOT NULL,
    -- the provider's LA partnership areas, as its organisation stream said at write time
    areas               text[]   NOT NULL,
    contact_name        text     NOT NULL,
    contact_email       text     NOT NULL,
    contact_phone       text,
    previous_service_id uuid,
    previous_cycle      text,
    search              tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A')
        || setweight(to_tsvector('english', description), 'B')
        || setweight(to_tsvector('english', directory_words(needs)), 'C')
    ) STORED
);

CREATE INDEX directory_services_search ON directory_services USING gin (search);
CREATE INDEX directory_services_areas ON directory_services USING gin (areas);
CREATE INDEX directory_services_organisations ON directory_services USING gin (organisation_ids);
CREATE INDEX directory_services_name ON directory_services (name, service_id);
CREATE INDEX directory_services_cycle ON directory_services (cycle, status);
CREATE INDEX directory_services_group ON directory_services (group_id) WHERE group_id IS NOT NULL;
CREATE INDEX directory_services_type ON directory_services (service_type, name);
CREATE INDEX directory_services_tier ON directory_services (camhs_tier, name)
    WHERE camhs_tier IS NOT NULL;
CREATE INDEX directory_services_age ON directory_services (age_min, age_max);
-- One carried-forward record per previous record and cycle.
CREATE UNIQUE INDEX directory_services_carried ON directory_services (previous_service_id, cycle)
    WHERE previous_service_id IS NOT NULL;
