"""Bearer tokens: created once (the token is shown then and stored only as its hash),
checked on every request, revocable, optionally expiring, scoped to projects."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from persistence import audit, claims
from persistence.models import ApiToken, Project

Role = Literal["field", "verifier", "operator", "admin"]
ROLES: tuple[Role, ...] = ("field", "verifier", "operator", "admin")
PREFIX = "mrv_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    id: int
    role: Role
    projects: tuple[str, ...]  # empty: every project
    label: str

    def may_see(self, project: str) -> bool:
        return not self.projects or project in self.projects


def create_token(
    session: Session,
    role: Role,
    projects: list[str],
    *,
    label: str,
    expires_days: float | None = None,
    actor: str = "cli",
) -> tuple[str, TokenInfo]:
    """A new token (returned once, in clear) and what it grants."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role != "admin" and not projects:
        raise ValueError("a field, verifier or operator token needs at least one --project")
    unknown = [p for p in projects if session.get(Project, p) is None]
    if unknown:
        raise ValueError(f"no project {unknown[0]!r} (load its plan first: mrv plan load)")
    label = label.strip()
    if role == "field" and not label:
        # A field token is one person's: its label is the author of what it sends, which
        # is how "field staff edit only their own entries" is decided.
        raise ValueError("a field token names its person: --label NAME (its entries' author)")
    if len(label) > 128:
        raise ValueError("the label is at most 128 characters")
    token = PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = ApiToken(
        token_sha256=token_hash(token),
        role=role,
        projects=sorted(set(projects)),
        label=label,
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(row)
    session.flush()
    _audit(session, row, "token.created", actor)
    return token, TokenInfo(row.id, role, tuple(row.projects), label)


def check_token(session: Session, token: str, now: datetime | None = None) -> TokenInfo | None:
    """What a presented token grants, or None (unknown, revoked or expired)."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_hash(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = now or datetime.now(UTC)
    expires = row.expires_at
    if expires is not None:
        if expires.tzinfo is None:  # SQLite gives naive datetimes back
            expires = expires.replace(tzinfo=UTC)
        if expires <= now:
            return None
    return TokenInfo(row.id, row.role, tuple(row.projects), row.label)  # type: ignore[arg-type]


def revoke_token(session: Session, token_id: int, actor: str = "cli") -> bool:
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(UTC)
    _audit(session, row, "token.revoked", actor)
    return True


def _audit(session: Session, row: ApiToken, action: str, actor: str) -> None:
    """A link in each chain of a project the token grants (a verifier of one project
    sees who could write to it), or in the installation's chain for an all-projects
    token; each states the token's grant and life as stored."""
    for project in claims.token_chains(row):
        audit.append(
            session,
            action=action,
            actor=actor,
            project_id=project,
            subject=claims.token_subject(row.id),
            body=claims.token_claim(row),
        )


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))
