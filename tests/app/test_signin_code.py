"""The sign-in code's format (``mobile_app/signin_code.py``) and the QR reading behind the
app's camera and picture paths (``mobile_app/qr.py``), without the GUI: real QR images
made by segno, decoded by ZBar."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from mobile_app import qr, signin_code
from mobile_app.signin_code import CodeError

TOKEN = "mrv_U-bSJX6ve7eQuHInAVB8Iyyv5r3YQ-on4_N7ZfM0QdQ"


@pytest.mark.parametrize(
    "api",
    [
        "http://127.0.0.1:8080",
        "https://mrv.example.org",
        "https://mrv.example.org:8443/base/path",
        "http://[::1]:8080",
    ],
)
def test_a_code_reads_back_as_it_was_made(api: str) -> None:
    code = signin_code.encode(api + "/", TOKEN)
    assert code.startswith("mrv://sign-in?v=1&api=")
    assert signin_code.decode(f"  {code}\n") == signin_code.SignInCode(api, TOKEN)


@given(st.text(max_size=3000))
@settings(max_examples=400, deadline=None)
def test_any_text_is_a_code_or_a_code_error(text: str) -> None:
    try:
        read = signin_code.decode(text)
    except CodeError as exc:
        assert str(exc)  # a sentence to show
        return
    assert read.api.startswith(("http://", "https://")) and read.token


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=600))
@settings(max_examples=300, deadline=None)
def test_any_query_after_the_prefix_is_read_or_refused_with_a_reason(query: str) -> None:
    try:
        signin_code.decode("mrv://sign-in?" + query)
    except CodeError as exc:
        assert str(exc)


def qr_image(text: str, scale: int = 6) -> Image.Image:
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    out.seek(0)
    return Image.open(out).convert("L")


def test_a_camera_frame_is_read_from_its_rgba_pixels() -> None:
    """What ScanScreen hands over: a texture's RGBA bytes, a frame larger than the code."""
    code = signin_code.encode("http://10.0.0.2:8080", TOKEN)
    frame = Image.new("RGBA", (640, 480), (200, 190, 170, 255))  # a beige desk
    frame.paste(qr_image(code).convert("RGBA"), (150, 60))
    rgba = frame.tobytes()
    assert qr.read_gray(qr.gray_of_rgba(rgba), 640, 480) == [code]
    with pytest.raises(qr.QrUnreadable):
        qr.read_gray(qr.gray_of_rgba(rgba), 640, 479)  # sizes that do not fit the bytes
    assert qr.read_gray(bytes(640 * 480), 640, 480) == []  # a black frame: nothing
    # light on dark (the terminal QR in a light-themed terminal, photographed): read too
    dark = Image.new("L", (640, 480), 20)
    dark.paste(ImageOps.invert(qr_image(code)), (150, 60))
    assert qr.read_gray(dark.tobytes(), 640, 480) == [code]


def test_pictures_are_read_with_their_limits(tmp_path: Path) -> None:
    code = signin_code.encode("https://mrv.example.org", TOKEN)
    photo = tmp_path / "photo.jpg"
    # a large photo, turned: scaled down before ZBar, still read
    big = Image.new("RGB", (4000, 3000), "white")
    big.paste(qr_image(code, scale=20).rotate(90, expand=True), (1500, 800))
    big.save(photo, quality=90)
    assert qr.read_image(photo) == [code]
    with pytest.raises(qr.QrUnreadable, match="cannot open"):
        qr.read_image(tmp_path / "missing.png")
    huge = tmp_path / "huge.png"
    Image.new("1", (8000, 8000), 1).save(huge)
    with pytest.raises(qr.QrUnreadable, match="too many pixels"):
        qr.read_image(huge)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(qr.QrUnreadable, match="not a picture"):
        qr.read_image(junk)
    assert qr.available()
