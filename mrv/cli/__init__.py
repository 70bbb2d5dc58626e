"""The ``mrv`` command (typer): the edge where an operator, a verifier or a script meets
the product. One module per command group (``ingest``, ``plans``, ``records``,
``report``, ``api``), assembled in ``main``; ``common`` holds what they share. It may
import every layer below it."""

from mrv.cli.main import app

__all__ = ["app"]
