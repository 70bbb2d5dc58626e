"""Photos in the relational store: upload once per project, read back, check citations."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.photos import PhotoInfo, inspect_photo
from persistence import audit
from persistence.audit import Subject
from persistence.models import Photo, PhotoBlob


@dataclass(frozen=True)
class StoredPhoto:
    info: PhotoInfo
    uploaded_by: str
    uploaded_at: datetime

    def as_json(self) -> dict[str, object]:
        return {
            "sha256": self.info.sha256,
            "media_type": self.info.media_type,
            "size_bytes": self.info.size_bytes,
            "width": self.info.width,
            "height": self.info.height,
            "uploaded_by": self.uploaded_by,
            "uploaded_at": self.uploaded_at.isoformat(),
        }


def _info(blob: PhotoBlob) -> PhotoInfo:
    return PhotoInfo(blob.sha256, blob.media_type, blob.size_bytes, blob.width, blob.height)


def add_photo(
    session: Session, project_id: str, content: bytes, media_type: str | None, actor: str
) -> tuple[StoredPhoto, bool]:
    """Store a photo for a project (checked by ``inspect_photo``); audited.

    Idempotent: the same bytes again return the stored photo with ``created`` False.
    Raises PhotoRejected; the caller has checked that the project exists.
    """
    info = inspect_photo(content, media_type)
    existing = session.get(Photo, (project_id, info.sha256))
    if existing is not None:
        blob = session.get(PhotoBlob, info.sha256)
        assert blob is not None
        return StoredPhoto(_info(blob), existing.uploaded_by, existing.uploaded_at), False
    if session.get(PhotoBlob, info.sha256) is None:
        session.add(
            PhotoBlob(
                sha256=info.sha256,
                media_type=info.media_type,
                size_bytes=info.size_bytes,
                width=info.width,
                height=info.height,
                content=content,
            )
        )
        session.flush()  # the blob before the row that refers to it (PostgreSQL)
    now = datetime.now(UTC)
    session.add(
        Photo(project_id=project_id, sha256=info.sha256, uploaded_by=actor, uploaded_at=now)
    )
    session.flush()
    audit.append(
        session,
        action="photo.add",
        actor=actor,
        project_id=project_id,
        subject=Subject("photo", info.sha256),
        body={"sha256": info.sha256, "media_type": info.media_type, "size": info.size_bytes},
    )
    return StoredPhoto(info, actor, now), True


def get_photo(session: Session, project_id: str, sha256: str) -> tuple[StoredPhoto, bytes] | None:
    """A project's photo and its bytes, or None if the project has no such photo."""
    row = session.get(Photo, (project_id, sha256))
    if row is None:
        return None
    blob = session.get(PhotoBlob, sha256)
    assert blob is not None
    return StoredPhoto(_info(blob), row.uploaded_by, row.uploaded_at), bytes(blob.content)


def list_photos(session: Session, project_id: str) -> list[StoredPhoto]:
    query = (
        select(Photo, PhotoBlob)
        .join(PhotoBlob, Photo.sha256 == PhotoBlob.sha256)
        .where(Photo.project_id == project_id)
        .order_by(Photo.uploaded_at, Photo.sha256)
    )
    return [StoredPhoto(_info(b), p.uploaded_by, p.uploaded_at) for p, b in session.execute(query)]


def missing_photos(session: Session, project_id: str, hashes: Iterable[str]) -> list[str]:
    """The hashes among ``hashes`` that the project has no photo for, in the given order."""
    wanted = list(dict.fromkeys(hashes))
    if not wanted:
        return []
    found = set(
        session.scalars(
            select(Photo.sha256).where(Photo.project_id == project_id, Photo.sha256.in_(wanted))
        )
    )
    return [h for h in wanted if h not in found]


def changed_photos(session: Session, project_id: str) -> list[str]:
    """The project's photos whose stored bytes no longer hash to their name."""
    query = (
        select(PhotoBlob)
        .join(Photo, Photo.sha256 == PhotoBlob.sha256)
        .where(Photo.project_id == project_id)
    )
    return [
        b.sha256
        for b in session.scalars(query)
        if hashlib.sha256(bytes(b.content)).hexdigest() != b.sha256
    ]
