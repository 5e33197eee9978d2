"""The edge: NUL and text that is not UTF-8 refused with 422 naming the field, wherever a
request carries them (path, query, JSON at any depth, JSON lines, forms, headers), bodies over
the cap refused with 413, a route's larger limit streamed and checked, clean requests untouched.

Over httpx's ASGI transport (as the services' tests) and over a real uvicorn socket, where the
bytes are exactly what an attacker sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI, Form, Request, UploadFile
from pydantic import BaseModel

from csm_infra.ports import free_port
from csm_kernel.edge import body_limit, install_edge
from csm_kernel.http import install_error_handlers, instrument

LIMIT = 64 * 1024
IMPORT_LIMIT = 1024 * 1024


class Thing(BaseModel):
    name: str
    answers: dict[str, Any] = {}
    tags: list[str] = []


def _app(max_body: int = LIMIT) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_edge(app, max_body)

    # Routes in an included router too (FastAPI keeps it as one entry of the app's routes).
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def get_thing(thing_id: str, q: str | None = None) -> dict[str, Any]:
        return {"thing_id": thing_id, "q": q}

    @app.post("/things")
    async def post_thing(thing: Thing) -> dict[str, Any]:
        return thing.model_dump()

    @app.post("/form")
    async def post_form(name: str = Form(), note: str = Form("")) -> dict[str, Any]:
        return {"name": name, "note": note}

    @app.post("/upload")
    async def upload(file: UploadFile, title: str = Form()) -> dict[str, Any]:
        return {"title": title, "size": len(await file.read())}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        return {"size": len(await request.body())}

    @router.post("/import")
    @body_limit(IMPORT_LIMIT)
    async def import_(request: Request) -> dict[str, Any]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    app.include_router(router)
    instrument(app)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def _fields(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, (r.status_code, r.text)
    body = r.json()
    assert body["error"].startswith("invalid request")
    return [d["field"] for d in body["details"]]


async def test_nul_and_bad_utf8_in_the_path_name_the_parameter(client) -> None:
    assert _fields(await client.get("/things/%00")) == ["path.thing_id"]
    assert _fields(await client.get("/things/a%00b")) == ["path.thing_id"]
    assert _fields(await client.get("/things/%ff%fe")) == ["path.thing_id"]
    r = await client.get("/things/%00")
    assert r.json()["details"][0]["reason"] == "must not contain the NUL character (U+0000)"
    # A path no route takes still gets the 422, naming the path.
    assert _fields(await client.get("/nowhere/%00")) == ["path"]
    # Percent-encoded UTF-8 is fine.
    r = await client.get("/things/caf%C3%A9")
    assert r.status_code == 200 and r.json()["thing_id"] == "café"


async def test_query_values_and_names_are_checked(client) -> None:
    assert _fields(await client.get("/things/1?q=%ff%fe%00")) == ["query.q"]
    assert _fields(await client.get("/things/1?q=a%00")) == ["query.q"]
    assert _fields(await client.get("/things/1?q=ok&other=%C3")) == ["query.other"]
    [field] = _fields(await client.get("/things/1?a%00b=1"))
    assert field == "query.a\\x00b"
    r = await client.get("/things/1?q=a%20b%C3%A9+c")
    assert r.status_code == 200 and r.json()["q"] == "a bé c"


async def test_json_bodies_at_any_depth_keys_included(client) -> None:
    post = client.post
    r = await post("/things", json={"name": "x", "answers": {"caseload_note": "a\u0000b"}})
    assert _fields(r) == ["answers.caseload_note"]
    assert _fields(await post("/things", json={"name": "\u0000"})) == ["name"]
    assert _fields(await post("/things", json={"name": "x", "tags": ["ok", "b\x00"]})) == ["tags.1"]
    deep = {"name": "x", "answers": {"a": [{"b": {"c": ["", "\x00"]}}]}}
    assert _fields(await post("/things", json=deep)) == ["answers.a.0.b.c.1"]
    r = await post("/things", json={"name": "x", "answers": {"bad\x00key": 1}})
    assert _fields(r) == ["answers.bad\\x00key"]
    assert "key" in r.json()["details"][0]["reason"]
    # Several problems are all named.
    r = await post("/things", json={"name": "\x00", "tags": ["\x00"]})
    assert sorted(_fields(r)) == ["name", "tags.0"]


async def test_json_text_that_is_not_utf8(client) -> None:
    lone = b'{"name": "x", "answers": {"note": "\\ud800"}}'
    r = await client.post("/things", content=lone, headers={"content-type": "application/json"})
    assert _fields(r) == ["answers.note"]
    assert r.json()["details"][0]["reason"] == "must be valid UTF-8 text"
    raw = b'{"name": "caf\xe9"}'  # Latin-1, not UTF-8
    r = await client.post("/things", content=raw, headers={"content-type": "application/json"})
    assert _fields(r) == ["name"]
    # A raw NUL byte inside a string (not even valid JSON) is named too.
    raw = b'{"name": "a\x00b"}'
    r = await client.post("/things", content=raw, headers={"content-type": "application/json"})
    assert _fields(r) == ["name"]
    # With no content type FastAPI may read JSON: checked the same way.
    r = await client.post("/raw", content=b'{"name": "\\u0000"}')
    assert _fields(r) == ["name"]


async def test_clean_json_that_only_looks_suspicious_passes(client) -> None:
    # A surrogate pair (an emoji, as ensure_ascii writes it) and a backslash before "u0000".
    body = '{"name": "\\ud83d\\ude00", "tags": ["\\\\u0000"]}'
    r = await client.post("/things", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "😀" and r.json()["tags"] == ["\\u0000"]
    r = await client.post("/things", json={"name": "Ünïcödé ✓", "answers": {"n": 10}})
    assert r.status_code == 200
    # Invalid JSON is its parser's to report, as before.
    r = await client.post("/things", content=b"{", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.text


async def test_form_fields_urlencoded_and_multipart(client) -> None:
    r = await client.post("/form", data={"name": "a\x00b", "note": "fine"})
    assert _fields(r) == ["name"]
    r = await client.post(
        "/form",
        content=b"name=ok&note=%ff",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert _fields(r) == ["note"]
    r = await client.post("/form", files={"name": (None, "x"), "note": (None, b"bad\x00")})
    assert _fields(r) == ["note"]
    r = await client.post("/form", files={"name": (None, b"\xff\xfe"), "note": (None, "ok")})
    assert _fields(r) == ["name"]
    # A file's bytes are its route's business: binary with NUL passes, the text field is read.
    r = await client.post(
        "/upload", files={"file": ("a.bin", b"\x00\xff\x00"), "title": (None, "ok")}
    )
    assert r.status_code == 200 and r.json() == {"title": "ok", "size": 3}
    r = await client.post(
        "/upload", files={"file": ("a.bin", b"\x00\xff"), "title": (None, "b\x00")}
    )
    assert _fields(r) == ["title"]
    r = await client.post("/form", data={"name": "Zoë", "note": ""})
    assert r.status_code == 200 and r.json()["name"] == "Zoë"


async def test_other_bodies_and_json_lines(client) -> None:
    r = await client.post("/raw", content=b"a,b\n1,\x00", headers={"content-type": "text/csv"})
    assert _fields(r) == ["body"]
    lines = b'{"name": "ok"}\n{"name": "\\u0000"}\n'
    r = await client.post("/raw", content=lines, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 422
    assert r.json()["details"] == [
        {"field": "name", "reason": "must not contain the NUL character (U+0000)", "line": 2}
    ]


async def test_a_correlation_id_is_a_short_token(client) -> None:
    r = await client.get("/things/1", headers={"x-correlation-id": "x" * 201})
    assert _fields(r) == ["header.x-correlation-id"]
    r = await client.get("/things/1", headers={"x-correlation-id": "req-42"})
    assert r.status_code == 200


async def test_bodies_over_the_cap_are_413(client) -> None:
    r = await client.post("/raw", content=b"x" * (LIMIT + 1))
    assert r.status_code == 413
    assert r.json()["details"] == [{"field": "body", "reason": f"at most {LIMIT} bytes"}]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b"y" * (LIMIT // 4)

    r = await client.post("/raw", content=chunks())
    assert r.status_code == 413
    r = await client.post("/raw", content=b"x" * LIMIT)
    assert r.status_code == 200 and r.json() == {"size": LIMIT}


async def test_json_of_too_many_values_is_413(client) -> None:
    # Parsed, 3.5 MB of small keys took 58 MB of a service's memory: counted, not parsed.
    many = json.dumps({f"k{i}": i for i in range(60_000)}).encode()
    assert len(many) < LIMIT * 16
    transport = httpx.ASGITransport(app=_app(max_body=4 * 1024 * 1024))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as big:
        r = await big.post("/things", content=many, headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["details"] == [{"field": "body", "reason": "at most 100000 values"}]
        # Text full of commas is not values, but counts: nothing real comes near the limit.
        r = await big.post("/things", json={"name": "x", "tags": ["a,b"] * 20_000})
        assert r.status_code == 200


async def test_a_route_with_a_larger_limit_streams_its_body_checked(client) -> None:
    big = (b"a,b,c\n" * (3 * LIMIT // 6))[: 3 * LIMIT]
    r = await client.post("/import", content=big, headers={"content-type": "text/csv"})
    assert r.status_code == 200 and r.json() == {"size": len(big)}

    async def chunks(last: bytes) -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"row,one\n" * (LIMIT // 8)
        yield last

    r = await client.post("/import", content=chunks(b"a,b\x00\n"))
    assert r.status_code == 422
    assert r.json()["details"] == [
        {
            "field": "body",
            "reason": "must not contain the NUL character (U+0000)",
            "line": 4 * (LIMIT // 8) + 1,
        }
    ]
    r = await client.post("/import", content=chunks(b'{"a": "\\u0000"}\n'))
    assert r.status_code == 422
    r = await client.post("/import", content=chunks(b"caf\xe9\n"))
    assert r.status_code == 422 and r.json()["details"][0]["reason"] == "must be valid UTF-8 text"
    r = await client.post("/import", content=b"x" * (IMPORT_LIMIT + 1))
    assert r.status_code == 413
    assert r.json()["details"] == [{"field": "body", "reason": f"at most {IMPORT_LIMIT} bytes"}]


# --- over a real socket -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _served() -> AsyncIterator[int]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(), host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def _raw(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status = int(response.split(b" ", 2)[1])
    return status, response.split(b"\r\n\r\n", 1)[1]


async def test_the_exact_bytes_over_uvicorn() -> None:
    async with _served() as port:
        status, body = await _raw(
            port, b"GET /things/%00 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        assert status == 422 and json.loads(body)["details"][0]["field"] == "path.thing_id"
        status, body = await _raw(
            port, b"GET /things/1?q=%ff%fe%00 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        assert status == 422 and json.loads(body)["details"][0]["field"] == "query.q"
        payload = b'{"name": "a\\u0000"}'
        status, body = await _raw(
            port,
            b"POST /things HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(payload), payload),
        )
        assert status == 422 and json.loads(body)["details"][0]["field"] == "name"
        # Told the size up front, the server answers 413 without reading the body.
        status, body = await _raw(
            port,
            b"POST /raw HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n",
        )
        assert status == 413
        # Raw bytes that are not UTF-8 in the path (not percent-encoded) never reach a route.
        status, _ = await _raw(
            port, b"GET /things/\xff\xfe HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        assert 400 <= status < 500
