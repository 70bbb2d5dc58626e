"""The core: the wire contract (``wire``), the unit registry (``units``), the quantity
catalogue (``quantities``, ``catalogue``), monitoring plans (``plans``), manual entries
(``entries``, ``photos``), register arithmetic (``registers``), time (``times``),
settings (``config``), logging and the one error shape (``errors``).

It imports nothing of ours (import-linter, pyproject.toml)."""
