"""Signed checkpoints of a project's audit chain (Ed25519, with ``cryptography``).

A checkpoint says "project P's chain had ``length`` links and ended in ``head``" at a
time, signed with the installation's key. Kept outside the database (given to the
verifier, embedded in each issued report), it makes a truncation, a rollback or a
rewrite of anything it covered visible, even to someone who could rewrite every row.
Pure: keys are passed in; ``persistence.keys`` reads and writes the key file.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from core.digests import canonical_json

PUBLIC_PREFIX = "ed25519:"
HEX64 = r"^[0-9a-f]{64}$"


class Checkpoint(BaseModel):
    """A signed statement of a chain's length and head; hostile until verified."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str = Field(min_length=1, max_length=64)
    length: int = Field(ge=0, le=2**62)
    head: str = Field(pattern=HEX64)
    time: datetime
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    signature: str = Field(max_length=200)

    def signed_text(self) -> bytes:
        """What the signature covers: every field but the signature, canonically."""
        claims = self.model_dump(mode="json", exclude={"signature"})
        return canonical_json(claims).encode()


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def public_text(key: Ed25519PublicKey) -> str:
    """``ed25519:`` and the raw public key in base64: one line to copy or pin."""
    return PUBLIC_PREFIX + base64.b64encode(raw_public(key)).decode()


def parse_public(text: str) -> Ed25519PublicKey:
    """A public key as ``public_text`` writes it, or in PEM; ValueError otherwise."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    if not text.startswith(PUBLIC_PREFIX):
        raise ValueError(f"a public key starts with {PUBLIC_PREFIX!r} (mrv audit key)")
    try:
        raw = base64.b64decode(text.removeprefix(PUBLIC_PREFIX), validate=True)
    except ValueError:
        raise ValueError("the public key is not base64") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign_checkpoint(
    key: Ed25519PrivateKey, project: str, length: int, head: str, time: datetime
) -> Checkpoint:
    unsigned = Checkpoint(
        project=project,
        length=length,
        head=head,
        time=time,
        key_id=key_id(key.public_key()),
        signature="",
    )
    signature = base64.b64encode(key.sign(unsigned.signed_text())).decode()
    return unsigned.model_copy(update={"signature": signature})


def signature_valid(checkpoint: Checkpoint, key: Ed25519PublicKey) -> bool:
    """Whether ``key`` signed exactly this checkpoint."""
    if checkpoint.key_id != key_id(key):
        return False
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        key.verify(signature, checkpoint.signed_text())
    except (ValueError, InvalidSignature):
        return False
    return True


# --- signed device messages ------------------------------------------------------------

SIGNATURE_FIELD = "sig"


def message_text(message: dict[str, Any]) -> bytes:
    """What a device signs: the message object without its ``sig``, as canonical JSON
    (sorted keys, no spaces, UTF-8; numbers as JSON has them after parsing)."""
    unsigned = {k: v for k, v in message.items() if k != SIGNATURE_FIELD}
    return canonical_json(unsigned).encode()


def sign_message(key: Ed25519PrivateKey, message: dict[str, Any]) -> dict[str, Any]:
    """The message with its ``sig``: base64 of the Ed25519 signature of ``message_text``."""
    signature = base64.b64encode(key.sign(message_text(message))).decode()
    return {**message, SIGNATURE_FIELD: signature}


def message_signed(message: dict[str, Any], key: Ed25519PublicKey) -> str | None:
    """None when ``key`` signed this message; otherwise why not, for the quarantine."""
    signature = message.get(SIGNATURE_FIELD)
    if not isinstance(signature, str):
        return "the message is not signed (no sig)"
    try:
        key.verify(base64.b64decode(signature, validate=True), message_text(message))
    except (ValueError, InvalidSignature):
        return "sig is not the device key's signature of this message"
    return None
