"""Canonical JSON and the per-stream hash chain: `hash = sha256(prev_hash || canonical_json)`.

Canonical JSON here: keys sorted, no insignificant whitespace, UTF-8, non-ASCII kept as is.
The first event of a stream chains from GENESIS_HASH (64 zeros).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """The one serialisation the hash chain is computed over."""
    return _ENCODER.encode(value)


def chain_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """The hash of an event whose predecessor's hash is `prev_hash`."""
    return chain_hash_of_canonical(prev_hash, canonical_json(content))


def chain_hash_of_canonical(prev_hash: str, canonical: str) -> str:
    """`chain_hash` for content already in canonical JSON (the PostgreSQL store computes the
    same thing in SQL: `encode(sha256(convert_to(prev_hash || canonical, 'UTF8')), 'hex')`)."""
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()
