"""Photos: uploaded as the request body, stored under the SHA-256 of their bytes (which
entries cite), read back byte for byte."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from core.photos import MAX_PHOTO_BYTES, MEDIA_TYPES, SHA256_PATTERN, PhotoRejected
from mrv.api.deps import ProjectId, SessionDep, Writer, actor
from mrv.api.errors import PROJECT, Responses, errors, refuse
from mrv.api.schemas import PhotoOut
from persistence.photos import add_photo, get_photo, list_photos

router = APIRouter(prefix="/v1/projects/{project}/photos", tags=["photos"])
RESENT: Responses = {200: {"model": PhotoOut, "description": "Sent before: the stored photo."}}
BINARY = {"schema": {"type": "string", "format": "binary"}}
UPLOAD = {
    "requestBody": {
        "required": True,
        "description": f"The photo's bytes, at most {MAX_PHOTO_BYTES:,}.",
        "content": {t: BINARY for t in MEDIA_TYPES},
    }
}


def _store(
    s: Session, project: str, content: bytes, media_type: str | None, by: str
) -> tuple[PhotoOut, bool]:
    try:
        stored, created = add_photo(s, project, content, media_type, by)
        s.commit()
    except PhotoRejected as exc:
        s.rollback()
        status = 415 if exc.field == "content-type" else 422
        raise refuse(status, exc.message, exc.field) from None
    return PhotoOut.of(stored), created


@router.post(
    "",
    status_code=201,
    operation_id="photos-upload",
    openapi_extra=UPLOAD,
    responses=errors(*PROJECT, 413, 415, also=RESENT),
)
async def upload_photo(
    project: ProjectId, who: Writer, s: SessionDep, request: Request, response: Response
) -> PhotoOut:
    """Upload a photo (JPEG, PNG or WebP) as the request body; it is stored under the
    SHA-256 of its bytes, which entries cite in ``body.photos``. Sending the same photo
    again returns the stored one (200)."""
    content = await request.body()
    media_type = request.headers.get("content-type")
    photo, created = await run_in_threadpool(_store, s, project, content, media_type, actor(who))
    response.status_code = 201 if created else 200
    return photo


@router.get("", operation_id="photos-list", responses=errors(*PROJECT))
def photos(project: ProjectId, s: SessionDep) -> list[PhotoOut]:
    return [PhotoOut.of(p) for p in list_photos(s, project)]


@router.get(
    "/{sha256}",
    operation_id="photos-read",
    response_class=Response,
    responses=errors(*PROJECT, also={200: {"content": {t: BINARY for t in MEDIA_TYPES}}}),
)
def photo(
    project: ProjectId, s: SessionDep, sha256: Annotated[str, Path(pattern=SHA256_PATTERN)]
) -> Response:
    """The photo's bytes, exactly as uploaded (their SHA-256 is the name)."""
    found = get_photo(s, project, sha256)
    if found is None:
        raise refuse(404, f"no photo {sha256}", "sha256")
    info, content = found
    return Response(
        content,
        media_type=info.info.media_type,
        headers={
            "Cache-Control": "private, max-age=31536000, immutable",
            # read as the image it was checked to be, never sniffed as something else
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
