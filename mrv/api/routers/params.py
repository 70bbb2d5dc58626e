"""Path and query parameters the routers share, each bounded (SPEC section 9: input limits
on every field), so that no value a client can put in a URL reaches a store unchecked.

``CHECKED_PROJECT`` is a router dependency of every project's router: the project in the
path is an id (``core.wire.ID_PATTERN``) before anything looks it up, after the caller's
token (a request without one is a 401 whatever its path).
"""

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from core.wire import ID_PATTERN, ID_RE
from mrv.api.deps import Caller
from mrv.api.errors import refuse

ID_RULE = "an id is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"


def checked_project(request: Request, who: Caller) -> None:
    """422 naming ``project`` for a path whose project cannot be an id (a NUL byte, ten
    thousand characters...), before the project is looked up."""
    project = request.path_params.get("project")
    if project is not None and not ID_RE.match(project):
        raise refuse(422, f"not a project id: {ID_RULE}", "project")


CHECKED_PROJECT = [Depends(checked_project)]

#: A device in a path or a query.
DeviceId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]
Name = Annotated[str, Query(max_length=64, pattern=ID_PATTERN)]
