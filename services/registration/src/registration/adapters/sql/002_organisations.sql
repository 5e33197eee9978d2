-- The organisation list: a read model of the organisation streams for the national team's
-- listing and the bulk import, written in the same transaction as the events it reflects
-- (registration.adapters.organisations_postgres). The event store stays the truth: this table
-- can be rebuilt from it (`rebuild_organisation_list`), and every append still checks the
-- stream version a decision was made from.
CREATE TABLE organisations (
    code                    text        PRIMARY KEY,
    version                 int         NOT NULL,
    name                    text        NOT NULL,
    kind                    text        NOT NULL,
    region                  text        NOT NULL,
    partnership_areas       text[]      NOT NULL DEFAULT '{}',
    linked_organisation_id  text,
    mapped_by               text,
    registered_at           timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL
);

CREATE INDEX organisations_region ON organisations (region, code);
CREATE INDEX organisations_kind ON organisations (kind, code);
CREATE INDEX organisations_partnership_areas ON organisations USING gin (partnership_areas);

-- Organisations registered before this table existed: OrganisationRegistered was the only
-- organisation event then, so each stream is that one event.
INSERT INTO organisations (
    code, version, name, kind, region, partnership_areas, linked_organisation_id, mapped_by,
    registered_at, updated_at
)
SELECT data->>'code', stream_version, data->>'name', data->>'kind', data->>'region',
       ARRAY(SELECT json_array_elements_text(coalesce(data->'partnership_areas', '[]'::json))),
       data->>'linked_organisation_id', data->>'mapped_by', occurred_at, occurred_at
  FROM events
 WHERE type = 'registration.OrganisationRegistered'
ON CONFLICT (code) DO NOTHING;
