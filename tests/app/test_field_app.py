"""The real Kivy field app, headless (SDL_VIDEODRIVER=offscreen), driven by simulated
touches (``mobile_app/drive.py``) against a real ``mrv api`` on a free port. Each step
is its own process, as each start of the app on a tablet is."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import prepare, serve, token
from tests.support.ports import free_port

P = "th-solar-rooftops"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    prepare(home, f"sqlite:///{tmp_path / 'mrv.sqlite'}", tmp_path)
    return home


def drive(scenario: str, tablet: Path, **options: str) -> dict[str, Any]:
    out = tablet.parent / f"{scenario}.json"
    out.unlink(missing_ok=True)
    env = {
        **os.environ,
        "SDL_VIDEODRIVER": "offscreen",
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_CONSOLELOG": "1",
        "KIVY_HOME": str(tablet.parent / "kivy"),
    }
    args = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    # A hung GL call can ignore SIGTERM: timeout -k makes sure the step ends.
    command = ["timeout", "-k", "10", "150", sys.executable, "-m", "mobile_app.drive"]
    run = subprocess.run(
        [*command, scenario, "--home", str(tablet), "--out", str(out), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert out.exists(), f"{scenario}: exit {run.returncode}\n{run.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(out.read_text())
    assert result["ok"], f"{scenario} on screen {result.get('screen')}: {result.get('error')}"
    return result["seen"]


def test_an_offline_entry_survives_a_restart_and_arrives_once(home: Path, tmp_path: Path) -> None:
    field = token(home, "--role", "field", "--project", P, "--label", "somchai.k")
    tablet = tmp_path / "tablet" / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(home, port=port):
        assert drive("sign_in", tablet, server=url, token=field)["screen"] == "projects"

    # the server is gone: the entry is made, "submit" tapped twice, and it waits
    offline = drive("offline_entry", tablet, value="61.2")
    assert len(offline["entries"]) == 1, offline  # a double tap makes one entry
    ((entry_id, state),) = offline["entries"]
    assert state == "queued" and offline["row_state"] == "Queued"
    assert offline["outbox_status"].startswith("Offline")

    # the app has exited: the entry is on the tablet's disk, waiting
    with sqlite3.connect(tablet / "outbox.sqlite") as db:
        assert db.execute("SELECT id, state FROM outbox").fetchall() == [(entry_id, "queued")]

    # the app starts again with the server back: delivered, once
    with serve(home, port=port):
        back = drive("deliver", tablet)
        assert back["after"] == [[entry_id, "sent"]]
        auth = {"Authorization": f"Bearer {field}"}
        stored = httpx.get(f"{url}/v1/projects/{P}/entries", headers=auth).json()["entries"]
        assert [e["id"] for e in stored] == [entry_id]
        assert stored[0]["body"]["value"] == 61.2 and stored[0]["body"]["unit"] == "MWh"
        assert stored[0]["author"] == "somchai.k"
        assert stored[0]["gps"] == {"lat": 12.7074, "lon": 101.1481, "accuracy_m": 8.0}


def test_the_servers_reason_is_shown_and_form_mistakes_stay_on_the_tablet(
    home: Path, tmp_path: Path
) -> None:
    field = token(home, "--role", "field", "--project", P, "--label", "somchai.k")
    operator = token(home, "--role", "operator", "--project", P, "--label", "ops")
    tablet = tmp_path / "tablet" / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serve(home, port=port):
        drive("sign_in", tablet, server=url, token=field)
    # offline, with the plan as the tablet knows it, a reading of meter B is accepted
    offline = drive("offline_entry", tablet, site="rayong-b", device="pv-b-meter", value="12.5")
    assert [state for _, state in offline["entries"]] == ["queued"]
    with serve(home, port=port):
        # meanwhile an operator retired that meter on the server
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
        retired = httpx.post(
            f"{url}/v1/projects/{P}/devices/pv-b-meter/retire",
            json={"removed": yesterday, "reason": "replaced"},
            headers={"Authorization": f"Bearer {operator}"},
        )
        assert retired.status_code == 200, retired.text
        seen = drive("deliver", tablet, site="rayong-b", expect="Rejected")
        assert seen["states"] == [
            f"Rejected: body.time: device pv-b-meter was removed on {yesterday}"
        ], seen
        # and a form's own mistakes are caught before anything is saved
        mistakes = drive("invalid_form", tablet)
    assert "plausible range" in mistakes["value_error"]
    assert "YYYY-MM-DD HH:MM" in mistakes["time_error"]
    assert mistakes["status"] == "Please fix the fields marked in red."
    assert mistakes["entries"] == 1  # only the rejected one: nothing new was saved
