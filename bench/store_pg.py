"""PostgreSQL time-series store benchmark: gateway drains on SQLite and on PostgreSQL.

Run:  .venv/bin/python bench/store_pg.py [--quick] [--messages N] [--repeat R] [--keep]

One run, one private Mosquitto and one private PostgreSQL 15 (started here, stopped at
the end; PostgreSQL with ``fsync=on``, so its commits are as durable as SQLite's
``synchronous=FULL``). Each drain is ``bench/ingest.py``'s: a gateway subscribes with a
persistent session and goes away, N messages (1 reading each, three meters) are queued
for it at the broker, then it comes back and the clock runs from its CONNACK until the
last end-to-end ack (sent only after the store's commit). Rows, each a ratio to the
first:

  A  one gateway, SQLite (time series and relational): the reference;
  B  one gateway, time series on PostgreSQL, relational on SQLite;
  C  one gateway, both on PostgreSQL (one database);
  D  two gateways in one shared subscription, both stores on PostgreSQL;
  E  two gateways in one shared subscription on SQLite (for comparison with D).

Then the store alone, without MQTT: rows/s of ``insert`` in batches of 500 new rows on
SQLite (FULL) and on PostgreSQL with each write method (``unnest``: one statement with
an array per column; ``copy``: the ledger insert, then COPY of the new rows), three
rounds with the order turned each round, best kept.

A measurement, not a test: exit 0 unless the bench itself failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import code_version  # noqa: E402
from bench.ingest import (  # noqa: E402
    BENCH_PLAN_YAML,
    SOLAR_DEVICES,
    SOLAR_PLAN,
    SOLAR_PROJECT,
    AckWatcher,
    Bench,
    DrainResult,
    best,
    machine_lines,
    make_workload,
    out,
    runs_text,
    say,
)
from devtools.pgserver import PostgresServer  # noqa: E402
from mrv.demo.broker import MosquittoBroker  # noqa: E402
from persistence.stores.postgres_ts import (  # noqa: E402
    PostgresTimeSeriesStore,
    WriteMethod,
    conninfo_from_url,
)
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore  # noqa: E402
from persistence.stores.timeseries import ReadingRow  # noqa: E402

STORE_BATCH = 500


class DurablePostgres(PostgresServer):
    """The tests' private PostgreSQL, but with fsync on (the tests run it off)."""

    def _cmd(self, *args: str) -> list[str]:
        return super()._cmd(*("fsync=on" if a == "fsync=off" else a for a in args))


def prepare_postgres_home(home: Path, url: str, bench_plan: Path, *, relational: bool) -> None:
    """An MRV_HOME whose mrv.toml puts the time series (and with ``relational`` the
    relational store too) on ``url``; the gateway processes read it (bench/ingest.py's
    GatewayProcess passes no MRV_* variable but MRV_HOME)."""
    home.mkdir(parents=True, exist_ok=True)
    lines = ['ts_backend = "postgres"', f'ts_postgres_url = "{url}"']
    if relational:
        lines.append(f'database_url = "{url}"')
        from persistence.engine import Database
        from persistence.repo import load_plan
        from verification.plan_check import load_plan_file

        db = Database(url)
        try:
            for path in (SOLAR_PLAN, bench_plan):
                with db.session() as session, session.begin():
                    load_plan(session, load_plan_file(path), path.read_text(), actor="bench")
        finally:
            db.dispose()
    (home / "mrv.toml").write_text("\n".join(lines) + "\n")


def store_rows(n: int, start_ms: int) -> list[ReadingRow]:
    """n new readings over three meters, a minute apart per meter."""
    return [
        ReadingRow(
            SOLAR_PROJECT,
            "rayong-a",
            f"m{i % 3}",
            i // 3,
            "energy_export",
            start_ms + 60_000 * (i // 3),
            1000.0 + i,
            "cumulative",
            None,
            1000.0 + i,
            "kWh",
            False,
            start_ms,
        )
        for i in range(n)
    ]


def insert_rate(insert: Callable[[list[ReadingRow]], int], rows: list[ReadingRow]) -> float:
    """Rows/s of inserting ``rows`` in batches of STORE_BATCH (each batch all new)."""
    started = time.perf_counter()
    for i in range(0, len(rows), STORE_BATCH):
        batch = rows[i : i + STORE_BATCH]
        if insert(batch) != len(batch):
            raise RuntimeError("store insert: not every row was new")
    return len(rows) / (time.perf_counter() - started)


def store_rates(
    tmp: Path, pg: PostgresServer, n: int, start_ms: int, rounds: int
) -> dict[str, list[float]]:
    """Rows/s of each store's insert, ``rounds`` times, the order turned each round (the
    machine is shared: a slow moment should not always fall on the same method)."""
    rows = store_rows(n, start_ms)
    rates: dict[str, list[float]] = {"sqlite": [], "unnest": [], "copy": []}
    order = list(rates)
    for k in range(rounds):
        for name in order[k % 3 :] + order[: k % 3]:
            if name == "sqlite":
                store: SQLiteTimeSeriesStore | PostgresTimeSeriesStore = SQLiteTimeSeriesStore(
                    tmp / f"store-bench-{k}.sqlite", synchronous="FULL"
                )
            else:
                method: WriteMethod = "copy" if name == "copy" else "unnest"
                store = PostgresTimeSeriesStore(
                    pg.create_database(f"store_{name}_{k}"), method=method
                )
            try:
                store.insert(rows[:1])  # the file, partition and connection, off the clock
                rates[name].append(insert_rate(store.insert, rows[1:]))
            finally:
                store.close()
    return rates


def pg_events(url: str) -> str:
    """Data-quality events a drain recorded in PostgreSQL, by kind."""
    with psycopg.connect(conninfo_from_url(url)) as conn:
        kinds = conn.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall()
    return ", ".join(f"{n} {kind} events" for kind, n in kinds) or "no events"


def pg_version(pg: PostgresServer) -> str:
    with psycopg.connect(conninfo_from_url(pg.url)) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
        sync = conn.execute("SHOW synchronous_commit").fetchone()
    assert version and fsync and sync
    return f"PostgreSQL {version[0]} (fsync={fsync[0]}, synchronous_commit={sync[0]})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=None, help="N per drain (40000)")
    parser.add_argument("--quick", action="store_true", help="N=20000, 1 run")
    parser.add_argument("--repeat", type=int, default=None, help="runs per row, best kept (2)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    n = args.messages or (20_000 if args.quick else 40_000)
    repeat = args.repeat or (1 if args.quick else 2)

    tmp_obj = tempfile.TemporaryDirectory(prefix="mrv-bench-pg-")
    tmp = Path(tmp_obj.name)
    bench_plan = tmp / "bench-plan.yaml"
    bench_plan.write_text(BENCH_PLAN_YAML)
    past = (datetime.now(UTC) - timedelta(days=60)).replace(hour=0, minute=0, second=0)
    one = make_workload(SOLAR_PROJECT, SOLAR_DEVICES, n, ["energy_export"], past)

    pg = DurablePostgres().start()
    broker = MosquittoBroker(tmp / "broker")
    bench: Bench | None = None
    runs: dict[str, list[DrainResult]] = {}
    for line in [*machine_lines(), pg_version(pg), code_version("persistence", "gateway")]:
        out.print(line, highlight=False)
    out.print(
        f"N = {n:,} QoS 1 messages (1 reading each) per drain, best of {repeat} run(s); "
        f"run {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        highlight=False,
    )
    started = time.perf_counter()
    try:
        broker.start()
        bench = Bench(broker, tmp, bench_plan, AckWatcher(broker.port))
        b = bench

        def on_pg(label: str, relational: bool, processes: int = 1) -> DrainResult:
            url = pg.create_database(label.replace("-", "_"))
            home = tmp / f"home-{label}"
            prepare_postgres_home(home, url, bench_plan, relational=relational)
            result = b.gateway(one, label, processes=processes)
            if relational:  # ingest.py's note reads the events from SQLite
                result.note = result.note.replace("events counted, none stored", pg_events(url))
            return result

        plan = [
            ("A", "one gateway, SQLite", lambda k: b.gateway(one, f"sqlite{k}")),
            ("B", "one gateway, time series on PostgreSQL", lambda k: on_pg(f"pgts{k}", False)),
            ("C", "one gateway, both stores on PostgreSQL", lambda k: on_pg(f"pg{k}", True)),
            ("D", "two gateways, both stores on PostgreSQL", lambda k: on_pg(f"pg2x{k}", True, 2)),
            ("E", "two gateways, SQLite", lambda k: b.gateway(one, f"sqlite2x{k}", processes=2)),
        ]
        for k in range(repeat):
            say.print(f"[run {k + 1}/{repeat}] drains of {n:,} messages")
            for key, title, fn in plan:
                result = partial(fn, k)()
                runs.setdefault(key, []).append(result)
                extra = f" ({result.note})" if result.note else ""
                say.print(f"  {key} {title}: {result.msg_rate:,.0f} msg/s{extra}")
        say.print("[store] insert in batches of 500, no MQTT, 3 rounds")
        store_n = 10_000 if args.quick else 20_000
        start_ms = int(past.timestamp() * 1000)
        rates = store_rates(tmp, pg, store_n, start_ms, rounds=3)
    except Exception:
        if bench is not None:
            for gw in bench.running:
                gw.kill()
        raise
    finally:
        if bench is not None:
            bench.acks.close()
        broker.stop()
        pg.stop()
        if args.keep:
            say.print(f"kept {tmp}")
        else:
            tmp_obj.cleanup()

    reference = best(runs["A"]).msg_rate
    table = Table(title=f"Time-series stores (bench/store_pg.py), N = {n:,} per drain")
    for column, justify in (("#", "right"), ("measurement", "left"), ("result", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("ratio", justify="right")
    for key, title, _fn in plan:
        r = best(runs[key])
        note = f"\n({r.note})" if r.note else ""
        table.add_row(
            key,
            title + note,
            f"{r.msg_rate:,.0f} msg/s{runs_text(runs[key])}",
            f"{r.msg_rate / reference:.2f}x A",
        )
    for method in ("sqlite", "unnest", "copy"):
        name = "SQLite store" if method == "sqlite" else f"PostgreSQL store, {method}"
        table.add_row(
            "S",
            f"{name}: insert, batches of {STORE_BATCH}\n(best of 3 rounds, order turned)",
            f"{max(rates[method]):,.0f} rows/s\nruns "
            + " / ".join(f"{r:,.0f}" for r in rates[method]),
            f"{max(rates[method]) / max(rates['sqlite']):.2f}x SQLite",
        )
    out.print(table)
    out.print(
        f"elapsed {time.perf_counter() - started:.0f} s; load average at the end: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        highlight=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
