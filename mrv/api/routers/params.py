"""Path and query parameters the routers share, each bounded (SPEC section 9: input limits
on every field), so that no value a client can put in a URL reaches a store unchecked.
The project in a path is checked where every project route gets it
(``mrv.api.deps.project_of``).
"""

from typing import Annotated

from fastapi import Path, Query

from core.wire import ID_PATTERN

#: A device in a path or a query.
DeviceId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]
Name = Annotated[str, Query(max_length=64, pattern=ID_PATTERN)]
