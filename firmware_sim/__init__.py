"""Simulated devices: meters and analysers driven by a monitoring plan, publishing over MQTT
as real firmware would.

- ``physics``, ``noise``: plausible signals (PV following the sun and clouds at the site's
  latitude, landfill gas, chiller load), deterministic for a seed.
- ``model``: each site's shared conditions (weather, load) from the plan.
- ``device``: one device's registers (rollover at ``register_max``), clock drift, units it
  reports in (``units_out``), and the faults it suffers (``faults``).
- ``buffer``: the device's flash (SQLite): messages kept until the gateway acks them.
- ``publisher``: the MQTT client (birth/last will, acks); ``runner``: the simulation loop.

It is a device: it knows the wire contract (``core``: wire schema, units, quantities,
the plan's schema) and nothing else of ours, never the gateway or the verifier
(import-linter keeps it so). Where a test needs the expected answer, the test computes it.
"""
