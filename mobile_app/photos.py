"""Photos picked on the tablet: read, and refused early if the server would refuse them
(the same types and size limit as the API's)."""

from __future__ import annotations

from pathlib import Path

MAX_PHOTO_BYTES = 10_000_000
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


class PhotoError(ValueError):
    pass


def media_type_of(content: bytes) -> str | None:
    for signature, media_type in _SIGNATURES:
        if content.startswith(signature):
            return media_type
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def read_photo(path: Path) -> tuple[bytes, str]:
    """The photo's bytes and media type; PhotoError says why a file will not do."""
    try:
        size = path.stat().st_size
        if size > MAX_PHOTO_BYTES:
            raise PhotoError(f"{size // 1_000_000} MB; at most {MAX_PHOTO_BYTES // 1_000_000} MB")
        content = path.read_bytes()
    except OSError as exc:
        raise PhotoError(f"cannot read {path.name}: {exc.strerror}") from None
    media_type = media_type_of(content)
    if media_type is None:
        raise PhotoError(f"{path.name} is not a JPEG, PNG or WebP photo")
    return content, media_type
