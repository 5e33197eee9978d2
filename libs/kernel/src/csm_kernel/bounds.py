"""Bounds the services' request models share, so every number and text a request carries has a
limit (shown in OpenAPI) and a value beyond it is a 422 naming the field, not a 500 from the
database (`int` columns are 32-bit) or from orjson (integers beyond 64 bits).

Use them as field types: `version: StreamVersion`, `name: Annotated[str, Field(...)]` with one
of the lengths below. Contract event schemas are not retyped with them (a published schema only
grows): the request models are the edge.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

#: The largest PostgreSQL `int`: stream versions, counts and limits stay below it.
MAX_INT32 = 2**31 - 1

StreamVersion = Annotated[
    int, Field(ge=1, le=MAX_INT32, description="a stream version, as read (1 or more)")
]
"""The version of a stream a change was decided from (optimistic concurrency)."""

Int32 = Annotated[int, Field(ge=-MAX_INT32, le=MAX_INT32)]
"""An integer whose finer rule the domain checks (an age, a tier), kept within PostgreSQL's
int so that no value beyond it reaches a query or a serialiser first."""

#: Lengths for free text in requests.
NAME_LENGTH = 200
"""A name or title (a person, an organisation, a service, a group)."""
REASON_LENGTH = 1000
"""A reason or short note kept with a change."""
TEXT_LENGTH = 4000
"""A description or message."""
IDENTIFIER_LENGTH = 100
"""An id or code the caller names something by (a question, a service, a delegation)."""

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=IDENTIFIER_LENGTH)]
"""An id in a request body."""
