"""Adding many services from one file (CSV or JSON lines): the columns as the page documents
them, the downloadable template, which format a file is in, and the first services of a file
to show on the preview. Registration checks every line (its dry run); nothing here decides
whether a line is good.

Pure functions over bytes and text."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from .bulk_files import as_text


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    what: str


#: The CSV columns, in the template's order (registration's `domain/service_import.COLUMNS`).
COLUMNS = (
    Column("cycle", True, "The cycle, like 2009-10"),
    Column("provider_id", True, "The ODS code of the organisation that provides the service"),
    Column("name", True, "The service's name, up to 200 characters"),
    Column("description", False, "What the service does, up to 4,000 characters"),
    Column("service_type", True, "universal, targeted or specialist"),
    Column("age_min", True, "The youngest age served, in whole years from 0 to 25"),
    Column("age_max", True, "The oldest age served, in whole years from 0 to 25"),
    Column("needs", False, "Needs it serves, separated by semicolons (at most 20)"),
    Column("camhs", False, "yes for a child and adolescent mental health service, else no"),
    Column("camhs_tier", False, "For a CAMHS service only, and then required: 1, 2, 3 or 4"),
    Column("group_id", False, "A service group (locality) of the provider or a commissioner"),
    Column("commissioner_ids", False, "ODS codes of its commissioners, separated by semicolons"),
    Column("contact_name", True, "Who to contact about the service"),
    Column("contact_email", True, "Their email address"),
    Column("contact_phone", False, "Their phone number"),
    Column("service_id", False, "Leave blank; registration gives each service its id"),
)

#: The downloadable template: the header and two example lines.
TEMPLATE = (
    ",".join(c.name for c in COLUMNS) + "\r\n"
    "2009-10,5A4,School nursing,Health checks and advice in schools,universal,5,16,"
    "school health,no,,,00BR,Sam Lee,sam.lee@example.nhs.uk,0161 555 0101,\r\n"
    "2009-10,5A4,Tier 3 CAMHS,Specialist mental health clinic,specialist,0,18,"
    "mental health;eating disorders,yes,3,,00BR,Pat Jones,pat.jones@example.nhs.uk,,\r\n"
)

CSV = "text/csv; charset=utf-8"
JSON_LINES = "application/x-ndjson"


def media_type_of(filename: str, raw: bytes) -> str:
    """CSV or JSON lines: by the file's name, else by its first character."""
    name = filename.lower()
    if name.endswith(".csv"):
        return CSV
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return JSON_LINES
    return JSON_LINES if raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{" else CSV


@dataclass(frozen=True)
class Sample:
    line: int
    name: str
    provider: str
    service_type: str
    ages: str
    camhs_tier: str


def _sample(line: int, v: dict[str, object]) -> Sample:
    group = v.get("client_group") if isinstance(v.get("client_group"), dict) else None
    ages = (
        (group.get("age_min"), group.get("age_max"))
        if isinstance(group, dict)
        else (v.get("age_min"), v.get("age_max"))
    )
    tier = v.get("camhs_tier")
    return Sample(
        line=line,
        name=str(v.get("name") or ""),
        provider=str(v.get("provider_id") or ""),
        service_type=str(v.get("service_type") or ""),
        ages=f"{ages[0]} to {ages[1]}",
        camhs_tier=f"Tier {tier}" if tier not in (None, "") else "No",
    )


def first_services(raw: bytes, media_type: str, count: int = 20) -> list[Sample]:
    """The first `count` services of a file, as the preview lists them (the file has been
    checked by registration already)."""
    text = as_text(raw) or ""
    out: list[Sample] = []
    if media_type == JSON_LINES:
        for n, raw_line in enumerate(text.split("\n"), start=1):
            if len(out) >= count:
                break
            if raw_line.strip():
                value = json.loads(raw_line)
                out.append(_sample(n, value if isinstance(value, dict) else {}))
        return out
    reader = csv.DictReader(io.StringIO(text, newline=""))
    reader.fieldnames = [f.strip().lower().replace(" ", "_") for f in reader.fieldnames or []]
    start = 2
    for row in reader:
        line, start = start, reader.line_num + 1
        if len(out) >= count:
            break
        if any((c or "").strip() for c in row.values() if isinstance(c, str)):
            out.append(_sample(line, {k: (v or "").strip() for k, v in row.items() if k}))
    return out
