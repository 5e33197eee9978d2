"""`csm-traces`: the slowest and the failed requests, and one trace as a tree, without Docker.

Every service of `make run` writes its spans to one file in the OTLP JSON form
(`CSM_TRACES_FILE`, by default `var/traces/spans.jsonl`: `csm_kernel.observability`), which any
OpenTelemetry tool reads (the collector's `otlpjsonfile` receiver, then Jaeger or Tempo). This
reads it directly:

    csm-traces slowest [--since 60] [-n 20]    requests of the last hour, slowest first
    csm-traces failed  [--since 60] [-n 20]    traces with an error (a 5xx, an exception)
    csm-traces show TRACE_ID                   one trace as a tree, across services

A request is a SERVER span whose parent is not in the file (the portal's page, or a call from
outside); what it caused (calls to other services, the events its consumers handled, the
queries) hangs below it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: OTLP's span kinds, by number.
KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
ERROR = 2


@dataclass
class Span:
    """One span, read back from OTLP JSON."""

    service: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start: int
    end: int
    status: int = 0
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) / 1e6

    @property
    def failed(self) -> bool:
        return self.status == ERROR


def default_file() -> Path:
    """`CSM_TRACES_FILE`, else where `make run` writes (`$CSM_VAR_DIR/traces/spans.jsonl`)."""
    configured = os.environ.get("CSM_TRACES_FILE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("CSM_VAR_DIR", "var")) / "traces" / "spans.jsonl"


def _value(any_value: dict[str, Any]) -> Any:
    for kind, value in any_value.items():
        if kind == "intValue":
            return int(value)
        if kind == "arrayValue":
            return [_value(v) for v in value.get("values", [])]
        return value
    return None


def _attributes(items: Iterable[dict[str, Any]] | None) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items or ()}


def parse(request: dict[str, Any]) -> Iterator[Span]:
    """The spans of one OTLP JSON `ExportTraceServiceRequest`."""
    for resource_spans in request.get("resourceSpans", []):
        resource = _attributes(resource_spans.get("resource", {}).get("attributes"))
        service = str(resource.get("service.name", "?"))
        for scope_spans in resource_spans.get("scopeSpans", []):
            for s in scope_spans.get("spans", []):
                status = s.get("status", {})
                yield Span(
                    service=service,
                    trace_id=s["traceId"],
                    span_id=s["spanId"],
                    parent_span_id=s.get("parentSpanId") or None,
                    name=s.get("name", ""),
                    kind=KINDS.get(int(s.get("kind", 0)), "?"),
                    start=int(s.get("startTimeUnixNano", 0)),
                    end=int(s.get("endTimeUnixNano", 0)),
                    status=int(status.get("code", 0)),
                    status_message=status.get("message", ""),
                    attributes=_attributes(s.get("attributes")),
                    events=[e.get("name", "") for e in s.get("events", [])],
                )


def read_spans(path: Path, *, since_ns: int = 0) -> list[Span]:
    """Every span in an OTLP JSON lines file that ended after `since_ns` (a line that cannot
    be read, such as one being written, is skipped)."""
    spans: list[Span] = []
    if not path.exists():
        return spans
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                request = json.loads(line)
            except ValueError:
                continue
            spans.extend(s for s in parse(request) if s.end >= since_ns)
    return spans


def requests(spans: list[Span]) -> list[Span]:
    """The SERVER spans that start a trace here (their parent is not among `spans`)."""
    known = {s.span_id for s in spans}
    return [
        s
        for s in spans
        if s.kind == "SERVER" and (s.parent_span_id is None or s.parent_span_id not in known)
    ]


def slowest(spans: list[Span], limit: int) -> list[Span]:
    """The slowest requests, slowest first."""
    return sorted(requests(spans), key=lambda s: s.duration_ms, reverse=True)[:limit]


def failed(spans: list[Span], limit: int) -> list[tuple[Span, Span]]:
    """Traces with an error, newest first: (the trace's first span, the first failed span)."""
    by_trace: dict[str, list[Span]] = {}
    for s in spans:
        by_trace.setdefault(s.trace_id, []).append(s)
    found = []
    for trace_spans in by_trace.values():
        errors = sorted((s for s in trace_spans if s.failed), key=lambda s: s.start)
        if errors:
            first = min(trace_spans, key=lambda s: s.start)
            found.append((first, errors[0]))
    return sorted(found, key=lambda pair: pair[0].start, reverse=True)[:limit]


def tree(spans: list[Span], trace_id: str) -> list[str]:
    """The lines of one trace as a tree: offset from the trace's start, duration, service,
    kind, name and what matters of its attributes; a span whose parent is not in the file
    starts a branch of its own."""
    mine = [s for s in spans if s.trace_id.startswith(trace_id)]
    if not mine:
        return []
    ids = {s.span_id for s in mine}
    children: dict[str | None, list[Span]] = {}
    for s in mine:
        parent = s.parent_span_id if s.parent_span_id in ids else None
        children.setdefault(parent, []).append(s)
    origin = min(s.start for s in mine)
    lines = [f"trace {mine[0].trace_id}  ({len(mine)} spans)"]

    def walk(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda s: s.start):
            offset = (s.start - origin) / 1e6
            mark = (
                "  ERROR" + (f" {s.status_message}" if s.status_message else "") if s.failed else ""
            )
            lines.append(
                f"{offset:9.1f} ms {s.duration_ms:9.1f} ms  {'  ' * depth}"
                f"{s.service} {s.kind.lower()} {s.name}{_details(s)}{mark}"
            )
            walk(s.span_id, depth + 1)

    walk(None, 0)
    return lines


#: The attributes a tree line shows, by the short name it shows them under.
_SHOWN = {
    "http.response.status_code": "status",
    "messaging.destination.name": "topic",
    "messaging.destination.partition.id": "partition",
    "messaging.kafka.offset": "offset",
    "messaging.batch.message_count": "messages",
    "db.operation.name": "op",
    "error.type": "error",
}


def _details(span: Span) -> str:
    shown = [f"{short}={span.attributes[k]}" for k, short in _SHOWN.items() if k in span.attributes]
    return f"  [{' '.join(shown)}]" if shown else ""


def _request_line(span: Span) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(span.start / 1e9))
    status = span.attributes.get("http.response.status_code", "")
    return (
        f"{when}  {span.duration_ms:9.1f} ms  {status!s:>3}  {span.service:<14} "
        f"{span.name:<50} {span.trace_id}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="csm-traces",
        description="The slowest and failed requests, and one trace as a tree, read from the "
        "OTLP JSON spans the services write (CSM_TRACES_FILE).",
    )
    parser.add_argument(
        "--file", type=Path, default=None, help=f"spans file (default: {default_file()})"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, what in (
        ("slowest", "the slowest requests, slowest first"),
        ("failed", "traces with an error, newest first"),
    ):
        listing = sub.add_parser(name, help=what)
        listing.add_argument("--since", type=float, default=60, help="minutes back (default 60)")
        listing.add_argument("-n", type=int, default=20, help="how many (default 20)")
    show = sub.add_parser("show", help="one trace as a tree across services")
    show.add_argument("trace_id", help="the trace id (or its first characters)")
    args = parser.parse_args(argv)
    path: Path = args.file or default_file()
    if not path.exists():
        print(f"csm-traces: no spans at {path} (is CSM_TRACES_FILE set?)", file=sys.stderr)
        return 1
    if args.command == "show":
        lines = tree(read_spans(path), args.trace_id)
        if not lines:
            print(f"csm-traces: no trace {args.trace_id} in {path}", file=sys.stderr)
            return 1
        print("\n".join(lines))
        return 0
    since = time.time_ns() - int(args.since * 60e9)
    spans = read_spans(path, since_ns=since)
    if args.command == "slowest":
        for span in slowest(spans, args.n):
            print(_request_line(span))
        return 0
    for first, error in failed(spans, args.n):
        print(f"{_request_line(first)}\n    failed: {error.service} {error.name}{_details(error)}")
    return 0
