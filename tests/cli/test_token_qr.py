"""``mrv token create --qr``: the token printed once as before, then a QR sign-in code on
stdout that a real decoder (ZBar) reads back, and ``--qr-png`` a PNG that decodes to the
same API URL and token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from pyzbar import pyzbar
from typer.testing import CliRunner

from mobile_app import signin_code
from mrv.cli import app

runner = CliRunner()
TOKEN = re.compile(r"mrv_[A-Za-z0-9_-]{43}")
# A half-block cell: (top module light, bottom module light); the art is drawn for a dark
# terminal, so a printed block is a light module.
CELLS = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}


def create(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(
        app,
        ["token", "create", "--role", "admin", "--label", "ops", *args],
        env={"MRV_HOME": str(home), "COLUMNS": "200", **(env or {})},
    )
    return result.exit_code, result.stdout, result.stderr


def tokens_in_store(home: Path) -> int:
    result = runner.invoke(app, ["token", "list"], env={"MRV_HOME": str(home), "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return len(re.findall(r"│\s*admin\s*│", result.stdout))


def art_to_image(lines: list[str]) -> Image.Image:
    """The terminal QR as a picture: each character two modules high, scaled up."""
    width = max(len(line) for line in lines)
    image = Image.new("L", (width, 2 * len(lines)), 255)
    for y, line in enumerate(lines):
        for x, char in enumerate(line.ljust(width)):
            top, bottom = CELLS[char]  # a KeyError here: not half-block art
            image.putpixel((x, 2 * y), 255 * top)
            image.putpixel((x, 2 * y + 1), 255 * bottom)
    framed = Image.new("L", (width + 8, 2 * len(lines) + 8), 255)
    framed.paste(image, (4, 4))
    return framed.resize((framed.width * 8, framed.height * 8), Image.Resampling.NEAREST)


def decoded(image: Image.Image) -> list[str]:
    return [s.data.decode() for s in pyzbar.decode(image) if s.type == "QRCODE"]


def test_qr_on_stdout_and_png_hold_the_api_url_and_the_token(tmp_path: Path) -> None:
    png = tmp_path / "signin.png"
    url = "https://mrv.example.org:8443/"
    code, out, err = create(tmp_path / "home", "--qr", "--qr-png", str(png), "--api-url", url)
    assert code == 0, err
    first, *art = out.splitlines()
    assert TOKEN.fullmatch(first), first  # the token, printed once, first, as before
    assert out.count(first) == 1
    assert art and all(set(line) <= set(CELLS) for line in art), out
    assert "sign-in code" in err

    expected = signin_code.encode("https://mrv.example.org:8443", first)
    assert expected.startswith("mrv://sign-in?v=1&")
    assert decoded(art_to_image(art)) == [expected]
    with Image.open(png) as image:
        assert image.format == "PNG"
        texts = decoded(image.convert("L"))
    assert texts == [expected]
    read = signin_code.decode(texts[0])
    assert (read.api, read.token) == ("https://mrv.example.org:8443", first)


def test_without_qr_only_the_token_and_the_api_url_comes_from_the_environment(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    code, out, _ = create(home)
    assert code == 0 and TOKEN.fullmatch(out.strip()), out
    png = tmp_path / "env.png"
    env = {"MRV_API_URL": "http://10.1.2.3:9000"}
    code, out, err = create(home, "--qr-png", str(png), env=env)
    assert code == 0, err
    assert TOKEN.fullmatch(out.strip()), out  # a PNG alone prints no terminal QR
    with Image.open(png) as image:
        (text,) = decoded(image.convert("L"))
    assert signin_code.decode(text).api == "http://10.1.2.3:9000"
    assert tokens_in_store(home) == 2  # the count the refusals below rely on


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://mrv.example.org", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http://", "no host"),
        ("https://user:pw@mrv.example.org", "user, query or fragment"),
        ("http://mrv.example.org:99999", "not a valid URL"),
        ("https://" + "a" * 600 + ".org", "1 to 512 characters"),
    ],
)
def test_a_bad_api_url_is_a_usage_error_and_makes_no_token(
    tmp_path: Path, url: str, says: str
) -> None:
    home = tmp_path / "home"
    code, out, err = create(home, "--qr", "--api-url", url)
    assert code == 2, (out, err)
    assert "--api-url" in err and says in " ".join(err.split()), err
    assert "Traceback" not in err and not TOKEN.search(out)
    assert tokens_in_store(home) == 0


def test_a_png_into_a_missing_folder_is_refused_before_a_token_is_made(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, out, err = create(home, "--qr-png", str(tmp_path / "nowhere" / "x.png"))
    assert code == 2 and "--qr-png" in err and not TOKEN.search(out), (out, err)
    assert tokens_in_store(home) == 0
