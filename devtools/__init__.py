"""Developer launchers (not installed): private PostgreSQL servers for tests and benchmarks."""
