"""The hostile-input engine: schemathesis cases over a running app, sent as each identity, every
server error collected.

For each operation of an OpenAPI document, `plan` draws requests (Hypothesis, derandomized, so a
run is the same every time) in four variants:

- positive: what the schema allows (schemathesis);
- negative: what it does not (wrong types, missing fields, junk bodies: schemathesis);
- known: positive, with the path and query parameters that name something set to ids the
  seeded database holds, so requests reach real rows and not only 404s;
- hostile: no sampling: each hostile value (NUL, invalid UTF-8, a lone surrogate, CR/LF, a
  quote, a formula, controls, non-ASCII token-shaped text, 100,000 characters, numbers past 64
  bits) in each path, query and header parameter, each declared body field (one level down
  and list elements too) and as the whole body, over the known (else positive) cases.

`hostile_run` sends them and reports. `CSM_HOSTILE_EXAMPLES` scales the examples per operation
and variant.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

BASE_URL = "http://t"
#: Examples drawn per operation and variant (`CSM_HOSTILE_EXAMPLES` overrides).
DEFAULT_EXAMPLES = 6

#: Strings that broke something once, or that a careless server breaks on.
HOSTILE_TEXT: tuple[Any, ...] = (
    "\x00",
    "a\x00b",
    b"\xff\xfe\x00",  # invalid UTF-8 (query and path only: JSON cannot carry it)
    "\ud800",  # a lone surrogate: valid JSON, not encodable as UTF-8
    "line\r\nX-Injected: 1",
    'quote" and ; semicolon',
    '=HYPERLINK("http://x.example","x")',
    "=cmd|' /C calc'!A0",
    "' OR '1'='1",
    "../../../../etc/passwd",
    "<script>alert(1)</script>",
    "bell\x07 backspace\x08 escape\x1b[31m",  # C0 controls other than NUL
    "\u202eevil\ufeff",  # right-to-left override, byte-order mark
    "shaped.\u00e9t\u00e9",  # dotted like a link token (one id, a MAC), not ASCII
    "token.shaped.\u00e9t\u00e9",  # the same with two ids
    "x" * 100_000,
)
HOSTILE_NUMBERS: tuple[Any, ...] = (10**30, -(10**30), 2**63, -(2**63) - 1, 2**31, 1e308, -1)
HOSTILE = HOSTILE_TEXT + HOSTILE_NUMBERS
#: One of each kind, for a target whose every request is costly (the portal).
HOSTILE_FEW: tuple[Any, ...] = (
    "a\x00b",
    b"\xff\xfe\x00",
    "line\r\nX-Injected: 1",
    "token.shaped.\u00e9t\u00e9",
    "x" * 100_000,
    10**30,
)
#: Whole bodies: NUL escaped in JSON (one line of JSON lines too), raw NUL, invalid UTF-8.
HOSTILE_BODIES: tuple[bytes, ...] = (
    b'{"cycle": "2009-10", "name": "a\\u0000b", "code": "\\u0000"}\n',
    b'{"version": 100000000000000000000000000000}',
    b"\x00",
    b"\xff\xfe\x00\n",
    b"",
)


def examples() -> int:
    return int(os.environ.get("CSM_HOSTILE_EXAMPLES", DEFAULT_EXAMPLES))


@dataclass(frozen=True)
class Identity:
    """Who sends: a role's token, a delegate's link token, a portal session, or nobody."""

    name: str
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        """Nobody signed in (a portal browser still carries its form token)."""
        return self.name == "anonymous"


@dataclass(frozen=True)
class Planned:
    """One request, ready to send (the identity's credentials are added when it is sent)."""

    operation: str
    variant: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None

    def describe(self, limit: int = 300) -> str:
        body = "" if not self.body else f" body={self.body[:limit]!r}"
        if self.body and len(self.body) > limit:
            body += f"…({len(self.body)} bytes)"
        url = self.url if len(self.url) <= limit else f"{self.url[:limit]}…({len(self.url)})"
        return f"{self.method} {url.removeprefix(BASE_URL)}{body}  [{self.variant}]"


@dataclass
class Plan:
    requests: list[Planned] = field(default_factory=list)
    #: Operation and variant pairs that could not be generated (and why).
    problems: list[str] = field(default_factory=list)
    #: Drawn cases no HTTP client could send (e.g. a lone surrogate in a query string).
    unpreparable: int = 0
    #: The statuses each operation's OpenAPI documents ("METHOD /path" -> {"200", "404", …}).
    documented: dict[str, frozenset[str]] = field(default_factory=dict)


# --- planning -----------------------------------------------------------------------------


def plan(
    openapi: dict[str, Any],
    known: Mapping[str, Sequence[Any]],
    *,
    per_variant: int | None = None,
    per_operation: Mapping[str, int] | None = None,
    skip: Sequence[str] = (),
    values: Sequence[Any] = HOSTILE,
) -> Plan:
    """Requests for every operation of `openapi` (but those named in `skip`, "METHOD /path");
    `per_operation` gives some operations more examples than `per_variant`; `values` are the
    hostile values to try."""
    default = per_variant if per_variant is not None else examples()
    scale = default / DEFAULT_EXAMPLES
    schema = schemathesis.openapi.from_dict(openapi)
    out = Plan()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in skip:
            continue
        answers = openapi["paths"][operation.path][operation.method.lower()].get("responses", {})
        out.documented[label] = frozenset(str(status) for status in answers)
        wanted = (per_operation or {}).get(label)
        n = default if wanted is None else max(1, round(wanted * scale))
        drawn: dict[str, list[Any]] = {}
        for variant, strategy in _variants(operation, known):
            try:
                drawn[variant] = _draw(strategy, n)
            except Unsatisfiable:
                drawn[variant] = []
            except Exception as exc:  # schemathesis cannot build this variant
                out.problems.append(f"{label} [{variant}]: {type(exc).__name__}: {exc}")
                drawn[variant] = []
            if not drawn[variant]:
                out.problems.append(f"{label} [{variant}]: nothing could be generated")
        fields = declared_fields(openapi, operation.path, operation.method)
        bases = drawn.get("known") or drawn["positive"]
        drawn["hostile"] = _hostile(bases, fields, tuple(values))
        for variant, cases in drawn.items():
            for case, mutation in cases:
                planned = _prepare(label, variant, case, mutation)
                if planned is None:
                    out.unpreparable += 1
                else:
                    out.requests.append(planned)
    return out


def _variants(operation: Any, known: Mapping[str, Sequence[Any]]) -> list[tuple[str, Any]]:
    positive = operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    negative = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    variants = [
        ("positive", positive.map(lambda c: (c, None))),
        ("negative", negative.map(lambda c: (c, None))),
    ]
    names = {p.name for p in operation.path_parameters} | {p.name for p in operation.query}
    if names & known.keys():
        variants.append(("known", _known(positive, known)))
    return variants


def _known(positive: Any, known: Mapping[str, Sequence[Any]]) -> Any:
    @st.composite
    def draw(draw: Any) -> tuple[Any, None]:
        case = draw(positive)
        path = dict(case.path_parameters or {})
        for name in sorted(path):
            if name in known:
                path[name] = draw(st.sampled_from(list(known[name])))
        case.path_parameters = path
        query = dict(case.query or {})
        for p in case.operation.query:
            if p.name in known and draw(st.booleans()):
                query[p.name] = draw(st.sampled_from(list(known[p.name])))
        case.query = query
        return case, None

    return draw()


def _hostile(
    bases: Sequence[tuple[Any, None]], fields: set[tuple[str, ...]], values: tuple[Any, ...]
) -> list[tuple[Any, tuple[str, Any, Any]]]:
    """Every hostile value in every slot (path and query parameters, top-level body fields,
    the whole body): no sampling, so each value reaches each parameter every run. The values
    take turns over the drawn cases (other ids, reports, formats); a body field's over the
    cases that have it. Numbers go where numbers are, text where text is."""
    if not bases:
        return []
    cases = [case for case, _ in bases]
    operation = cases[0].operation
    slots: dict[tuple[str, Any], tuple[list[Any], tuple[Any, ...]]] = {}
    for p in operation.path_parameters:
        slots[("path", p.name)] = (cases, values)
    for p in operation.query:
        slots[("query", p.name)] = (cases, values)
    for p in operation.headers:  # text a header can carry (Latin-1, no line break)
        sendable = tuple(v for v in values if _header_safe(v))
        slots[("header", p.name)] = (cases, sendable)
    for case in cases:
        for field_path, like in _body_slots(case.body, values):
            if field_path not in fields:
                continue  # an extra field schemathesis made up: one request each is enough
            having, _ = slots.setdefault(("body", field_path), ([], like))
            having.append(case)
    if cases[0].method.upper() in ("POST", "PUT", "PATCH"):
        slots[("raw", "")] = (cases, HOSTILE_BODIES)  # the whole body, whatever its schema
    if not slots:
        slots[("query", "q")] = (cases, values)  # undeclared: the app must ignore it
    out = []
    for (where, name), (having, values) in slots.items():
        if where == "body":  # JSON cannot carry bytes
            values = tuple(
                v
                for v in values
                if not isinstance(v, bytes | list)
                or (isinstance(v, list) and not isinstance(v[0], bytes))
            )
        out += [(having[i % len(having)], (where, name, v)) for i, v in enumerate(values)]
    return out


def declared_fields(openapi: dict[str, Any], path: str, method: str) -> set[tuple[str, ...]]:
    """The JSON body's declared fields: top-level, one level down, and list elements ("[]")."""
    operation = openapi["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {})
    schema = next(iter(content.values()), {}).get("schema", {})
    out: set[tuple[str, ...]] = set()
    for name, sub in _properties(openapi, schema).items():
        out.add((name,))
        out |= {(name, inner) for inner in _properties(openapi, sub)}
        if any(s.get("type") == "array" for s in _alternatives(openapi, sub)):
            out.add((name, "[]"))
    return out


def _alternatives(openapi: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    subs = [schema]
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            subs += _alternatives(openapi, sub)
    return subs


def _properties(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for sub in _alternatives(openapi, schema):
        props.update(sub.get("properties", {}))
    return props


def _body_slots(
    body: Any, values: tuple[Any, ...]
) -> list[tuple[tuple[str, ...], tuple[Any, ...]]]:
    """The fields of a JSON body worth a hostile value: top-level ones, those of objects one
    level down, and lists of plain values (as a one-element list), with the values for each."""
    out: list[tuple[tuple[str, ...], tuple[Any, ...]]] = []
    for key, value in sorted(body.items()) if isinstance(body, dict) else ():
        out.append(((key,), _values_like(value, values)))
        if isinstance(value, dict):
            out += [((key, k), _values_like(v, values)) for k, v in sorted(value.items())]
        elif isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
            like = _values_like(value[0], values) if value else values
            out.append(((key, "[]"), tuple([v] for v in like)))
    return out


def _header_safe(value: Any) -> bool:
    if not isinstance(value, str) or re.search(r"[\r\n\x00]", value) or len(value) > 8000:
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _values_like(value: Any, values: tuple[Any, ...]) -> tuple[Any, ...]:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return values
    numbers = isinstance(value, int | float)
    return tuple(v for v in values if isinstance(v, int | float) == numbers)


def _draw(strategy: Any, n: int) -> list[Any]:
    found: list[Any] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(item: Any) -> None:
        found.append(item)

    collect()
    return found


def _prepare(label: str, variant: str, case: Any, mutation: Any) -> Planned | None:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    if mutation is not None:
        _mutate(kwargs, case, *mutation)
    kwargs["headers"] = {
        k: v for k, v in kwargs["headers"].items() if not k.lower().startswith("x-schemathesis")
    }
    try:
        prepared = requests.Request(**kwargs).prepare()
    except Exception:  # no client could send it (e.g. a header that is not Latin-1)
        return None
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    return Planned(
        label, variant, prepared.method or "GET", prepared.url or "", dict(prepared.headers), body
    )


def _set(body: dict[str, Any], field_path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `body` with the field at `field_path` set ("[]": the list's one element)."""
    head, *rest = field_path
    if not rest:
        return {**body, head: value}
    if rest == ["[]"]:
        return {**body, head: value}  # the value is already a one-element list
    return {**body, head: _set(dict(body[head]), tuple(rest), value)}


def _mutate(kwargs: dict[str, Any], case: Any, where: str, name: Any, value: Any) -> None:
    if where == "raw":
        kwargs.pop("json", None)
        kwargs.pop("files", None)
        kwargs["data"] = value
    elif where == "query":
        kwargs["params"] = {**(kwargs.get("params") or {}), name: value}
    elif where == "header":
        kwargs["headers"] = {**kwargs["headers"], name: value}
    elif where == "body":
        key = "json" if "json" in kwargs else "data"  # JSON, or a form (the portal)
        kwargs[key] = _set(kwargs[key], name, value)
    else:  # a path segment: format the template ourselves, the hostile value percent-encoded
        params = {k: str(v) for k, v in (case.path_parameters or {}).items()}
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")
        path = case.operation.path
        for k, v in params.items():
            path = path.replace("{" + k + "}", quote(raw if k == name else v, safe=""))
        scheme, netloc, _, query, frag = urlsplit(kwargs["url"])
        kwargs["url"] = urlunsplit((scheme, netloc, path, query, frag))
