"""The HTTP API (FastAPI) for field staff and verifiers (issue 4, first slice)."""
