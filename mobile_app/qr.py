"""Reading QR codes: from an image file (Pillow) or a camera frame, with ZBar (pyzbar).

ZBar is the decoder because it is well kept, reads QR codes at any angle and has
python-for-android recipes (``libzbar``, ``pyzbar``): the same code runs on Android.
On a desktop pyzbar needs the ``libzbar0`` Debian package (scripts/setup.sh). When
either is missing, ``QrUnavailable`` says so and the app offers pasting instead.

Images are hostile input: a file larger than ``MAX_FILE_BYTES`` or with more than
``MAX_PIXELS`` pixels is refused before it is decoded, and large pictures are scaled
down to ``MAX_SIDE`` pixels before ZBar sees them, so reading costs a bounded time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Largest image file read (bytes): a phone photo is 2-8 MB.
MAX_FILE_BYTES = 25 * 1024 * 1024
#: Most pixels in an image opened (a 50 MP camera's photo); more is refused unread.
MAX_PIXELS = 50_000_000
#: Longest side handed to ZBar (pixels); a sign-in code on screen needs far fewer.
MAX_SIDE = 2000
#: Light for dark, byte for byte: a QR code shown light on dark (``mrv token create --qr``
#: in a light-themed terminal, say) is read as well. ``bytes.translate`` runs at C speed.
_INVERT = bytes(range(255, -1, -1))


class QrUnavailable(Exception):
    """No QR decoder on this device (pyzbar or its libzbar missing)."""


class QrUnreadable(Exception):
    """The image could not be read, or holds no QR code; the message says which."""


def _zbar() -> Any:
    try:
        from pyzbar import pyzbar
    except Exception as exc:  # ImportError, or the ctypes load of libzbar failing
        raise QrUnavailable(f"no QR decoder on this device ({type(exc).__name__})") from None
    return pyzbar


def available() -> bool:
    """Whether QR codes can be read here (pyzbar and libzbar load)."""
    try:
        _zbar()
    except QrUnavailable:
        return False
    return True


def _texts(found: list[Any]) -> list[str]:
    texts = []
    for symbol in found:
        if getattr(symbol, "type", "") != "QRCODE":
            continue
        # ZBar hands bytes; a sign-in code is ASCII, anything else is shown as junk.
        texts.append(bytes(symbol.data).decode("utf-8", errors="replace"))
    return texts


def read_image(path: Path) -> list[str]:
    """The texts of the QR codes in this image file (empty if it holds none). Raises
    QrUnavailable without a decoder, QrUnreadable for a file that is not a usable
    image."""
    _zbar()  # no decoder: say so before reading a file
    from PIL import Image, UnidentifiedImageError

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise QrUnreadable(f"cannot open the file ({exc.strerror or exc})") from None
    if size > MAX_FILE_BYTES:
        raise QrUnreadable(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise QrUnreadable("the picture has too many pixels")
            gray = image.convert("L")
    except QrUnreadable:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise QrUnreadable("the file is not a picture this app can read") from None
    gray.thumbnail((MAX_SIDE, MAX_SIDE))
    return read_gray(gray.tobytes(), gray.width, gray.height)


def read_gray(pixels: bytes, width: int, height: int) -> list[str]:
    """The texts of the QR codes in a frame of 8-bit grey pixels (a camera frame, or a
    picture's), dark on light or light on dark."""
    pyzbar = _zbar()
    if width <= 0 or height <= 0 or len(pixels) != width * height:
        raise QrUnreadable("the camera frame has an unexpected size")
    # ZBar looks for dark modules on light; a light-on-dark code is tried inverted.
    return _texts(pyzbar.decode((pixels, width, height))) or _texts(
        pyzbar.decode((pixels.translate(_INVERT), width, height))
    )


def gray_of_rgba(rgba: bytes) -> bytes:
    """One grey byte per RGBA pixel: the green channel, which carries most of the
    luminance (a QR code is black on white, so this is plenty), at C speed."""
    return rgba[1::4]
