"""The field app's outbox and sync (no GUI) against a real ``mrv api``: entries made
offline survive restarts and crashes and are delivered exactly once; refusals are kept
with the server's reason; conflicts are never overwritten."""

from __future__ import annotations

import io
import random
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from mobile_app.client import ApiClient
from mobile_app.outbox import Outbox, new_id
from mobile_app.sync import BASE_DELAY_S, MAX_DELAY_S, Syncer, backoff_s
from tests.support.api import prepare, serve, token
from tests.support.ports import free_port

P = "th-solar-rooftops"
AUTHOR = "somchai.k"


def reading(value: float = 60.5, device: str = "pv-a-meter") -> dict[str, object]:
    return {
        "device": device,
        "quantity": "energy_export",
        "time": "2026-06-10T08:00:00Z",
        "value": value,
        "unit": "MWh",
    }


def save(outbox: Outbox, body: dict[str, object], entry_id: str | None = None) -> str:
    entry_id = entry_id or new_id()
    outbox.save(
        entry_id, P, "meter_reading", body, AUTHOR, "2026-06-10T08:05:00+00:00",
        {"lat": 12.7, "lon": 101.1, "accuracy_m": 6.0}, submit=True,
    )  # fmt: skip
    return entry_id


def stored(url: str, auth: dict[str, str]) -> list[dict[str, object]]:
    return httpx.get(f"{url}/v1/projects/{P}/entries", headers=auth).json()["entries"]


def test_backoff_doubles_with_jitter_up_to_a_cap() -> None:
    rng = random.Random(1)
    waits = [backoff_s(n, rng) for n in range(12)]
    for n, wait in enumerate(waits):
        nominal = min(MAX_DELAY_S, BASE_DELAY_S * 2**n)
        assert nominal <= wait <= nominal * 1.25
    assert backoff_s(10_000, rng) <= MAX_DELAY_S * 1.25


def test_offline_entries_survive_restarts_and_arrive_once(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "home"
    prepare(home, db_url, tmp_path)
    field = token(home, "--role", "field", "--project", P, "--label", AUTHOR)
    auth = {"Authorization": f"Bearer {field}"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = tmp_path / "tablet" / "outbox.sqlite"

    # the server is down: entries are saved, tried, and wait with a growing backoff
    outbox = Outbox(db)
    syncer = Syncer(outbox, lambda: ApiClient(url, field, timeout_s=2))
    first = save(outbox, reading(60.5))
    second = save(outbox, reading(61.0))
    assert syncer.run_once() == 0 and syncer.status.online is False
    waiting = outbox.get(first)
    assert waiting is not None and waiting.state == "queued" and waiting.attempts == 1
    assert waiting.next_attempt > time.time() and "cannot reach" in waiting.reason
    # a crash in the middle of a send leaves "sending": a restart puts it back in line
    outbox.retry_now()
    assert [e.id for e in outbox.claim_due(time.time(), limit=1)] == [first]
    outbox.close()

    outbox = Outbox(db)  # the app restarted
    assert {e.id: e.state for e in outbox.entries()} == {first: "queued", second: "queued"}
    syncer = Syncer(outbox, lambda: ApiClient(url, field, timeout_s=10))
    with serve(home, port=port):
        syncer.wake(now=True)
        assert syncer.run_once() == 2
        assert {e.state for e in outbox.entries()} == {"sent"}
        # a lost answer makes the app send again: the server keeps one of each
        outbox._db.execute("UPDATE outbox SET state = 'queued'")
        assert syncer.run_once() == 2
        ids = [e["id"] for e in stored(url, auth)]
        assert sorted(ids) == sorted([first, second])

        # the server refuses a wrong entry, with its reason; nothing is stored
        wrong = save(outbox, reading(device="pv-z"))
        syncer.run_once()
        refused = outbox.get(wrong)
        assert refused is not None and refused.state == "rejected"
        assert "body.device" in refused.reason and "pv-z" in refused.reason
        # fixed and resubmitted under the same id, it goes through
        outbox.save(wrong, P, "meter_reading", reading(62.0), AUTHOR,
                    "2026-06-10T08:05:00+00:00", None, submit=True)  # fmt: skip
        syncer.run_once()
        fixed = outbox.get(wrong)
        assert fixed is not None and fixed.state == "sent"

        # another body already stored under an id: a conflict, shown, not overwritten
        clash = new_id()
        elsewhere = {"id": clash, "type": "meter_reading", "author": AUTHOR, "body": reading(70.0)}
        assert (
            httpx.post(f"{url}/v1/projects/{P}/entries", json=elsewhere, headers=auth).status_code
            == 201
        )
        save(outbox, reading(71.0), clash)
        syncer.run_once()
        conflict = outbox.get(clash)
        assert (
            conflict is not None
            and conflict.state == "conflict"
            and "different body" in conflict.reason
        )
        server_copy = httpx.get(f"{url}/v1/projects/{P}/entries/{clash}", headers=auth).json()
        assert server_copy["body"]["value"] == 70.0

        # an edit of a sent entry carries its reason; the server keeps both revisions
        outbox.edit(first, reading(60.8), "misread the last digit")
        syncer.run_once()
        edited = outbox.get(first)
        assert edited is not None and edited.state == "sent" and edited.revision == 2
        history = httpx.get(f"{url}/v1/projects/{P}/entries/{first}", headers=auth).json()
        assert [h["reason"] for h in history["history"]] == [None, "misread the last digit"]

        # an edit that crosses another (made elsewhere first) is a conflict; the tablet
        # takes the server's revision, and the change redone on top of it goes through
        elsewhere_edit = {"body": reading(60.9), "reason": "office correction", "author": AUTHOR}
        put = httpx.put(f"{url}/v1/projects/{P}/entries/{first}", json=elsewhere_edit, headers=auth)
        assert put.status_code == 200 and put.json()["revision"] == 3
        outbox.edit(first, reading(61.0), "second look at the display")
        syncer.run_once()
        crossed = outbox.get(first)
        assert crossed is not None and crossed.state == "conflict" and crossed.revision == 3
        assert crossed.body["value"] == 60.9  # the server's, which stands
        outbox.edit(first, reading(61.0), "second look at the display")
        syncer.run_once()
        redone = outbox.get(first)
        assert redone is not None and redone.state == "sent" and redone.revision == 4
    outbox.close()


def test_photos_go_before_the_entry_that_cites_them(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "home"
    prepare(home, db_url, tmp_path)
    field = token(home, "--role", "field", "--project", P, "--label", AUTHOR)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    picture = io.BytesIO()
    Image.new("RGB", (32, 24), (250, 250, 0)).save(picture, format="JPEG")
    sha = outbox.add_photo(P, picture.getvalue(), "image/jpeg")
    entry_id = save(outbox, {**reading(), "photos": [sha]})
    with serve(home) as (url, _):
        syncer = Syncer(outbox, lambda: ApiClient(url, field))
        assert syncer.run_once() == 1
        auth = {"Authorization": f"Bearer {field}"}
        back = httpx.get(f"{url}/v1/projects/{P}/photos/{sha}", headers=auth)
        assert back.content == picture.getvalue()
        entry = httpx.get(f"{url}/v1/projects/{P}/entries/{entry_id}", headers=auth).json()
        assert entry["body"]["photos"] == [sha]
    kept = outbox.photo(sha)
    assert kept is not None and kept[3]  # marked uploaded: not sent again


def test_a_double_saved_entry_is_one_row(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    entry_id = new_id()
    save(outbox, reading(), entry_id)
    save(outbox, reading(), entry_id)
    assert len(outbox.entries()) == 1
    with pytest.raises(ValueError, match="not on the server yet"):
        outbox.edit(entry_id, reading(1.0), "why")


def test_drafts_wait_for_the_person_and_submitted_entries_are_not_changed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    entry_id = new_id()
    outbox.save(entry_id, P, "meter_reading", reading(1.0), AUTHOR, "2026-06-10T08:05:00+00:00",
                None, submit=False)  # fmt: skip
    assert outbox.claim_due(time.time() + 3600) == []  # a draft is never sent
    outbox.save(entry_id, P, "meter_reading", reading(2.0), AUTHOR, "2026-06-10T08:05:00+00:00",
                None, submit=True)  # fmt: skip
    queued = outbox.get(entry_id)
    assert queued is not None and queued.state == "queued" and queued.body["value"] == 2.0
    # once submitted, saving again (a stale form) changes nothing
    outbox.save(entry_id, P, "meter_reading", reading(3.0), AUTHOR, "2026-06-10T08:05:00+00:00",
                None, submit=True)  # fmt: skip
    again = outbox.get(entry_id)
    assert again is not None and again.body["value"] == 2.0
    other = new_id()
    outbox.save(other, P, "meter_reading", reading(4.0), AUTHOR, "2026-06-10T08:05:00+00:00",
                None, submit=False)  # fmt: skip
    assert outbox.discard(other) and not outbox.discard(entry_id)  # only drafts go
