"""Photos attached to field entries: what is accepted and how it is identified.

A photo is evidence (a meter's display, an invoice, a nameplate), so it is kept exactly
as sent and named by the SHA-256 of its bytes: an entry that cites a photo by its hash
cites those bytes and no others, and a client can name a photo before it is uploaded
(the field app does, offline). Only still images a phone or a camera produces are
accepted, and each is decoded once to prove it is one: a file that merely starts with
the right bytes is refused, as is a "decompression bomb" whose pixels would not fit in
memory.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

#: Largest photo accepted, in bytes. A 12-megapixel phone JPEG is 3-6 MB.
MAX_PHOTO_BYTES = 10_000_000
#: Largest photo accepted, in pixels (width x height): 50 megapixels.
MAX_PHOTO_PIXELS = 50_000_000
#: Photos one entry may cite.
MAX_PHOTOS_PER_ENTRY = 20

#: Accepted media types and the Pillow format each must decode as.
MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}

SHA256_PATTERN = r"^[0-9a-f]{64}$"
_SHA256 = re.compile(SHA256_PATTERN)


class PhotoRejected(ValueError):
    """A photo refused, naming the field (``content-type`` or ``body``) and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PhotoInfo:
    sha256: str
    media_type: str
    size_bytes: int
    width: int
    height: int


def is_sha256(text: str) -> bool:
    return bool(_SHA256.match(text))


def inspect_photo(content: bytes, declared_type: str | None) -> PhotoInfo:
    """Check a photo's bytes against its declared media type and the limits.

    Raises PhotoRejected naming ``content-type`` (a type not accepted, or not the one the
    bytes are) or ``body`` (empty, too large, not a decodable image, too many pixels).
    """
    media_type = (declared_type or "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        accepted = ", ".join(MEDIA_TYPES)
        raise PhotoRejected("content-type", f"{media_type or 'none'} is not accepted ({accepted})")
    if not content:
        raise PhotoRejected("body", "the photo is empty")
    if len(content) > MAX_PHOTO_BYTES:
        raise PhotoRejected("body", f"{len(content):,} bytes; at most {MAX_PHOTO_BYTES:,}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                found, (width, height) = image.format, image.size
                if width * height > MAX_PHOTO_PIXELS:
                    raise PhotoRejected(
                        "body",
                        f"{width}x{height} pixels; at most {MAX_PHOTO_PIXELS:,} in all",
                    )
                image.verify()  # reads the whole file: a truncated photo fails here
    except PhotoRejected:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRejected("body", "not a readable JPEG, PNG or WebP image") from None
    except Exception as exc:
        # Pillow's decoders raise many kinds of error on damaged or hostile data (OSError,
        # SyntaxError, struct.error, IndexError ...): each means the same to the sender.
        raise PhotoRejected("body", f"a damaged image ({type(exc).__name__}: {exc})") from None
    if found != MEDIA_TYPES[media_type]:
        raise PhotoRejected(
            "content-type", f"declared {media_type}, but the bytes are {found or 'unknown'}"
        )
    return PhotoInfo(
        sha256=hashlib.sha256(content).hexdigest(),
        media_type=media_type,
        size_bytes=len(content),
        width=width,
        height=height,
    )
