"""Sending the planned requests (`hostile_api.plan`) to a running app as one identity, and
reporting what a real server could not have answered: a 5xx, an exception out of the app, no
answer in time, or a response header no HTTP server could send (CR, LF or NUL), grouped by
cause with the request that caused each.

`CSM_HOSTILE_IGNORE` (a regular expression, matched against each failure's text) sets failures
aside as known, to see what else remains; the committed suite does not set it.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import traceback
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from hostile_api import Identity, Plan, Planned

#: How long one request may take before it counts as a server that did not answer.
ANSWER_SECONDS = 30.0


@dataclass(frozen=True)
class Failure:
    identity: str
    request: Planned
    what: str  # "HTTP 500", "exception", "no answer", "bad header", "undocumented HTTP 4xx"
    cause: str  # the exception (type: message) or the status and body
    where: str  # the innermost frame of our own code, when an exception escaped

    @property
    def signature(self) -> str:
        kind = self.cause.split(":", 1)[0] if self.what == "exception" else self.what
        return f"{self.request.operation} | {kind} | {self.where}"

    def text(self) -> str:
        return f"{self.signature} | {self.cause} | {self.request.describe()}"


@dataclass
class Run:
    identity: str
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    unsendable: Counter[str] = field(default_factory=Counter)
    #: Hostile requests not sent: the operation refused this identity every drawn case.
    refused: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0


# --- sending ------------------------------------------------------------------------------


async def run(
    client: httpx.AsyncClient,
    requests_: Sequence[Planned],
    identity: Identity,
    anonymous_only: Collection[str] = (),
    documented: Mapping[str, frozenset[str]] | None = None,
) -> Run:
    """Send every request as `identity`; what the app answered, and every failure.

    Operations in `anonymous_only` (public ones whose answer does not depend on who asks,
    and which are slow on purpose, such as sign-in) are sent only when nobody is signed in.
    An operation that refused the identity every drawn case (401, 403, or the portal's
    redirect to sign in) gets none of its hostile ones: who is asking is checked before any
    input is read, so they could only be refused the same way.

    With `documented` (each operation's statuses in its OpenAPI), an answer whose status the
    operation does not document is a failure too: a client reads the document to know what it
    may get."""
    out = Run(identity.name)
    started = time.monotonic()
    refused: dict[str, bool] = {}
    for planned in requests_:
        if not identity.anonymous and planned.operation in anonymous_only:
            continue
        if planned.variant == "hostile" and refused.get(planned.operation, False):
            out.refused += 1
            continue
        headers = {k: v for k, v in planned.headers.items() if k.lower() != "authorization"}
        headers.update(identity.headers)
        if identity.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in identity.cookies.items())
        try:
            # As bytes: a header's text goes on the wire as Latin-1 (httpx would take ASCII only).
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
            request = client.build_request(
                planned.method, planned.url, headers=raw, content=planned.body
            )
        except Exception as exc:  # httpx refuses to send it: not the server's doing
            out.unsendable[type(exc).__name__] += 1
            continue
        out.sent += 1
        failure, response = await _send(client, request, planned, identity.name, out)
        if failure is None and response is not None and documented is not None:
            failure = _undocumented(response, planned, identity.name, documented)
        if failure is not None:
            out.failures.append(failure)
        if planned.variant != "hostile":
            was = refused.get(planned.operation, True)
            refused[planned.operation] = was and response is not None and _refusal(response)
    out.seconds = time.monotonic() - started
    return out


def _refusal(response: httpx.Response) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code == 303 and response.headers.get("location", "").startswith(
        "/sign-in"
    )


async def _send(
    client: httpx.AsyncClient, request: httpx.Request, planned: Planned, who: str, out: Run
) -> tuple[Failure | None, httpx.Response | None]:
    try:
        async with asyncio.timeout(ANSWER_SECONDS):
            response = await client.send(request)
    except TimeoutError:
        failure = Failure(who, planned, "no answer", f"nothing within {ANSWER_SECONDS:.0f} s", "")
        return failure, None
    except Exception as exc:  # out of the app: a real server answers 500 and logs this
        cause = f"{type(exc).__name__}: {exc}"[:500]
        return Failure(who, planned, "exception", cause, _innermost(exc)), None
    out.statuses[response.status_code] += 1
    if response.status_code >= 500:
        what = f"HTTP {response.status_code}"
        return Failure(who, planned, what, response.text[:300], ""), response
    for name, value in response.headers.raw:
        if re.search(rb"[\r\n\x00]", name + value):
            cause = f"{name.decode('latin-1')}: {value[:200]!r}"
            return Failure(who, planned, "bad header", cause, ""), response
    return None, response


def _undocumented(
    response: httpx.Response,
    planned: Planned,
    who: str,
    documented: Mapping[str, frozenset[str]],
) -> Failure | None:
    statuses = documented.get(planned.operation)
    status = str(response.status_code)
    if statuses is None or status in statuses or {"default", f"{status[0]}XX"} & statuses:
        return None
    return Failure(who, planned, f"undocumented HTTP {status}", response.text[:300], "")


def _innermost(exc: BaseException) -> str:
    """The last frame of the project's own code in the exception's traceback."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/src/" in f.filename and "site-packages" not in f.filename]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return ""
    path = frame.filename.split("/src/", 1)[-1]
    return f"{path}:{frame.lineno} {frame.name}"


# --- reporting ----------------------------------------------------------------------------


def ignored_pattern() -> re.Pattern[str] | None:
    raw = os.environ.get("CSM_HOSTILE_IGNORE")
    return re.compile(raw) if raw else None


def report(service: str, runs: Sequence[Run], plan_: Plan) -> tuple[str, list[Failure]]:
    """A summary of the runs, and the failures that count (all, unless `CSM_HOSTILE_IGNORE`)."""
    pattern = ignored_pattern()
    failures = [f for r in runs for f in r.failures]
    counted = [f for f in failures if pattern is None or not pattern.search(f.text())]
    lines = [f"{service}: {len(plan_.requests)} requests planned"]
    for r in runs:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(r.statuses.items()))
        unsent = f"; not sendable: {dict(r.unsendable)}" if r.unsendable else ""
        unsent += f"; hostile ones refused before input: {r.refused}" if r.refused else ""
        lines.append(f"  as {r.identity}: {r.sent} sent in {r.seconds:.1f} s ({statuses}){unsent}")
    lines += [f"  could not generate: {p}" for p in plan_.problems]
    if pattern is not None:
        lines.append(f"  {len(failures) - len(counted)} failures ignored by CSM_HOSTILE_IGNORE")
    groups: dict[str, list[Failure]] = {}
    for f in counted:
        groups.setdefault(f.signature, []).append(f)
    if groups:
        lines.append(f"{len(counted)} failures, {len(groups)} distinct:")
    for signature, group in sorted(groups.items()):
        who = sorted({f.identity for f in group})
        lines.append(f"- {signature}  ({len(group)} times, as {', '.join(who)})")
        for f in group[:2]:
            lines.append(f"    {f.cause[:240]!s}")
            lines.append(f"    {f.request.describe(160)}")
    return "\n".join(lines), counted
