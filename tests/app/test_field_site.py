"""The field app at a site (issue 14): sign in by the QR sign-in code, outbox rows that say
when each entry was made and its state, WCAG AA contrast on every screen, and three
kinds of button that look different.

The real app runs headless (SDL_VIDEODRIVER=offscreen) in a process per start, driven by
simulated touches (``mobile_app/drive.py``), against a real ``mrv api`` on a free port.
Screenshots go to build/test-artifacts/app/.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import segno
from PIL import Image

from mobile_app import signin_code
from tests.support.api import env_of, prepare, serve, token
from tests.support.paths import ROOT
from tests.support.ports import free_port

P = "th-solar-rooftops"
ARTIFACTS = ROOT / "build" / "test-artifacts" / "app"
#: The tablet's time zone in these tests: not UTC, so that "local time" is tested.
TABLET_TZ = "Asia/Bangkok"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    prepare(home, f"sqlite:///{tmp_path / 'mrv.sqlite'}", tmp_path)
    return home


def drive(scenario: str, tablet: Path, **options: str) -> dict[str, Any]:
    """One start of the app playing ``scenario``; what it saw (it must end well)."""
    out = tablet.parent / f"{scenario}.json"
    out.unlink(missing_ok=True)
    env = {
        **os.environ,
        "SDL_VIDEODRIVER": "offscreen",
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_CONSOLELOG": "1",
        "KIVY_HOME": str(tablet.parent / "kivy"),
        "TZ": TABLET_TZ,
        "LC_ALL": "C.UTF-8",
    }
    args = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    # A hung GL call can ignore SIGTERM: timeout -k makes sure the step ends.
    command = ["timeout", "-k", "10", "240", sys.executable, "-m", "mobile_app.drive"]
    run = subprocess.run(
        [*command, scenario, "--home", str(tablet), "--out", str(out), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.exists(), f"{scenario}: exit {run.returncode}\n{run.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(out.read_text())
    assert result["ok"], f"{scenario} on screen {result.get('screen')}: {result.get('error')}"
    return result["seen"]


def qr_png(path: Path, text: str) -> Path:
    segno.make(text, error="m", micro=False).save(str(path), scale=8, border=4)
    return path


def test_sign_in_from_the_qr_code_mrv_token_create_wrote_then_an_entry_is_accepted(
    home: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    png = tmp_path / "signin.png"
    # the operator's command, run for real
    made = subprocess.run(
        [
            *(sys.executable, "-m", "mrv.cli", "token", "create", "--role", "field"),
            *("--project", P, "--label", "somchai.k", "--qr-png", str(png), "--api-url", url),
        ],
        env={**os.environ, **env_of(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    field = made.stdout.strip()
    tablet = tmp_path / "tablet" / "data"
    with serve(home, port=port):
        seen = drive("qr_sign_in", tablet, qr_image=str(png), screenshots=str(ARTIFACTS))
        assert seen["screen"] == "projects"
        assert seen["signed_in"] == f"Signed in as somchai.k at {url}"
        assert seen["state"] == "Sent"
        # the token from the picture worked: the API has the entry, by that token's person
        auth = {"Authorization": f"Bearer {field}"}
        stored = httpx.get(f"{url}/v1/projects/{P}/entries", headers=auth).json()["entries"]
        assert [(e["id"], e["author"]) for e in stored] == [(seen["entry"], "somchai.k")]
    # kept as the typed sign-in keeps it: in the app's folder, for its user only
    kept = tablet / "credentials.json"
    assert json.loads(kept.read_text()) == {"server": url, "token": field, "label": "somchai.k"}
    assert kept.stat().st_mode & 0o077 == 0


def junk_pictures(folder: Path) -> Path:
    folder.mkdir(parents=True)
    code = "mrv://sign-in?v={v}&api={api}&token={token}"
    qr_png(folder / "1-words.png", "hello, is this the code?")
    qr_png(folder / "2-version-2.png", code.format(v=2, api="http%3A%2F%2Fx.org", token="mrv_a"))
    qr_png(folder / "3-ftp.png", code.format(v=1, api="ftp%3A%2F%2Fx.org", token="mrv_a"))
    qr_png(folder / "4-long-token.png", code.format(v=1, api="http%3A%2F%2Fx.org", token="a" * 300))
    Image.new("L", (400, 400), 255).save(folder / "5-blank.png")
    (folder / "6-not-a-picture.png").write_bytes(random.Random(6).randbytes(5000))
    Image.new("1", (9000, 9000), 1).save(folder / "7-huge.png")  # 81 MP, a few kB
    (folder / "8-empty.png").write_bytes(b"")
    return folder


def test_junk_codes_pasted_or_in_pictures_are_refused_beside_the_field(tmp_path: Path) -> None:
    folder = junk_pictures(tmp_path / "junk")
    seen = drive("junk_codes", tmp_path / "tablet" / "data", junk_dir=str(folder))
    said = seen["messages"]
    expected = {
        "words": "should start with mrv://sign-in?",
        "web address": "should start with mrv://sign-in?",
        "version 2": "has version 2; this app reads version 1",
        "no version": "has version none",
        "ftp server": "must start with http:// or https://",
        "script server": "must start with http:// or https://",
        "long token": "token is too long",
        "odd token": "characters a token never has",
        "twice": "repeats a field",
        "megabyte": "longer than 2048 characters",
        "control bytes": "contains control characters",
        "empty": "Nothing to read",
        "1-words.png": "should start with mrv://sign-in?",
        "2-version-2.png": "has version 2",
        "3-ftp.png": "must start with http:// or https://",
        "4-long-token.png": "token is too long",
        "5-blank.png": "no QR code found in that picture",
        "6-not-a-picture.png": "not a picture this app can read",
        "7-huge.png": "too many pixels",
        "8-empty.png": "not a picture this app can read",
    }
    assert set(said) == set(expected)
    for name, words in expected.items():
        assert said[name].startswith("Not signed in"), (name, said[name])
        assert words in said[name], (name, said[name])
    assert seen["pasted_length"]["megabyte"] == signin_code.MAX_CODE + 1  # cut on the way in
    # no camera on this machine: the button says so and cannot be pressed
    assert seen["camera"] == ["No camera on this device: use a picture or paste the code", True]
    assert seen["screen"] == "signin" and seen["signed_in"] is False
    assert not (tmp_path / "tablet" / "data" / "credentials.json").exists()


def test_outbox_rows_show_when_each_entry_was_made_and_its_state(
    home: Path, tmp_path: Path
) -> None:
    field = token(home, "--role", "field", "--project", P, "--label", "somchai.k")
    tablet = tmp_path / "tablet" / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(home, port=port):
        drive("sign_in", tablet, server=url, token=field)
    before = datetime.now(ZoneInfo(TABLET_TZ))
    rows = drive("outbox_times", tablet, screenshots=str(ARTIFACTS))["rows"]
    assert sorted((r["state"], r["shown"]) for r in rows.values()) == [
        ("draft", "Draft"),
        ("queued", "Queued"),
    ]
    for row in rows.values():
        made = datetime.fromisoformat(row["recorded_at"]).astimezone(ZoneInfo(TABLET_TZ))
        assert abs(made - before) < timedelta(minutes=5)
        assert row["made"] == f"Made {made:%d %b %H:%M}", row  # local time, e.g. 07 Dec 14:32
    with serve(home, port=port):
        later = drive("outbox_later", tablet, screenshots=str(ARTIFACTS))["rows"]
    assert sorted(r["shown"] for r in later.values()) == ["Draft", "Sent"]
    assert {i: r["made"] for i, r in later.items()} == {i: r["made"] for i, r in rows.items()}


def test_every_text_meets_wcag_aa_and_the_three_button_kinds_differ(
    home: Path, tmp_path: Path
) -> None:
    field = token(home, "--role", "field", "--project", P, "--label", "somchai.k")
    with serve(home) as (url, _):
        seen = drive(
            "contrast",
            tmp_path / "tablet" / "data",
            server=url,
            token=field,
            screenshots=str(ARTIFACTS),
        )
    findings = seen["findings"]
    screens = {f["screen"] for f in findings}
    assert len(screens) >= 12, screens
    assert {"buttons down", "buttons disabled"} <= screens  # each kind pressed, disabled
    assert sum(f["screen"].startswith("buttons ") for f in findings) == 6
    failing = [f for f in findings if not f["ok"]]
    assert failing == [], json.dumps(failing, indent=1)
    shown = {f["widget"] for f in findings}
    # what the issue named: the ticked checklist item, errors, disabled text, choices
    assert {"check:seals_intact", "error:time", "error:reason", "signin.status"} <= shown
    assert {"signin.code_status", "signin.scan"} <= shown
    assert any(f["widget"] == "ChoiceOption" for f in findings)
    ticked = next(
        f
        for f in findings
        if f["widget"] == "check:seals_intact" and f["screen"] == "checklist, two ticked"
    )
    assert ticked["ratio"] >= 4.5 and ticked["text"].startswith("\u2611")
    # the audit fails the old ticked item, as reported (2.86:1)
    old = seen["old_checklist"]
    assert old is not None and not old["ok"] and 2.5 < old["ratio"] < 3.2, old

    looks: dict[str, set[tuple[tuple[int, ...], tuple[int, ...]]]] = {}
    for button in seen["buttons"]:
        looks.setdefault(button["kind"], set()).add((tuple(button["fill"]), tuple(button["edge"])))
    assert set(looks) == {"primary", "secondary", "destructive"}, looks
    assert all(len(v) == 1 for v in looks.values()), looks  # one look per kind, everywhere
    (primary,), (secondary,), (destructive,) = (
        looks["primary"],
        looks["secondary"],
        looks["destructive"],
    )
    assert len({primary, secondary, destructive}) == 3
    assert primary[0] == primary[1] and destructive[0] == destructive[1]  # filled
    assert secondary[0] == (255, 255, 255) and secondary[1] == primary[0]  # outlined
    red, green, blue = destructive[0]
    assert red > 150 and green < 60 and blue < 60  # red
