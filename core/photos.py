"""Photos attached to field entries: what is accepted and how it is identified.

A photo is evidence (a meter's display, an invoice, a nameplate), so it is kept exactly
as sent and named by the SHA-256 of its bytes: an entry that cites a photo by its hash
cites those bytes and no others, and a client can name a photo before it is uploaded
(the field app does, offline). Only still images a phone or a camera produces are
accepted, and each is proved to be one, and nothing else, before it is stored:

- its structure is walked to the image's end (JPEG: the markers to EOI; PNG: the chunks,
  each CRC checked, to IEND; WebP: the RIFF chunks to the size its header gives), and
  the file must end there: a cut photo is refused, and so is a polyglot, an image with
  something else after it (a ZIP, an HTML page) that other software would read as that;
- Pillow opens and ``verify()``-s it, then decodes every pixel (``load()``), so damaged
  compressed data is refused too. Pillow must not pad out truncated data: with
  ``ImageFile.LOAD_TRUNCATED_IMAGES`` set (by someone else in the process) no photo is
  accepted (a RuntimeError), and a cut file is refused by the walk before that;
- a "decompression bomb", whose pixels would not fit in memory, is refused before it is
  decoded.

A camera's own extras after the image's end (a motion photo's video, a vendor trailer)
are refused as well: such a photo must be sent as the image alone.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageFile, UnidentifiedImageError

#: Largest photo accepted, in bytes. A 12-megapixel phone JPEG is 3-6 MB.
MAX_PHOTO_BYTES = 10_000_000
#: Largest photo accepted, in pixels (width x height): 50 megapixels.
MAX_PHOTO_PIXELS = 50_000_000
#: Photos one entry may cite.
MAX_PHOTOS_PER_ENTRY = 20

#: Accepted media types and the Pillow format each must decode as.
MEDIA_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}

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
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        found, width, height = _decode(content, MEDIA_TYPES[media_type])
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


def _decode(content: bytes, expected: str) -> tuple[str | None, int, int]:
    """The format Pillow finds and the size, once the image is proved whole (module doc);
    a format other than ``expected`` is not looked at further (the caller refuses it)."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            found, (width, height) = image.format, image.size
            if width * height > MAX_PHOTO_PIXELS:
                raise PhotoRejected(
                    "body", f"{width}x{height} pixels; at most {MAX_PHOTO_PIXELS:,} in all"
                )
            image.verify()
        if found != expected:
            return found, width, height
        end = _ENDS[found](content)
        if end < len(content):
            extra = len(content) - end
            raise PhotoRejected(
                "body",
                f"{extra:,} byte{'s' * (extra != 1)} after the end of the "
                f"{_NAMES[expected]} image (a photo is the image alone)",
            )
        if ImageFile.LOAD_TRUNCATED_IMAGES:  # set by someone else in this process
            raise RuntimeError("photos are not checked with ImageFile.LOAD_TRUNCATED_IMAGES")
        with Image.open(io.BytesIO(content)) as image:
            image.load()  # every pixel decoded: damaged compressed data fails here
    except (PhotoRejected, RuntimeError):
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRejected("body", "not a readable JPEG, PNG or WebP image") from None
    except Exception as exc:
        # Pillow's decoders raise many kinds of error on damaged or hostile data (OSError,
        # SyntaxError, struct.error, IndexError ...): each means the same to the sender.
        raise PhotoRejected("body", f"a damaged image ({type(exc).__name__}: {exc})") from None
    return found, width, height


def _cut(fmt: str) -> PhotoRejected:
    return PhotoRejected("body", f"the {fmt} image is cut short (its end is missing)")


def _damaged(fmt: str, what: str) -> PhotoRejected:
    return PhotoRejected("body", f"a damaged {fmt} image ({what})")


def _jpeg_end(content: bytes) -> int:
    """Where the JPEG's EOI marker ends: its segments are stepped over by their lengths,
    and each scan's entropy-coded data up to the next marker (a 0xFF not followed by a
    stuffed 0x00, a restart marker or another 0xFF)."""
    n, at = len(content), 2  # past SOI (Pillow identified the file by it)
    while True:
        if at >= n:
            raise _cut("JPEG")
        if content[at] != 0xFF:
            raise _damaged("JPEG", f"no marker at byte {at:,}")
        while at < n and content[at] == 0xFF:  # fill bytes
            at += 1
        if at >= n:
            raise _cut("JPEG")
        marker = content[at]
        at += 1
        if marker == 0xD9:  # EOI
            return at
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            continue
        if marker in (0x00, 0xD8):
            raise _damaged("JPEG", f"marker 0x{marker:02X} at byte {at - 1:,}")
        if at + 2 > n:
            raise _cut("JPEG")
        length = int.from_bytes(content[at : at + 2], "big")
        if length < 2:
            raise _damaged("JPEG", f"a segment of length {length} at byte {at:,}")
        at += length
        if marker == 0xDA:  # SOS: entropy-coded data follows, up to the next marker
            while True:
                at = content.find(b"\xff", at)
                if at < 0 or at + 1 >= n:
                    raise _cut("JPEG")
                following = content[at + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    at += 2
                elif following == 0xFF:
                    at += 1
                else:
                    break


def _png_end(content: bytes) -> int:
    """Where the PNG's IEND chunk ends, each chunk's CRC checked on the way."""
    n, at = len(content), 8  # past the signature
    while True:
        if at + 12 > n:
            raise _cut("PNG")
        length, kind = int.from_bytes(content[at : at + 4], "big"), content[at + 4 : at + 8]
        end = at + 12 + length
        if end > n:
            raise _cut("PNG")
        if zlib.crc32(content[at + 4 : end - 4]) != int.from_bytes(content[end - 4 : end], "big"):
            raise _damaged("PNG", f"the CRC of chunk {kind!r} at byte {at:,} is wrong")
        at = end
        if kind == b"IEND":
            return at


def _webp_end(content: bytes) -> int:
    """Where the WebP's RIFF container ends (8 bytes plus the size its header gives),
    its chunks filling it exactly."""
    n = len(content)
    end = 8 + int.from_bytes(content[4:8], "little")
    if end > n:
        raise _cut("WebP")
    at, length = 12, 0  # past RIFF, the size and WEBP
    while at < end:
        if at + 8 > end:
            raise _damaged("WebP", f"a chunk header cut at byte {at:,}")
        length = int.from_bytes(content[at + 4 : at + 8], "little")
        at += 8 + length + (length & 1)  # chunks are padded to an even length
    if at > end + 1 or (at == end + 1 and not length & 1):  # the last pad may be left out
        raise _damaged("WebP", "its chunks overrun the RIFF size")
    return end


_ENDS: dict[str, Callable[[bytes], int]] = {"JPEG": _jpeg_end, "PNG": _png_end, "WEBP": _webp_end}
