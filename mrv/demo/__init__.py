"""The demo (edge): ``mrv demo`` runs a private broker, the gateway and simulated devices
end to end (``run``), with the Mosquitto launcher it needs (``broker``, also used by the
tests and benchmarks). It may import every layer below it."""
