"""What the routes depend on: the application's state (settings, the relational store,
the time-series store, opened once per application), a session per request, the caller
(a bearer token, with failed attempts slowed down), its access to the project, and its
role.

Each is a FastAPI dependency, named by an ``Annotated`` alias (``Caller``, ``ProjectId``,
...) so that a route states what it needs in its signature and nothing else.
"""

import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from core.config import Network, Settings
from core.wire import ID_RE, ID_RULE
from mrv.api.errors import refuse
from mrv.api.limiter import FailedAuthLimiter, Throttled, client_address
from mrv.api.tokens import TokenInfo, check_token
from persistence import security
from persistence.engine import Database
from persistence.models import Project
from persistence.stores import open_timeseries
from persistence.stores.timeseries import TimeSeriesStore

# A report is CPU-bound Python: more of them at once in one process only pass the GIL to
# and fro (bench/api.py: one worker served 18 reports/s with one in flight, 9 with eight,
# each costing 130 ms of CPU instead of 53). Others wait their turn; add workers to scale.
REPORTS_AT_ONCE = 2
WRITERS = frozenset({"field", "operator", "admin"})
OPERATORS = frozenset({"operator", "admin"})


@dataclass
class ApiState:
    """What one application holds for its lifetime (``app.state.api``). Both stores are
    safe to share between the threads that serve requests: the SQLite time-series store
    serialises its one connection with a lock and reads on connections of their own, the
    InfluxDB one likewise; SQLAlchemy's engine pools connections."""

    settings: Settings
    db: Database
    store: TimeSeriesStore
    limiter: FailedAuthLimiter = field(default_factory=FailedAuthLimiter)
    proxies: tuple[Network, ...] = ()  # whose X-Forwarded-For is believed
    report_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(REPORTS_AT_ONCE)
    )

    @classmethod
    def open(cls, settings: Settings) -> "ApiState":
        db = Database(settings.effective_database_url)
        try:
            limiter = FailedAuthLimiter(max_clients=settings.api_auth_max_clients)
            return cls(settings, db, open_timeseries(settings), limiter, settings.trusted_proxies)
        except BaseException:
            db.dispose()
            raise

    def close(self) -> None:
        try:
            self.store.close()
        finally:
            self.db.dispose()


async def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(api_state)]


async def database(state: State) -> Database:
    return state.db


async def timeseries(state: State) -> TimeSeriesStore:
    return state.store


def session(db: Annotated[Database, Depends(database)]) -> Iterator[Session]:
    with db.session() as s:
        yield s


Db = Annotated[Database, Depends(database)]
Store = Annotated[TimeSeriesStore, Depends(timeseries)]
SessionDep = Annotated[Session, Depends(session)]
bearer = HTTPBearer(auto_error=False)


def authenticate(request: Request, state: ApiState, s: Session, token: str | None) -> TokenInfo:
    """The grant of ``token`` (from a bearer header, or the portal's cookie); 401 without
    a valid one, 429 after too many wrong ones from the same client
    (``mrv.api.limiter``: a token that worked from there before still works). A missing
    token is no guess: it is not counted."""
    if not token:
        raise refuse(401, "a valid bearer token is required (mrv token create)")
    client = client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        state.proxies,
    )
    try:
        info = state.limiter.authenticate(client, token, lambda t: check_token(s, t))
    except Throttled as exc:
        raise refuse(
            429,
            f"too many failed attempts: retry in {exc.wait_s} s",
            headers={"Retry-After": str(exc.wait_s)},
        ) from None
    if info is None:
        # Checked failures only: a throttled client's are not (at most a few a minute).
        security.record(s, "auth.failed", client, {"path": request.url.path[:200]})
        s.commit()
        raise refuse(401, "a valid bearer token is required (mrv token create)")
    return info


def caller(
    request: Request,
    state: State,
    s: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> TokenInfo:
    """The bearer token's grant (``authenticate``)."""
    return authenticate(request, state, s, credentials.credentials if credentials else None)


Caller = Annotated[TokenInfo, Depends(caller)]


def project_of(project: str, who: Caller, s: SessionDep) -> str:
    """The project in the path, checked (``granted_project``)."""
    return granted_project(project, who, s)


def granted_project(project: str, who: TokenInfo, s: Session) -> str:
    """The project in the path: an id (422 for a NUL byte, ten thousand characters...),
    granted by the token (403, in the security log) and existing (404)."""
    if not ID_RE.match(project):
        raise refuse(422, f"not a project id: {ID_RULE}", "project")
    if not who.may_see(project):
        security.record(
            s, "api.denied", f"token:{who.id}", {"project": project[:64], "role": who.role}
        )
        s.commit()
        raise refuse(403, f"this token does not grant project {project!r}")
    if s.get(Project, project) is None:
        raise refuse(404, f"no project {project!r}")
    return project


ProjectId = Annotated[str, Depends(project_of)]


async def writer(who: Caller) -> TokenInfo:
    """The caller, if its role may write (field staff, operators, admins)."""
    if who.role not in WRITERS:
        raise refuse(403, f"a {who.role} token is read-only")
    return who


Writer = Annotated[TokenInfo, Depends(writer)]
RoleCheck = Callable[[TokenInfo], Awaitable[TokenInfo]]


def operator(action: str) -> RoleCheck:
    """A dependency: the caller, if it is an operator (or admin), who may take ``action``
    (named in the refusal, e.g. "registering a device")."""

    async def check(who: Caller) -> TokenInfo:
        if who.role not in OPERATORS:
            raise refuse(403, f"{action} is an operator's action")
        return who

    return check


def actor(who: TokenInfo) -> str:
    """How the audit chain names a token's actions."""
    return f"token:{who.id}"
