"""The ASGI entry point uvicorn imports (``mrv.api.main:app``), configured from the
environment (MRV_HOME, MRV_* settings) so that every worker builds the same app."""

from mrv.api.app import create_app
from mrv.core.config import load_settings

app = create_app(load_settings())
