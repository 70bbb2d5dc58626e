"""The HTTP API as the field app uses it: standard library only (urllib).

Every call either returns the server's JSON or raises: ``Unreachable`` (no network, a
timeout, a server error or a 429: worth trying again later) or ``Refused`` (the server
answered and said no, with its message and the field at fault: trying again will not
help until something changes).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_S = 20.0


class Unreachable(Exception):
    """No usable answer now; ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(Exception):
    """The server refused the request: status, its message and the field at fault."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        problems: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.problems = problems or []


class ApiClient:
    def __init__(self, base_url: str, token: str, timeout_s: float = TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                answer = json.loads(exc.read() or b"{}")
            except ValueError:
                answer = {}
            message = str(answer.get("error") or exc.reason) if isinstance(answer, dict) else ""
            if status == 429 or status >= 500:
                retry = exc.headers.get("Retry-After")
                raise Unreachable(
                    f"server busy ({status}): {message}",
                    float(retry) if retry and retry.isdigit() else None,
                ) from None
            field = answer.get("field") if isinstance(answer, dict) else None
            problems = answer.get("problems") if isinstance(answer, dict) else None
            raise Refused(status, message or f"HTTP {status}", field, problems) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(f"cannot reach {self.base_url}: {reason}") from None

    # --- reads ---------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """The token's role, projects and label (the author of a field token's entries)."""
        return self._request("GET", "/v1/me")[1]

    def projects(self) -> list[dict[str, Any]]:
        return self._request("GET", "/v1/projects")[1]

    def plan(self, project: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/projects/{_q(project)}/plan")[1]

    def catalogue(self) -> dict[str, Any]:
        return self._request("GET", "/v1/catalogue")[1]

    def entry(self, project: str, entry_id: str) -> dict[str, Any]:
        path = f"/v1/projects/{_q(project)}/entries/{_q(entry_id)}"
        return self._request("GET", path)[1]

    # --- writes --------------------------------------------------------------------------

    def send_entry(self, project: str, entry: dict[str, Any]) -> dict[str, Any]:
        """POST an entry under its own id: 201 new, 200 already stored (a resend)."""
        path = f"/v1/projects/{_q(project)}/entries"
        return self._request("POST", path, json_body=entry)[1]

    def edit_entry(
        self,
        project: str,
        entry_id: str,
        body: dict[str, Any],
        reason: str,
        author: str,
        base_revision: int | None,
    ) -> dict[str, Any]:
        change: dict[str, Any] = {"body": body, "reason": reason, "author": author}
        if base_revision is not None:
            change["base_revision"] = base_revision
        path = f"/v1/projects/{_q(project)}/entries/{_q(entry_id)}"
        return self._request("PUT", path, json_body=change)[1]

    def upload_photo(self, project: str, content: bytes, media_type: str) -> dict[str, Any]:
        path = f"/v1/projects/{_q(project)}/photos"
        return self._request("POST", path, data=content, content_type=media_type)[1]


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")
