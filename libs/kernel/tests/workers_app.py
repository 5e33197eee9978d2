"""A minimal service app for the worker-supervisor test: says which process answered."""

from __future__ import annotations

import os

from fastapi import FastAPI

from csm_kernel.settings import ServiceSettings


def build(_: ServiceSettings) -> FastAPI:
    app = FastAPI()

    @app.get("/pid")
    async def pid() -> dict[str, int]:
        return {"pid": os.getpid()}

    return app
