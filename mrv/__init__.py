"""The edge: where an operator, a verifier, a script or a browser meets the product.

``cli`` (the ``mrv`` command), ``api`` (the HTTP API), ``demo`` (broker, gateway and
simulated devices end to end) and ``broker_auth`` (Mosquitto password and ACL files).
It may import every layer below it (``gateway``, ``verification``, ``firmware_sim``,
``persistence``, ``core``); nothing below imports it (import-linter, pyproject.toml)."""
