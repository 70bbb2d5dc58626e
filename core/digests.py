"""Canonical JSON and the SHA-256 digests of evidence: one definition, used where a digest
is written (the audit chain, entries, plans, checkpoints) and where it is recomputed."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_json(value: Any) -> str:
    """The SHA-256 (hex) of ``value``'s canonical JSON."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def sha256_text(text: str) -> str:
    """The SHA-256 (hex) of ``text`` as UTF-8, e.g. a plan file verbatim."""
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_bytes(content: bytes) -> str:
    """The SHA-256 (hex) of raw bytes, e.g. a photo as uploaded."""
    return hashlib.sha256(content).hexdigest()
