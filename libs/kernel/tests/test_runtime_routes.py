"""`add_routes`: a service's routers served as their routes, not behind FastAPI's included-router
wrapper (which rebuilt each route's request handler on every request), with the same OpenAPI."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from csm_kernel.runtime import add_routes


def _router() -> APIRouter:
    router = APIRouter(tags=["things"])

    @router.get("/things/{thing_id}", responses={404: {"description": "No such thing."}})
    async def thing(thing_id: str, limit: int = 10) -> dict[str, object]:
        return {"id": thing_id, "limit": limit}

    return router


def test_routes_are_served_as_they_are_with_the_same_openapi() -> None:
    router = _router()
    direct, included = FastAPI(title="t"), FastAPI(title="t")
    add_routes(direct, router)
    included.include_router(router)
    assert [r for r in direct.router.routes if isinstance(r, APIRoute)] == router.routes
    assert direct.openapi() == included.openapi()
    with TestClient(direct) as client:
        assert client.get("/things/7?limit=3").json() == {"id": "7", "limit": 3}
        assert client.get("/things/7?limit=x").status_code == 422


def test_a_router_with_its_own_start_up_is_included_so_it_runs() -> None:
    started: list[str] = []
    router = _router()
    router.add_event_handler("startup", lambda: started.append("router"))
    app = FastAPI()
    add_routes(app, router)
    with TestClient(app) as client:
        assert client.get("/things/1").status_code == 200
    assert "router" in started  # (FastAPI 0.141 runs an included router's handler twice)
