"""Photos through a real ``mrv api``: uploaded once under their SHA-256, checked for type
and size, cited by entries, read back byte for byte, and covered by audit/verify."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import text

from core.photos import MAX_PHOTO_BYTES
from tests.support.api import ENTRY, behind_the_api, token

PROJECT = "th-solar-rooftops"


def picture(fmt: str, colour: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, format=fmt)
    return out.getvalue()


def test_photos_are_stored_by_hash_checked_and_cited(server: tuple[str, Path]) -> None:
    url, home = server
    field = {
        "Authorization": f"Bearer {token(home, '--role', 'field', '--project', PROJECT, '--label', 'somchai.k')}"
    }
    verifier = {
        "Authorization": f"Bearer {token(home, '--role', 'verifier', '--project', PROJECT)}"
    }
    outsider = {
        "Authorization": f"Bearer {token(home, '--role', 'verifier', '--project', 'id-mall-chillers')}"
    }
    photos = f"{url}/v1/projects/{PROJECT}/photos"
    jpeg = picture("JPEG")
    sha = hashlib.sha256(jpeg).hexdigest()

    up = httpx.post(photos, content=jpeg, headers={**field, "Content-Type": "image/jpeg"})
    assert up.status_code == 201, up.text
    assert up.json() | {"uploaded_at": None} == {
        "sha256": sha,
        "media_type": "image/jpeg",
        "size_bytes": len(jpeg),
        "width": 64,
        "height": 48,
        "uploaded_by": up.json()["uploaded_by"],
        "uploaded_at": None,
    }
    again = httpx.post(photos, content=jpeg, headers={**field, "Content-Type": "image/jpeg"})
    assert again.status_code == 200 and again.json()["sha256"] == sha

    back = httpx.get(f"{photos}/{sha}", headers=verifier)
    assert back.status_code == 200 and back.content == jpeg
    assert back.headers["content-type"] == "image/jpeg"
    assert [p["sha256"] for p in httpx.get(photos, headers=verifier).json()] == [sha]
    # another project's verifier sees nothing of it; a verifier cannot upload
    assert httpx.get(f"{photos}/{sha}", headers=outsider).status_code == 403
    no_write = httpx.post(photos, content=jpeg, headers={**verifier, "Content-Type": "image/jpeg"})
    assert no_write.status_code == 403
    missing = httpx.get(f"{photos}/{'0' * 64}", headers=verifier)
    assert missing.status_code == 404 and missing.json()["field"] == "sha256"

    # refused: a type not accepted, bytes that are not the declared type, a damaged photo
    def refused(content: bytes, media_type: str) -> dict[str, str]:
        answer = httpx.post(photos, content=content, headers={**field, "Content-Type": media_type})
        assert answer.status_code in (413, 415, 422), answer.text
        return {"status": str(answer.status_code), **answer.json()}

    assert refused(b"%PDF-1.4", "application/pdf")["field"] == "content-type"
    liar = refused(picture("PNG"), "image/jpeg")
    assert liar["status"] == "415" and "the bytes are PNG" in liar["error"]
    damaged = refused(jpeg[:200], "image/jpeg")
    assert damaged["status"] == "422" and damaged["field"] == "body"
    assert refused(b"\xff\xd8\xff" + b"\0" * 100, "image/jpeg")["field"] == "body"
    assert refused(b"", "image/png")["error"] == "body: the photo is empty"

    # too large, announced by Content-Length or sent chunked without one
    big = b"\xff\xd8\xff" + b"\0" * MAX_PHOTO_BYTES
    assert refused(big, "image/jpeg")["status"] == "413"

    def chunks() -> Iterator[bytes]:
        for _ in range(12):
            yield b"\0" * 1_000_000

    chunked = httpx.post(photos, content=chunks(), headers={**field, "Content-Type": "image/jpeg"})
    assert chunked.status_code == 413 and chunked.json()["field"] == "body"

    # entries cite photos by hash; an unknown hash is refused and named
    entries = f"{url}/v1/projects/{PROJECT}/entries"
    cited = {**ENTRY, "body": {**ENTRY["body"], "photos": [sha]}}
    made = httpx.post(entries, json=cited, headers=field)
    assert made.status_code == 201, made.text
    assert made.json()["body"]["photos"] == [sha]
    unknown = {
        **ENTRY,
        "id": "5b3f0c7a-8a1e-4f5e-9d7a-1b2c3d4e5f70",
        "body": {**ENTRY["body"], "photos": [sha, "ab" * 32]},
    }
    no = httpx.post(entries, json=unknown, headers=field)
    assert no.status_code == 422
    assert no.json()["problems"] == [
        {
            "field": "body.photos[1]",
            "message": f"no photo {'ab' * 32} in project {PROJECT}: upload it first",
        }
    ]
    twice = {**unknown, "body": {**ENTRY["body"], "photos": [sha, sha]}}
    assert httpx.post(entries, json=twice, headers=field).json()["problems"][0]["field"] == (
        "body.photos"
    )

    # a photo changed behind the API's back is named by audit/verify
    verify = f"{url}/v1/projects/{PROJECT}/audit/verify"
    assert httpx.get(verify, headers=verifier).json()["intact"]
    with behind_the_api(home) as conn:
        conn.execute(
            text("UPDATE photo_blobs SET content = :c WHERE sha256 = :s"),
            {"c": picture("JPEG", (0, 0, 0)), "s": sha},
        )
    tampered = httpx.get(verify, headers=verifier).json()
    assert tampered["intact"] is False
    assert tampered["changes"] == [{"kind": "photo", "id": sha, "what": "its bytes were changed"}]
