"""Bulk import of services: reading a CSV file of services, and what makes two lines (or a line
and a registered record) the same service. No I/O.

The CSV file (see docs/registration.md) is read by `import_files.read_csv` as the
organisations' is; its cells mean:

- `cycle`, `name`, `provider_id`, `contact_name`, `contact_email`: text, required;
- `service_type`: universal, targeted or specialist (case forgiven); `description`: text;
- `age_min`, `age_max`, `camhs_tier`: whole numbers (a tier only for a CAMHS service);
- `camhs`: yes or no (also true/false, y/n, 1/0; blank is no);
- `needs`, `commissioner_ids`: several values separated by `;`;
- `group_id`, `contact_phone`: optional; `service_id`: optional, a UUID.

What each record must satisfy is `ServiceDetails.problems`; this module only turns cells into
values, naming the column when a cell cannot be one.

**The same service.** A service is identified in a file by its cycle, provider, service group
and name (the name with case and spacing forgiven): two lines naming the same are a duplicate,
and a line naming a service already registered is either the same record again (nothing to do:
a retried import registers nothing twice) or a clash. A line without a `service_id` gets one
derived from that identity (`imported_service_id`), so even two imports of one file racing each
other write each record once: the event store refuses a second stream of the same id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from csm_contracts.events.directory import ServiceType

from .import_files import BadImport, RowProblem, enum_value, read_csv
from .service_record import ATTRIBUTES, ServiceDetails

__all__ = [
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "BadImport",
    "ParsedServices",
    "RowProblem",
    "ServiceKey",
    "ServiceLine",
    "csv_column",
    "imported_service_id",
    "in_csv_columns",
    "parse_csv",
    "service_key",
]

REQUIRED_COLUMNS = (
    "cycle",
    "name",
    "service_type",
    "age_min",
    "age_max",
    "provider_id",
    "contact_name",
    "contact_email",
)
OPTIONAL_COLUMNS = (
    "description",
    "needs",
    "camhs",
    "camhs_tier",
    "group_id",
    "commissioner_ids",
    "contact_phone",
    "service_id",
)
#: The columns in the template's order.
COLUMNS = (
    "cycle",
    "provider_id",
    "name",
    "description",
    "service_type",
    "age_min",
    "age_max",
    "needs",
    "camhs",
    "camhs_tier",
    "group_id",
    "commissioner_ids",
    "contact_name",
    "contact_email",
    "contact_phone",
    "service_id",
)
assert set(COLUMNS) == set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)

#: Namespace of the ids of imported services: uuid5(namespace, "<cycle>/<provider>/<group>/<name>").
IMPORT_NAMESPACE = uuid.UUID("3b0f7d5e-2a9c-5e61-8d0b-6c4e1f2a9b37")

_LIST = re.compile(r"\s*;\s*")
_CODES = re.compile(r"[;,\s]+")
_WHOLE = re.compile(r"^[+-]?\d+$")
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0", ""}

#: cycle, provider, group ("" for none), name with case and spacing forgiven.
ServiceKey = tuple[str, str, str, str]


def csv_column(field: str) -> str:
    """The CSV column of a field as the record's rules name it (`client_group.age_min` is
    `age_min`, `commissioner_ids.1` is `commissioner_ids`), so a CSV's problems name its
    own columns."""
    path = field.split(".")
    if path[-1].isdigit():
        path = path[:-1]
    return ATTRIBUTES.get(".".join(path), ".".join(path))


def in_csv_columns(problems: BadImport) -> BadImport:
    """The same refusal, its fields named as the CSV file's columns."""
    return BadImport(
        (RowProblem(p.line, csv_column(p.field), p.reason) for p in problems.problems),
        problems.message,
    )


def service_key(cycle: str, details: ServiceDetails) -> ServiceKey:
    """What makes two records the same service: cycle, provider, group and name."""
    name = " ".join(details.name.casefold().split())
    return (cycle, details.provider_id, details.group_id or "", name)


def imported_service_id(cycle: str, details: ServiceDetails) -> uuid.UUID:
    """The id an imported line without a `service_id` gets: the same service, the same id."""
    return uuid.uuid5(IMPORT_NAMESPACE, "/".join(service_key(cycle, details)))


@dataclass(frozen=True)
class ServiceLine:
    """One service of an import: the line it is on, and what it says."""

    line: int
    cycle: str
    details: ServiceDetails
    service_id: uuid.UUID | None = None


@dataclass
class ParsedServices:
    lines: list[ServiceLine] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    #: Lines read (with or without problems), blank ones left out.
    count: int = 0


def _whole_number(raw: str, what: str) -> tuple[int | None, str | None]:
    value = raw.strip()
    if not _WHOLE.match(value):
        return None, f"{value[:40]!r} is not a whole number of {what}"
    if len(value.lstrip("+-")) > 6:  # long before int() would mind: nothing here is that big
        return None, f"{value[:40]}{'...' if len(value) > 40 else ''} is far too large"
    return int(value), None


def _line(cells: Mapping[str, str], line: int) -> tuple[ServiceLine | None, list[RowProblem]]:
    problems: list[RowProblem] = []

    def cell(name: str) -> str:
        return cells.get(name, "").strip()

    def problem(name: str, reason: str) -> None:
        problems.append(RowProblem(line, name, reason))

    for name in REQUIRED_COLUMNS:
        if not cell(name):
            problem(name, "must not be blank")
    service_type, reason = enum_value(ServiceType, cell("service_type"), "a type of service")
    if reason is not None and cell("service_type"):
        problem("service_type", reason)
    ages: dict[str, int] = {}
    for name in ("age_min", "age_max"):
        if cell(name):
            value, reason = _whole_number(cell(name), "years")
            if reason is not None:
                problem(name, reason)
            elif value is not None:
                ages[name] = value
    camhs_cell = cell("camhs").lower()
    camhs = camhs_cell in _YES
    if camhs_cell not in _YES | _NO:
        problem("camhs", f"{cell('camhs')[:40]!r} is not yes or no")
    tier: int | None = None
    if cell("camhs_tier"):
        tier, reason = _whole_number(cell("camhs_tier"), "a tier (1 to 4)")
        if reason is not None:
            problem("camhs_tier", reason)
    service_id: uuid.UUID | None = None
    if cell("service_id"):
        try:
            service_id = uuid.UUID(cell("service_id"))
        except ValueError:
            problem("service_id", f"{cell('service_id')[:40]!r} is not a UUID (or leave it blank)")
    if problems or service_type is None:
        return None, problems
    details = ServiceDetails(
        name=cell("name"),
        description=cell("description"),
        service_type=service_type,
        age_min=ages["age_min"],
        age_max=ages["age_max"],
        needs=tuple(n for n in _LIST.split(cell("needs")) if n),
        camhs=camhs,
        camhs_tier=tier,
        group_id=cell("group_id") or None,
        provider_id=cell("provider_id"),
        commissioner_ids=tuple(c for c in _CODES.split(cell("commissioner_ids")) if c),
        contact_name=cell("contact_name"),
        contact_email=cell("contact_email"),
        contact_phone=cell("contact_phone") or None,
    )
    return ServiceLine(line, cell("cycle"), details, service_id), []


def parse_csv(data: bytes, *, max_rows: int) -> ParsedServices:
    """The services of a CSV file and the problems of its cells (the record's own rules are
    checked later, with everything else). Raises `BadImport` for a file that cannot be read
    as a whole."""
    table = read_csv(data, columns=COLUMNS, required=REQUIRED_COLUMNS, max_rows=max_rows)
    out = ParsedServices(problems=list(table.problems), count=len(table.rows))
    for row in table.rows:
        if row.cells is None:
            continue
        parsed, problems = _line(row.cells, row.line)
        out.problems.extend(problems)
        if parsed is not None:
            out.lines.append(parsed)
    return out
