"""What a request carries that PostgreSQL text cannot hold, found by field (see `csm_kernel.edge`).

Each function takes raw bytes (a path, a query string, a body) and returns the problems as the
kernel's error details, `{"field": ..., "reason": ...}` (JSON lines add `line`); none when the
input is clean. Each starts with byte scans that clear clean input without parsing it.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.routing import Match

from .request_tracing import Scope
from .text import unstorable_reason

NUL_REASON = "must not contain the NUL character (U+0000)"
UTF8_REASON = "must be valid UTF-8 text"

# A percent-encoded NUL or non-ASCII byte: only then is a path or query string decoded.
_SUSPECT_URL = re.compile(rb"%(?:00|[89a-fA-F][0-9a-fA-F])|\x00")
# A raw NUL, or a JSON escape of NUL or of a surrogate (a pair is fine; parsing tells).
_SUSPECT_JSON = re.compile(rb"\x00|\\u0000|\\u[dD][89a-fA-F]")
_NDJSON = {
    "application/x-ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/json-seq",
}
#: Most values (object members and array items) a JSON body may hold: a questionnaire's
#: answers are a few hundred, a bulletin's list of organisations at most 10,000.
MAX_JSON_VALUES = 100_000
#: X-Correlation-Id: what a correlation id looks like (it goes into every event appended).
CORRELATION_ID = re.compile(r"[!-~]{1,200}")


def _clean_url(raw: bytes) -> bool:
    """Surely clean: no NUL, no raw byte over 0x7F, no percent-encoded NUL or such byte.
    `in` and `isascii` are memchr-fast; the regular expression runs only on a `%`."""
    return (
        raw.isascii() and b"\x00" not in raw and (b"%" not in raw or not _SUSPECT_URL.search(raw))
    )


def _clean_json(body: bytes) -> bool:
    """Surely clean JSON text: no NUL byte, no `\\u` escape that could be NUL or a surrogate,
    valid UTF-8. Most bodies have no backslash at all (UTF-8 clients escape nothing but quotes
    and control characters), so the regular expression rarely runs."""
    if b"\x00" in body or (b"\\" in body and _SUSPECT_JSON.search(body)):
        return False
    return bytes_reason(body) is None


def problem(field: str, reason: str, **extra: Any) -> dict[str, Any]:
    """One error detail, as the kernel's error body lists them."""
    return {"field": field, "reason": reason, **extra}


def shown(raw: bytes | str) -> str:
    """A name as it can be shown: NUL as \\x00, bytes that are not UTF-8 as \\xNN."""
    text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
    return text.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")


def bytes_reason(raw: bytes) -> str | None:
    """Why raw text cannot be stored: a NUL byte, or bytes that are not UTF-8 (None: fine)."""
    if b"\x00" in raw:
        return NUL_REASON
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return UTF8_REASON
    return None


# --- the URL ------------------------------------------------------------------------------------


def path_problems(scope: Scope) -> list[dict[str, Any]]:
    """The request path's problem, naming the route's parameter (`path.<name>`)."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    raw = raw.split(b"?", 1)[0]  # some servers (httpx's ASGI transport) leave the query on
    if _clean_url(raw):
        return []
    reason = bytes_reason(unquote_to_bytes(raw))
    if reason is None:
        return []
    return [problem(_path_field(scope), reason)]


def _path_field(scope: Scope) -> str:
    """`path.<parameter>` of the route the path matches, for the parameter holding the bad
    text (servers decode a bad path with NUL kept and invalid bytes as U+FFFD)."""
    found = matching_route(scope)
    if found is not None:
        for name, value in found[1].items():
            if isinstance(value, str) and ("\x00" in value or "\ufffd" in value):
                return f"path.{name}"
    return "path"


def matching_route(scope: Scope) -> tuple[Any, dict[str, Any]] | None:
    """The route of the app in `scope` that takes this request, and its path parameters,
    before the app's own routing has run (only asked of a request about to be refused)."""
    app = scope.get("app")
    for route in _leaves(getattr(getattr(app, "router", None), "routes", ())):
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, dict(child.get("path_params", {}))
    return None


def _leaves(routes: Any) -> Iterator[Any]:
    for route in routes:
        # FastAPI keeps an included router as one entry: its own routes are the leaves.
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaves(inner.routes)
        else:
            yield route


def _pairs(raw: bytes) -> Iterator[tuple[bytes, bytes]]:
    for part in raw.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            yield (
                unquote_to_bytes(name.replace(b"+", b" ")),
                unquote_to_bytes(value.replace(b"+", b" ")),
            )


def urlencoded_problems(raw: bytes, prefix: str) -> list[dict[str, Any]]:
    """Problems in a query string or an urlencoded form, by name (`prefix` + name)."""
    if _clean_url(raw):
        return []
    problems = []
    for name, value in _pairs(raw):
        reason = bytes_reason(name)
        if reason is not None:
            problems.append(problem(f"{prefix}{shown(name)}", f"the name {reason}"))
        elif (reason := bytes_reason(value)) is not None:
            problems.append(problem(f"{prefix}{name.decode()}", reason))
    return problems


def header_problems(scope: Scope) -> list[dict[str, Any]]:
    """An `X-Correlation-Id` that is not a short printable token (it goes into events)."""
    for name, value in scope["headers"]:
        if name == b"x-correlation-id" and not CORRELATION_ID.fullmatch(value.decode("latin-1")):
            reason = "at most 200 visible ASCII characters"
            return [problem("header.x-correlation-id", reason)]
    return []


# --- bodies -------------------------------------------------------------------------------------


def _media_type(content_type: bytes | None) -> str:
    if content_type is None:
        return ""
    return content_type.split(b";", 1)[0].strip().lower().decode("latin-1")


def _is_json(media_type: str) -> bool:
    return media_type in ("", "application/json") or media_type.endswith("+json")


def _json_problems(body: bytes) -> list[dict[str, Any]]:
    if _clean_json(body):
        return []
    # Invalid bytes become lone surrogates (surrogateescape) and NUL stays, so the walk below
    # finds both where they are; raw control characters are allowed only to be found.
    try:
        value = json.loads(body.decode("utf-8", "surrogateescape"), strict=False)
    except (ValueError, RecursionError):
        reason = bytes_reason(body)
        return [] if reason is None else [problem("body", reason)]  # else: its parser says
    return list(_walk(value))


def _walk(value: Any, path: str = "") -> Iterator[dict[str, Any]]:
    """Every string (key or value) at any depth that PostgreSQL text cannot hold."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            reason = unstorable_reason(item)
            if reason is not None:
                yield problem(where or "body", reason)
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                reason = unstorable_reason(key)
                if reason is not None:
                    yield problem(_join(where, shown(key)), f"the key {reason}")
                else:
                    stack.append((_join(where, key), child))
        elif isinstance(item, list):
            for i in range(len(item) - 1, -1, -1):
                stack.append((_join(where, str(i)), item[i]))


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _ndjson_problems(body: bytes) -> list[dict[str, Any]]:
    if _clean_json(body):
        return []
    problems = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        for found in _json_problems(line):
            problems.append({**found, "line": number})
    return problems


def _multipart_problems(content_type: bytes, body: bytes) -> list[dict[str, Any]]:
    if b"\x00" not in body and bytes_reason(body) is None:
        return []
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return [problem("body", "must be multipart/form-data")]
    problems = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        name = name if isinstance(name, str) else ""
        reason = unstorable_reason(name)
        if reason is not None:
            problems.append(problem(shown(name), f"the name {reason}"))
            continue
        if part.get_filename() is not None:
            continue  # a file: its bytes are the route's business
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and (reason := bytes_reason(payload)) is not None:
            problems.append(problem(name or "body", reason))
    return problems


def too_many_json_values(content_type: bytes | None, body: bytes) -> bool:
    """Whether a JSON body holds more than `MAX_JSON_VALUES` values, counted from below by its
    separators (commas inside strings count too: no legitimate body comes near the limit).
    Parsed, JSON of many small values takes tens of times its size in memory."""
    if not _is_json(_media_type(content_type)) or len(body) < MAX_JSON_VALUES:
        return False
    return body.count(b",") + body.count(b":") > MAX_JSON_VALUES


def body_problems(content_type: bytes | None, body: bytes) -> list[dict[str, Any]]:
    """What in a request body PostgreSQL text could not hold, by field (none: it is clean)."""
    media_type = _media_type(content_type)
    if _is_json(media_type):
        return _json_problems(body)
    if media_type in _NDJSON:
        return _ndjson_problems(body)
    if media_type == "application/x-www-form-urlencoded":
        return urlencoded_problems(body, "")
    if media_type == "multipart/form-data" and content_type is not None:
        return _multipart_problems(content_type, body)
    reason = bytes_reason(body)
    return [] if reason is None else [problem("body", reason)]
