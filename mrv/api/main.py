"""The ASGI entry point uvicorn imports (``mrv.api.main:app``), configured from the
environment (MRV_HOME, MRV_* settings) so that every worker builds the same app."""

from core.config import load_settings
from mrv.api.app import create_app

app = create_app(load_settings())
