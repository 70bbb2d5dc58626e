"""Withdrawing, reinstating and deleting a field entry through a real ``mrv api``: each is
a revision with a reason, audited, shown in the history, and verifiable; who may do
which is checked per role."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import text

from tests.support.api import ENTRY, behind_the_api, run, token

P = "th-solar-rooftops"


def bearer(home, *args: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(home, *args)}"}


def test_status_changes_are_revisions_with_reasons(server) -> None:
    url, home = server
    field = bearer(home, "--role", "field", "--project", P, "--label", "somchai.k")
    other_field = bearer(home, "--role", "field", "--project", P, "--label", "anan.p")
    operator = bearer(home, "--role", "operator", "--project", P, "--label", "ops.niran")
    verifier = bearer(home, "--role", "verifier", "--project", P)
    entries = f"{url}/v1/projects/{P}/entries"
    assert httpx.post(entries, json=ENTRY, headers=field).status_code == 201
    status = f"{entries}/{ENTRY['id']}/status"
    withdraw = {"status": "withdrawn", "reason": "wrong meter", "author": "somchai.k"}

    assert httpx.post(status, json=withdraw, headers=verifier).status_code == 403
    mine_only = httpx.post(status, json={**withdraw, "author": "anan.p"}, headers=other_field)
    assert mine_only.status_code == 403 and mine_only.json()["field"] == "author"
    no_reason = httpx.post(status, json={**withdraw, "reason": " "}, headers=field)
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    unknown = httpx.post(status, json={**withdraw, "status": "gone"}, headers=field)
    assert unknown.status_code == 422 and unknown.json()["field"] == "status"
    stale = httpx.post(status, json={**withdraw, "base_revision": 7}, headers=field)
    assert stale.status_code == 409 and stale.json()["field"] == "revision"

    done = httpx.post(status, json=withdraw, headers=field)
    assert done.status_code == 200 and done.json()["status"] == "withdrawn", done.text
    assert httpx.post(status, json=withdraw, headers=field).json()["revision"] == 2  # a resend
    assert httpx.get(entries, headers=verifier).json()["entries"] == []
    listed = httpx.get(entries, params={"status": "withdrawn"}, headers=verifier).json()
    assert [e["id"] for e in listed["entries"]] == [ENTRY["id"]]
    edit = {"body": ENTRY["body"] | {"error_pct": 0.2}, "reason": "x", "author": "somchai.k"}
    assert httpx.put(f"{entries}/{ENTRY['id']}", json=edit, headers=field).status_code == 409

    delete = {"status": "deleted", "reason": "a test entry", "author": "somchai.k"}
    refused = httpx.post(status, json=delete, headers=field)
    assert refused.status_code == 403 and refused.json()["field"] == "status"
    deleted = httpx.post(status, json={**delete, "author": "ops.niran"}, headers=operator)
    assert deleted.status_code == 200 and deleted.json()["revision"] == 3
    back = {"status": "active", "reason": "undo", "author": "ops.niran"}
    final = httpx.post(status, json=back, headers=operator)
    assert final.status_code == 409 and final.json()["field"] == "status"

    shown = httpx.get(f"{entries}/{ENTRY['id']}", headers=verifier).json()
    assert [(h["status"], h["reason"]) for h in shown["history"]] == [
        ("active", None),
        ("withdrawn", "wrong meter"),
        ("deleted", "a test entry"),
    ]
    everything = httpx.get(entries, params={"status": "all"}, headers=verifier).json()
    assert [e["status"] for e in everything["entries"]] == ["deleted"]
    verify = f"{url}/v1/projects/{P}/audit/verify"
    assert httpx.get(verify, headers=verifier).json()["intact"]

    # a deleted entry brought back behind the API's back: named
    with behind_the_api(home) as conn:
        conn.execute(text("UPDATE entries SET status = 'active'"))
    verdict = httpx.get(verify, headers=verifier).json()
    assert not verdict["intact"]
    assert {(c["kind"], c["id"]) for c in verdict["changes"]} == {("entry", ENTRY["id"])}


def test_the_cli_withdraws_reinstates_and_deletes(server) -> None:
    _, home = server
    entry_file = home / "entry.json"
    entry_file.write_text(json.dumps(ENTRY))
    run("entries", "add", str(entry_file), "--project", P, home=home)
    ident = ENTRY["id"]
    common = ["--project", P, "--author", "ops.niran"]
    out = run("entries", "withdraw", ident, *common, "--reason", "wrong meter", home=home)
    assert "withdrawn (revision 2)" in out
    assert ident not in run("entries", "list", "--project", P, home=home)
    listed = run("entries", "list", "--project", P, "--status", "withdrawn", home=home)
    assert ident in listed and "withdrawn" in listed
    run("entries", "reinstate", ident, *common, "--reason", "it stands", home=home)
    run("entries", "delete", ident, *common, "--reason", "test entry", home=home)
    again = run("entries", "reinstate", ident, *common, "--reason", "undo", home=home, code=1)
    assert "cannot become active" in again
    elsewhere = ["--project", "id-mall-chillers", "--author", "ops", "--reason", "x"]
    assert "no entry" in run("entries", "withdraw", ident, *elsewhere, home=home, code=1)
    run("entries", "list", "--project", P, "--status", "gone", home=home, code=2)
    assert "intact" in run("audit", "verify", "--project", P, home=home).lower()
