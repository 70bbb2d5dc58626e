#!/usr/bin/env bash
# One command: set up this machine, check style and types, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
# pytest in parallel (pytest-xdist): many tests wait on servers and subprocesses, so two
# workers per core beat one (on 2 cores: 4 to 5 minutes with 4 workers, 6.5 with 2, 7.5 in
# one process; 6 workers were no faster). Each worker starts its own PostgreSQL, Mosquittos
# and servers, on ports of its own (tests/support/ports.py).
# MRV_TEST_WORKERS sets the number (0: one process, no xdist); the arguments given to this
# script go to pytest after these, so an `-n` there wins too.
workers=${MRV_TEST_WORKERS:-$((2 * $(nproc)))}
exec .venv/bin/python -m pytest -q -n "$workers" --dist load "$@"
