"""The HTTP API (FastAPI) for field staff, verifiers and operators.

``app.create_app`` assembles it: ``routers`` (one module per resource), ``deps`` (the
stores opened once per application, the session, the caller, project access, roles),
``schemas`` (every request and answer as a pydantic model), ``errors`` (the one error
shape, ``{"error", "field"}``), ``limits`` (request body limits, pure ASGI) and
``tokens`` (bearer tokens). ``main`` is uvicorn's entry point, ``server`` its protocol.
"""
