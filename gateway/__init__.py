"""MQTT ingestion: every reading lands once in the store, or in quarantine with a reason.

- ``decode``: bytes to canonical reading rows or quarantine items (no I/O): topic, payload,
  each message of a backfill array, each reading, each named by its field.
- ``processor``: a batch's dedupe and conflicts, register checks (``core.registers``),
  arrival gaps, and its durable writes in crash-safe order.
- ``service``: the MQTT loop (persistent session, manual acknowledgement, batches, acks
  built from ``AckMessage``, graceful stop); ``spool``: messages kept on local disk while
  the store is down; ``metrics``: Prometheus counters.
- ``importer``: a data logger's CSV through the same pipeline; ``release``: quarantined
  messages re-processed.

It imports the core and persistence only (``core``, ``persistence``); never
verification or the edge. import-linter keeps it so.
"""
