"""``python -m mrv.cli``: the ``mrv`` command."""

from mrv.cli import app

app()
