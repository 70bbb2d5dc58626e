"""The core: the wire contract, units, quantities, plans, register arithmetic, time.

Imports nothing of ours."""
