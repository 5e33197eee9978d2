"""The directory of services, per cycle: every field, where it came from and whether checked.

One row per service record. A record carried forward into a new cycle is a new row (its own
service id) pointing at last year's row, so "what changed since last year" is both the
revisions recorded on the row and a comparison with the row it was carried from.

Status is what last happened to the record: `registered` (new this cycle),
`carried-forward-unchecked`, `confirmed`, `revised` or `withdrawn`. A carried-forward record is
checked by its first confirmation, revision or withdrawal; a new one needs no check.
"""

from __future__ import annotations

from ...application.projection import Projection

REGISTERED = "registration.ServiceRegistered"
CARRIED = "registration.ServiceCarriedForward"
REVISED = "registration.ServiceRevised"
CONFIRMED = "registration.ServiceConfirmed"
WITHDRAWN = "registration.ServiceWithdrawn"

#: The full-text document of a service row; reports must use this exact expression for the
#: planner to use the index built on it.
SEARCH_VECTOR = (
    "(setweight(to_tsvector('english'::regconfig, name), 'A')"
    " || setweight(to_tsvector('english'::regconfig, description), 'B'))"
)

DDL = f"""
-- The shape the payload's lists are read into (see _FIELDS).
CREATE TYPE dir_lists AS (needs text[], commissioner_ids text[]);

CREATE TABLE dir_services (
    service_id          text PRIMARY KEY,
    cycle               text NOT NULL,
    organisation_id     text NOT NULL,
    name                text NOT NULL,
    description         text NOT NULL,
    service_type        text NOT NULL,
    age_min             int NOT NULL,
    age_max             int NOT NULL,
    needs               text[] NOT NULL DEFAULT '{{}}',
    camhs               boolean NOT NULL DEFAULT false,
    camhs_tier          int,
    group_id            text,
    provider_id         text NOT NULL,
    commissioner_ids    text[] NOT NULL DEFAULT '{{}}',
    contact_name        text NOT NULL,
    contact_email       text NOT NULL,
    contact_phone       text,
    origin              text NOT NULL,     -- registered | carried-forward
    status              text NOT NULL,
    registered_at       timestamptz NOT NULL,
    checked_at          timestamptz,
    confirmed_at        timestamptz,
    revisions           int NOT NULL DEFAULT 0,
    last_revised_at     timestamptz,
    -- Every ServiceRevised change in order: field, old, new, at.
    changes             jsonb NOT NULL DEFAULT '[]',
    withdrawn_at        timestamptz,
    withdrawn_reason    text,
    previous_service_id text,
    previous_cycle      text,
    updated_at          timestamptz NOT NULL,
    applied_events      int NOT NULL DEFAULT 0
) WITH (fillfactor = 85);
ALTER TABLE dir_services ALTER COLUMN description SET STATISTICS 0,
                         ALTER COLUMN changes SET STATISTICS 0;
CREATE INDEX dir_services_cycle_provider ON dir_services (cycle, provider_id);
CREATE INDEX dir_services_provider ON dir_services (provider_id, cycle);
CREATE INDEX dir_services_commissioners ON dir_services USING gin (commissioner_ids);
-- pg_trgm is not assumed (a projection's DDL must not install extensions into its own
-- schema, which a rebuild drops): built-in full-text search, on an expression rather than a
-- stored column, so an update that leaves name and description alone need not recompute it.
CREATE INDEX dir_services_search ON dir_services USING gin ({SEARCH_VECTOR});
-- No statistics on the long texts and the search document: nothing selects on the description
-- or the revisions, and a search's plan does not depend on how common its words are (it ORs
-- the match with a substring of the name, which no index serves). Gathering them took 0.6 s
-- of the 1.6 s that ANALYZE of the rebuilt table took, most of it computing the document again.
ALTER INDEX dir_services_search ALTER COLUMN 1 SET STATISTICS 0;
CREATE INDEX dir_services_previous ON dir_services (previous_service_id);
"""

_IN_RANGE = "j.seq > $1 AND j.seq <= $2"

# A record's fields, from a ServiceRegistered / ServiceCarriedForward payload `j.data`. The two
# lists are read by jsonb_populate_record into `dir_lists` (a JSON array of strings becomes a
# text[] in one call, without a subquery per row).
_FIELDS = """
    j.data->>'service_id', j.data->>'cycle', j.key, j.data->>'name', j.data->>'description',
    j.data->>'service_type', (j.data->'client_group'->>'age_min')::int,
    (j.data->'client_group'->>'age_max')::int,
    coalesce((jsonb_populate_record(NULL::dir_lists, j.data->'client_group')).needs, '{}'),
    coalesce((j.data->>'camhs')::boolean, false), (j.data->>'camhs_tier')::int,
    j.data->>'group_id', j.data->>'provider_id',
    coalesce((jsonb_populate_record(NULL::dir_lists, j.data)).commissioner_ids, '{}'),
    j.data->'contact'->>'name', j.data->'contact'->>'email', j.data->'contact'->>'phone'
"""

_COLUMNS = """
    service_id, cycle, organisation_id, name, description, service_type, age_min, age_max,
    needs, camhs, camhs_tier, group_id, provider_id, commissioner_ids, contact_name,
    contact_email, contact_phone
"""


def _field(path: str, column: str, cast: str = "") -> str:
    """`column` set from the range's last revision of `path` when one changed it (a revision
    may set a field to null, so presence of the key, not its value, decides)."""
    value = f"(x.f->>'{path}'){cast}"
    return f"{column} = CASE WHEN x.f ? '{path}' THEN {value} ELSE s.{column} END"


def _array_field(path: str, column: str) -> str:
    value = f"ARRAY(SELECT jsonb_array_elements_text(coalesce(x.f->'{path}', '[]')))"
    return f"{column} = CASE WHEN x.f ? '{path}' THEN {value} ELSE s.{column} END"


STATEMENTS = (
    # Records first: every later statement updates rows the range may have just created. A
    # stream starts with exactly one of these, so a service id never appears twice.
    f"""
    INSERT INTO dir_services ({_COLUMNS}, origin, status, registered_at, checked_at,
                              previous_service_id, previous_cycle, updated_at, applied_events)
    SELECT {_FIELDS},
           CASE WHEN j.type = '{CARRIED}' THEN 'carried-forward' ELSE 'registered' END,
           CASE WHEN j.type = '{CARRIED}' THEN 'carried-forward-unchecked' ELSE 'registered' END,
           j.occurred_at,
           CASE WHEN j.type = '{REGISTERED}' THEN j.occurred_at END,
           j.data->>'previous_service_id', j.data->>'previous_cycle', j.occurred_at, 1
      FROM journal j
     WHERE {_IN_RANGE} AND j.type IN ('{REGISTERED}', '{CARRIED}')
    ON CONFLICT (service_id) DO NOTHING
    """,
    # Everything after the record's first event, in one pass (one new row version each): per
    # field the range's last revision wins and every change is kept in order; whatever
    # happened last decides the status; the first check of a carried-forward record is when
    # it was checked. Ordered aggregates all run in seq order, so one sort serves them all.
    f"""
    UPDATE dir_services s
       SET {_field("name", "name")}, {_field("description", "description")},
           {_field("service_type", "service_type")},
           {_field("client_group.age_min", "age_min", "::int")},
           {_field("client_group.age_max", "age_max", "::int")},
           {_array_field("client_group.needs", "needs")},
           {_field("camhs", "camhs", "::boolean")},
           {_field("camhs_tier", "camhs_tier", "::int")},
           {_field("group_id", "group_id")}, {_field("provider_id", "provider_id")},
           {_array_field("commissioner_ids", "commissioner_ids")},
           {_field("contact.name", "contact_name")}, {_field("contact.email", "contact_email")},
           {_field("contact.phone", "contact_phone")},
           changes = CASE WHEN x.changes IS NULL THEN s.changes ELSE s.changes || x.changes END,
           revisions = s.revisions + x.revisions,
           last_revised_at = coalesce(x.last_revised_at, s.last_revised_at),
           withdrawn_at = coalesce(x.withdrawn_at, s.withdrawn_at),
           withdrawn_reason = coalesce(x.withdrawn_reason, s.withdrawn_reason),
           status = x.statuses[cardinality(x.statuses)],
           confirmed_at = coalesce(x.confirmed_at, s.confirmed_at),
           checked_at = CASE WHEN s.origin = 'carried-forward'
                             THEN coalesce(s.checked_at, x.times[1]) ELSE s.checked_at END,
           updated_at = x.times[cardinality(x.times)],
           applied_events = s.applied_events + x.n
      FROM (SELECT e.*, r.f, r.changes
              FROM (SELECT j.data->>'service_id' AS service_id,
                           array_agg(CASE j.type WHEN '{REVISED}' THEN 'revised'
                                                 WHEN '{CONFIRMED}' THEN 'confirmed'
                                                 ELSE 'withdrawn' END ORDER BY j.seq)
                               AS statuses,
                           array_agg(j.occurred_at ORDER BY j.seq) AS times,
                           max(j.occurred_at) FILTER (WHERE j.type = '{CONFIRMED}')
                               AS confirmed_at,
                           max(j.occurred_at) FILTER (WHERE j.type = '{REVISED}')
                               AS last_revised_at,
                           count(*) FILTER (WHERE j.type = '{REVISED}') AS revisions,
                           max(j.occurred_at) FILTER (WHERE j.type = '{WITHDRAWN}')
                               AS withdrawn_at,
                           max(j.data->>'reason') FILTER (WHERE j.type = '{WITHDRAWN}')
                               AS withdrawn_reason,
                           count(*) AS n
                      FROM journal j
                     WHERE {_IN_RANGE}
                       AND j.type IN ('{REVISED}', '{CONFIRMED}', '{WITHDRAWN}')
                     GROUP BY 1) e
              LEFT JOIN (
                    SELECT c.service_id,
                           jsonb_object_agg(c.field, c.new) FILTER (WHERE c.last) AS f,
                           jsonb_agg(jsonb_build_object('field', c.field, 'old', c.old,
                                                        'new', c.new, 'at', c.at)
                                     ORDER BY c.seq, c.ord) AS changes
                      FROM (SELECT j.data->>'service_id' AS service_id, j.seq, e.ord,
                                   e.c->>'field' AS field, e.c->'old' AS old, e.c->'new' AS new,
                                   j.occurred_at AS at,
                                   row_number() OVER (PARTITION BY j.data->>'service_id',
                                                                   e.c->>'field'
                                                      ORDER BY j.seq DESC, e.ord DESC) = 1
                                       AS last
                              FROM journal j
                             CROSS JOIN LATERAL jsonb_array_elements(j.data->'changes')
                                   WITH ORDINALITY AS e(c, ord)
                             WHERE {_IN_RANGE} AND j.type = '{REVISED}') c
                     GROUP BY c.service_id) r ON r.service_id = e.service_id) x
     WHERE s.service_id = x.service_id
    """,
)

PROJECTION = Projection(
    name="directory",
    description="The directory of services per cycle: fields, provider, commissioners, status, "
    "check and revisions, and the record each was carried forward from.",
    reads=frozenset({REGISTERED, CARRIED, REVISED, CONFIRMED, WITHDRAWN}),
    ddl=DDL,
    statements=STATEMENTS,
    tables=("dir_services",),
)
