"""The CSM event contract: the envelope, every event's payload, topics and the CloudEvents binding.

Every service depends on this package and on nothing of another service. A published schema only
grows: see `csm_contracts.compat` and the committed JSON Schemas under `contracts/schemas/`.
`csm_contracts.asyncapi` (with the `asyncapi` extra) documents every topic in
`contracts/asyncapi.json`; `docs/contracts.md` is the overview.
"""

from .envelope import EventEnvelope
from .registry import REGISTRY, EventRegistry, payload_class
from .topics import Topics

__all__ = ["REGISTRY", "EventEnvelope", "EventRegistry", "Topics", "payload_class"]
