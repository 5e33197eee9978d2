"""Bulk import of organisations from a CSV file: reading the file and deciding what it changes.

No I/O: `parse` turns the bytes into rows (or problems), `plan` compares the rows with the
organisations as they are and decides every event, or reports every problem. The application
layer loads the organisations and appends the plan in one transaction.

The file (see docs/registration.md):

- UTF-8 (a byte-order mark is fine), comma-separated, a header row first.
- Columns, in any order: `code`, `name`, `kind`, `region` (required), and `partnership_areas`,
  `linked_organisation_id`, `mapped_by` (optional; a missing column reads as blank cells).
  Header names are matched ignoring case, surrounding blanks, and `-`/space for `_`.
- `kind` and `region` take the API's values (`nhs-trust-acute`, `yorkshire-and-the-humber`);
  case, spaces and underscores are forgiven ("Yorkshire and the Humber").
- `partnership_areas`: area codes separated by `;` (or spaces).
- Blank lines, and lines whose cells are all blank, are skipped.

Semantics: a row is the whole truth about its organisation. A new code is registered; for a
registered one, a different name is a rename and different areas an areas change; a blank link
leaves the link alone; a different kind, region or lead organisation is refused. A row equal to
the current state changes nothing, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from csm_contracts.events import OrganisationKind, Region
from csm_contracts.registry import EventPayload

from .commands import RegisterOrganisation
from .import_files import BadImport, RowProblem, enum_value, read_csv
from .organisation import Organisation, OrganisationChange
from .organisation_rules import (
    MAPPED_KINDS,
    PCT_PARTS,
    Problem,
    code_reason,
    name_reason,
    reference_problems,
    without_repeats,
)

__all__ = ["BadImport", "ImportPlan", "ImportRow", "ParsedFile", "RowProblem", "parse", "plan"]

REQUIRED_COLUMNS = ("code", "name", "kind", "region")
OPTIONAL_COLUMNS = ("partnership_areas", "linked_organisation_id", "mapped_by")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: What separates the area codes in the `partnership_areas` cell.
_AREA_SEPARATORS = re.compile(r"[;,\s]+")


@dataclass(frozen=True)
class ImportRow:
    """A row of the file: where it is, the code it names (if readable), and the command it
    reads as (None when a cell could not be read; its problems are reported)."""

    line: int
    code: str | None
    command: RegisterOrganisation | None


@dataclass
class ParsedFile:
    rows: list[ImportRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def _row(cells: Mapping[str, str], line: int) -> tuple[ImportRow, list[RowProblem]]:
    problems: list[RowProblem] = []

    def problem(name: str, reason: str) -> None:
        problems.append(RowProblem(line, name, reason))

    def code(name: str, *, required: bool) -> str | None:
        value = cells.get(name, "").strip()
        if not value:
            if required:
                problem(name, "must not be blank")
            return None
        reason = code_reason(value)
        if reason is not None:
            problem(name, reason)
            return None
        return value

    own = code("code", required=True)
    name = cells.get("name", "").strip()
    reason = name_reason(name)
    if reason is not None:
        problem("name", reason)
    kind, reason = enum_value(OrganisationKind, cells.get("kind", ""), "a kind of organisation")
    if reason is not None:
        problem("kind", reason)
    region, reason = enum_value(Region, cells.get("region", ""), "an English region")
    if reason is not None:
        problem("region", reason)
    areas = []
    for area in _AREA_SEPARATORS.split(cells.get("partnership_areas", "").strip()):
        if not area:
            continue
        reason = code_reason(area)
        if reason is not None:
            problem("partnership_areas", reason)
        areas.append(area)
    link = code("linked_organisation_id", required=False)
    lead = code("mapped_by", required=False)
    if problems or own is None or kind is None or region is None:
        return ImportRow(line, own, None), problems
    command = RegisterOrganisation(
        code=own,
        name=name,
        kind=kind,
        region=region,
        partnership_areas=tuple(areas),
        linked_organisation_id=link,
        mapped_by=lead,
    )
    return ImportRow(line, own, command), []


def parse(data: bytes, *, max_rows: int) -> ParsedFile:
    """Read a CSV file into rows and the problems of its cells.

    Raises `BadImport` at once for a file that cannot be read as a whole (not UTF-8, no
    header, wrong columns, too many rows)."""
    table = read_csv(data, columns=COLUMNS, required=REQUIRED_COLUMNS, max_rows=max_rows)
    out = ParsedFile(problems=list(table.problems))
    for csv_row in table.rows:
        if csv_row.cells is None:
            out.rows.append(ImportRow(csv_row.line, None, None))
            continue
        row, problems = _row(csv_row.cells, csv_row.line)
        out.rows.append(row)
        out.problems.extend(problems)
    return out


@dataclass
class ImportPlan:
    """What an import changes: the changes in the order they are appended, and which codes
    it registers, changes and leaves as they are."""

    changes: list[OrganisationChange] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def event_count(self) -> int:
        return sum(len(c.events) for c in self.changes)


def referenced_codes(parsed: ParsedFile) -> set[str]:
    """Every code the file names (its rows' and the ones they refer to): what to load."""
    codes: set[str] = set()
    for row in parsed.rows:
        if row.code is not None:
            codes.add(row.code)
        if row.command is not None:
            codes |= row.command.references()
    return codes


def plan(parsed: ParsedFile, current: Mapping[str, Organisation]) -> ImportPlan:
    """Decide the events that make the organisations look like the file's rows.

    `current` holds the registered organisations among `referenced_codes(parsed)`. Raises
    `BadImport` with every problem of every row (and nothing is decided) if there is any."""
    problems = list(parsed.problems)
    lines: dict[str, int] = {}
    rejected: set[str] = set()  # codes of rows with problems of their own
    readable: dict[str, ImportRow] = {}
    for row in parsed.rows:
        if row.code is None:
            continue
        if row.code in lines:
            problems.append(
                RowProblem(row.line, "code", f"{row.code} is already on line {lines[row.code]}")
            )
            continue
        lines[row.code] = row.line
        if row.command is None:
            rejected.add(row.code)
        else:
            readable[row.code] = row

    commands = _fill_links({c: r.command for c, r in readable.items() if r.command}, current)

    # The organisations as they will be once every acceptable row is applied.
    known: dict[str, Organisation] = dict(current)
    events: dict[str, list[EventPayload]] = {}
    own_problems: dict[str, list[Problem]] = {}
    for code, cmd in commands.items():
        org = current.get(code) or Organisation(code=code)
        own_problems[code] = org.reconciliation_problems(cmd)
        if own_problems[code]:
            rejected.add(code)
        else:
            events[code] = org.reconcile(cmd)
            known[code] = org.evolved(events[code])

    # References, in file order; a link to a part that is not in the file is made mutual.
    back_links: dict[str, OrganisationChange] = {}
    for code, cmd in commands.items():
        line = lines[code]
        found = without_repeats(_references(cmd, known, lines, rejected), own_problems[code])
        link = cmd.linked_organisation_id
        if not found and code not in rejected and link is not None and link not in lines:
            other = known[link]
            if other.linked_organisation_id is None:
                change = OrganisationChange(other, tuple(other.link(code)))
                back_links[link] = change
                known[link] = change.after()
        problems.extend(RowProblem(line, p.field, p.reason) for p in own_problems[code])
        problems.extend(RowProblem(line, p.field, p.reason) for p in found)
    if problems:
        raise BadImport(problems)

    out = ImportPlan()
    # Lead organisations before the providers they map, then the far ends of new links.
    for code in sorted(commands, key=lambda c: (commands[c].kind in MAPPED_KINDS, lines[c])):
        if code not in current:
            out.registered.append(code)
        elif events[code]:
            out.changed.append(code)
        else:
            out.unchanged.append(code)
        if events[code]:
            before = current.get(code) or Organisation(code=code)
            out.changes.append(OrganisationChange(before, tuple(events[code])))
    for code, change in back_links.items():
        out.changed.append(code)
        out.changes.append(change)
    return out


def _fill_links(
    commands: dict[str, RegisterOrganisation], current: Mapping[str, Organisation]
) -> dict[str, RegisterOrganisation]:
    """Where a row names another row's organisation as its linked part and that row leaves
    the link blank (and the organisation is not linked yet), the link is read as mutual."""
    out = dict(commands)
    for code, cmd in commands.items():
        link = cmd.linked_organisation_id
        other = out.get(link) if link is not None else None
        if link is None or other is None or other.linked_organisation_id is not None:
            continue
        registered = current.get(link)
        if registered is None or registered.linked_organisation_id is None:
            out[link] = dataclasses.replace(other, linked_organisation_id=code)
    return out


def _references(
    cmd: RegisterOrganisation,
    known: Mapping[str, Organisation],
    lines: Mapping[str, int],
    rejected: set[str],
) -> list[Problem]:
    """The reference problems of a row, leaving out second-hand ones (naming a row that has
    problems of its own) and saying which line a mismatched link is on."""
    found = []
    link = cmd.linked_organisation_id
    for p in reference_problems(cmd, known):
        if p.field == "mapped_by" and cmd.mapped_by in rejected:
            continue
        if p.field == "linked_organisation_id" and link in rejected:
            continue
        if p.field == "linked_organisation_id" and link is not None and link in lines:
            other = known[link]
            if other.kind is PCT_PARTS.get(cmd.kind) and other.linked_organisation_id not in (
                None,
                cmd.code,
            ):
                p = Problem(
                    p.field,
                    f"{link} (line {lines[link]}) is linked to {other.linked_organisation_id}, "
                    f"not to {cmd.code}",
                )
        found.append(p)
    return found
