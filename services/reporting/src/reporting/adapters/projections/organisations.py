"""Organisations as registration announced them: kind, region, partnership areas, lead."""

from __future__ import annotations

from ...application.projection import Projection

DDL = """
CREATE TABLE organisations (
    organisation_id        text PRIMARY KEY,
    code                   text NOT NULL,
    name                   text NOT NULL,
    kind                   text NOT NULL,
    region                 text NOT NULL,
    partnership_areas      text[] NOT NULL DEFAULT '{}',
    linked_organisation_id text,
    lead_account_id        text,
    lead_name              text,
    registered_at          timestamptz NOT NULL,
    -- How many events shaped this row: a redelivered or replayed event must not move it.
    applied_events         int NOT NULL DEFAULT 0
);
CREATE INDEX organisations_kind ON organisations (kind);
CREATE INDEX organisations_region ON organisations (region);
CREATE INDEX organisations_areas ON organisations USING gin (partnership_areas);
"""

_IN_RANGE = "j.seq > $1 AND j.seq <= $2"

STATEMENTS = (
    # Registration first: every later statement updates rows it may have just created.
    f"""
    INSERT INTO organisations (organisation_id, code, name, kind, region, partnership_areas,
                               linked_organisation_id, registered_at, applied_events)
    SELECT j.key, j.data->>'code', j.data->>'name', j.data->>'kind', j.data->>'region',
           ARRAY(SELECT jsonb_array_elements_text(coalesce(j.data->'partnership_areas', '[]'))),
           j.data->>'linked_organisation_id', j.occurred_at, 1
      FROM journal j
     WHERE {_IN_RANGE} AND j.type = 'registration.OrganisationRegistered'
    ON CONFLICT (organisation_id) DO NOTHING
    """,
    # Each later fact: the last one in the range wins, and every event is counted once.
    f"""
    UPDATE organisations o
       SET name = x.name, applied_events = o.applied_events + x.n
      FROM (SELECT j.key, (array_agg(j.data->>'new_name' ORDER BY j.seq DESC))[1] AS name,
                   count(*) AS n
              FROM journal j
             WHERE {_IN_RANGE} AND j.type = 'registration.OrganisationRenamed'
             GROUP BY j.key) x
     WHERE o.organisation_id = x.key
    """,
    f"""
    UPDATE organisations o
       SET partnership_areas = ARRAY(SELECT jsonb_array_elements_text(x.areas)),
           applied_events = o.applied_events + x.n
      FROM (SELECT j.key, (array_agg(j.data->'new_partnership_areas' ORDER BY j.seq DESC))[1]
                          AS areas,
                   count(*) AS n
              FROM journal j
             WHERE {_IN_RANGE} AND j.type = 'registration.PartnershipAreasChanged'
             GROUP BY j.key) x
     WHERE o.organisation_id = x.key
    """,
    f"""
    UPDATE organisations o
       SET linked_organisation_id = x.linked, applied_events = o.applied_events + x.n
      FROM (SELECT j.key, (array_agg(j.data->>'linked_organisation_id' ORDER BY j.seq DESC))[1]
                          AS linked,
                   count(*) AS n
              FROM journal j
             WHERE {_IN_RANGE} AND j.type = 'registration.OrganisationLinked'
             GROUP BY j.key) x
     WHERE o.organisation_id = x.key
    """,
    f"""
    UPDATE organisations o
       SET lead_account_id = x.account_id, lead_name = x.name,
           applied_events = o.applied_events + x.n
      FROM (SELECT j.key,
                   (array_agg(j.data->>'account_id' ORDER BY j.seq DESC))[1] AS account_id,
                   (array_agg(j.data->>'name' ORDER BY j.seq DESC))[1] AS name,
                   count(*) AS n
              FROM journal j
             WHERE {_IN_RANGE} AND j.type = 'registration.MappingLeadNominated'
             GROUP BY j.key) x
     WHERE o.organisation_id = x.key
    """,
)

PROJECTION = Projection(
    name="organisations",
    description="Every organisation: kind, region, partnership areas, link and mapping lead.",
    reads=frozenset(
        {
            "registration.OrganisationRegistered",
            "registration.OrganisationRenamed",
            "registration.PartnershipAreasChanged",
            "registration.OrganisationLinked",
            "registration.MappingLeadNominated",
        }
    ),
    ddl=DDL,
    statements=STATEMENTS,
    tables=("organisations",),
)
