"""The app's state without its screens: credentials, cached server data, the outbox and
its sync. Kept apart from the Kivy code so that it can be read (and tested) on its own.

Credentials are kept in the app's private data folder, readable by its user only (on
Android, app-private storage that other apps cannot read). Plans and the catalogue are
cached there too, so that forms work with no network at all.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mobile_app.client import ApiClient, Refused, Unreachable
from mobile_app.forms import FormContext
from mobile_app.outbox import Outbox
from mobile_app.sync import Syncer


@dataclass(frozen=True)
class Credentials:
    server: str
    token: str
    label: str = ""  # the person the token was made for: the author of entries

    def client(self, timeout_s: float = 20.0) -> ApiClient:
        return ApiClient(self.server, self.token, timeout_s=timeout_s)


class SignInError(Exception):
    pass


class FieldSession:
    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(self.home / "outbox.sqlite")
        self.credentials = self._load_credentials()
        self.syncer = Syncer(self.outbox, self._client)
        self.project: str | None = None
        self.site: str | None = None

    def close(self) -> None:
        self.syncer.stop()
        self.outbox.close()

    # --- credentials ------------------------------------------------------------------

    @property
    def _credentials_path(self) -> Path:
        return self.home / "credentials.json"

    def _load_credentials(self) -> Credentials | None:
        try:
            data = json.loads(self._credentials_path.read_text())
            return Credentials(data["server"], data["token"], data.get("label", ""))
        except (OSError, ValueError, KeyError):
            return None

    def _save_credentials(self, credentials: Credentials) -> None:
        tmp = self._credentials_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(credentials.__dict__, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self._credentials_path)
        self.credentials = credentials

    def sign_out(self) -> None:
        """Forget the token (queued entries stay, and go once someone signs in)."""
        self._credentials_path.unlink(missing_ok=True)
        self.credentials = None

    def _client(self) -> ApiClient | None:
        return self.credentials.client() if self.credentials else None

    # --- server data -------------------------------------------------------------------

    def sign_in(self, server: str, token: str) -> bool:
        """Check the token with the server and cache its projects' plans. Returns False
        when the server is unreachable but this tablet has what it needs from before.
        Raises SignInError with the reason to show otherwise."""
        server, token = server.strip(), token.strip()
        credentials = Credentials(server, token)
        try:
            me = credentials.client(timeout_s=10).me()
            credentials = Credentials(server, token, str(me.get("label") or ""))
            self._save_credentials(credentials)
            self.refresh()
        except Unreachable as exc:
            known = self.credentials
            if known and known.server == server and known.token == token and self.projects():
                return False
            raise SignInError(str(exc)) from None
        except Refused as exc:
            raise SignInError(exc.message) from None
        self.syncer.wake(now=True)
        return True

    def refresh(self) -> None:
        """Fetch projects, their plans and the catalogue into the cache (raises
        Unreachable or Refused)."""
        client = self._client()
        if client is None:
            return
        projects = client.projects()
        catalogue = client.catalogue()
        for project in projects:
            self.outbox.put_cached(f"plan:{project['id']}", client.plan(project["id"]))
        self.outbox.put_cached("catalogue", catalogue)
        self.outbox.put_cached("projects", projects)

    def projects(self) -> list[dict[str, Any]]:
        return list(self.outbox.cached("projects") or [])

    def plan(self, project: str) -> dict[str, Any]:
        cached = self.outbox.cached(f"plan:{project}") or {}
        return dict(cached.get("plan") or {})

    def sites(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(project, site) pairs the person may work at, from the cache."""
        return [
            (project, site)
            for project in self.projects()
            for site in self.plan(project["id"]).get("sites", [])
        ]

    def context(self) -> FormContext:
        assert self.project and self.site
        return FormContext(
            self.plan(self.project),
            self.outbox.cached("catalogue") or {},
            self.site,
            now=datetime.now(UTC),
        )

    @property
    def author(self) -> str:
        return self.credentials.label if self.credentials and self.credentials.label else "field"
