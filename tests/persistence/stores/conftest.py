"""Fixtures for the time-series store tests: a private VictoriaMetrics and backend harnesses.

No InfluxDB 2.x server can be installed on our machines (machine-notes, "Time-series
stores"). Debian's ``victoria-metrics`` accepts the influxdb-client's ``/api/v2/write``,
so the InfluxDB backend's write path is tested against it, a real server over HTTP. It
answers 400 to Flux, so what the backend wrote is read back through VictoriaMetrics'
export API by :class:`ExportReader` (test-only code); the Flux text and the parser of
InfluxDB's answers are tested offline in ``test_influx_flux.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devtools.pgserver import PostgresServer
from persistence.stores.influx_ts import MEASUREMENT, InfluxTimeSeriesStore
from persistence.stores.postgres_ts import PostgresTimeSeriesStore, WriteMethod
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from persistence.stores.timeseries import ReadingRow, SeriesPoint, TimeSeriesStore
from tests.support.ports import free_port
from tests.support.services import db_counter

VM_BINARY = os.environ.get("MRV_VICTORIA_METRICS") or "/usr/bin/victoria-metrics"


class VictoriaMetrics:
    """One VictoriaMetrics process on a free loopback port, with its own data folder.

    ``stop()`` then ``start()`` restarts it on the same port and data, as an outage.
    """

    def __init__(self, root: Path) -> None:
        self.data = root / "vm-data"
        self.log = root / "vm.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> None:
        args = [
            VM_BINARY,
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.data}",
            # the default keeps one month and silently drops older points (answering 204)
            "-retentionPeriod=100y",
            # make freshly written points visible to export at once
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ]
        log = self.log.open("ab")
        try:
            self._proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"victoria-metrics exited with {self._proc.returncode}: "
                    f"{self.log.read_text(errors='replace')[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"victoria-metrics did not answer /health within {timeout_s} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # graceful: flushes its in-memory parts
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def _get(self, path: str, params: list[tuple[str, str]] | None = None) -> bytes:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as resp:
            return bytes(resp.read())

    def export(
        self, selector: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[dict[str, Any]]:
        """Raw samples of the matching series (``end_ms`` inclusive, as VM has it)."""
        self._get("/internal/force_flush")
        params = [("match[]", selector)]
        if start_ms is not None:
            params.append(("start", _seconds(start_ms)))
        if end_ms is not None:
            params.append(("end", _seconds(end_ms)))
        body = self._get("/api/v1/export", params).decode()
        return [json.loads(line) for line in body.splitlines() if line.strip()]


def _seconds(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


def _label(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_NUMERIC_FIELDS = ("value", "raw_value", "seq", "interval_s", "historical", "received_ms")


class ExportReader:
    """Test-only: reads the InfluxDB backend's points back out of VictoriaMetrics.

    This checks the *write* path against a real server: the tags, fields and timestamps
    the backend sent are what the server holds, and (since VictoriaMetrics, unlike
    InfluxDB, keeps a second copy of a point written twice) that nothing was written
    twice. It is not the backend's read path: Flux is checked separately, offline.

    VictoriaMetrics turns measurement ``m`` field ``f`` into the metric ``m_f``, keeps
    tags as labels and millisecond timestamps (the seq digits below the millisecond are
    cut off), and stores string fields as 0, so ``raw_unit`` cannot be read back (see
    ``lossy``). Fields of one point are re-joined by (labels, millisecond); two points of
    one series in the same millisecond are paired by position, which VictoriaMetrics
    keeps in write order, so the tests keep such points' optional fields alike.
    """

    lossy = frozenset({"raw_unit"})

    def __init__(self, vm: VictoriaMetrics, measurement: str = MEASUREMENT) -> None:
        self.vm = vm
        self.measurement = measurement

    def _selector(self, fields: tuple[str, ...], labels: dict[str, str | None]) -> str:
        names = "|".join(fields)
        terms = [f'__name__=~"{self.measurement}_({names})"']
        terms += [f"{key}={_label(value)}" for key, value in labels.items() if value is not None]
        return "{" + ",".join(terms) + "}"

    def query(
        self,
        project: str,
        *,
        device: str | None = None,
        quantity: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[ReadingRow]:
        if start_ms is not None and end_ms is not None and end_ms <= start_ms:
            return []  # VictoriaMetrics would not take an empty range as one
        selector = self._selector(
            _NUMERIC_FIELDS, {"project": project, "device": device, "quantity": quantity}
        )
        series = self.vm.export(
            selector, start_ms, None if end_ms is None else end_ms - 1
        )  # end-exclusive
        prefix = len(self.measurement) + 1
        points: dict[tuple[tuple[tuple[str, str], ...], int], dict[str, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for item in series:
            labels = dict(item["metric"])
            field = labels.pop("__name__")[prefix:]
            key = tuple(sorted(labels.items()))
            for value, stamp in zip(item["values"], item["timestamps"], strict=True):
                points[(key, stamp)][field].append(value)
        rows: list[ReadingRow] = []
        for (key, stamp), fields in points.items():
            labels = dict(key)
            for i in range(len(fields["value"])):
                interval = fields.get("interval_s")
                rows.append(
                    ReadingRow(
                        project=labels["project"],
                        site=labels.get("site", ""),
                        device=labels["device"],
                        seq=int(fields["seq"][i]),
                        quantity=labels["quantity"],
                        time_ms=stamp,
                        value=float(fields["value"][i]),
                        kind=labels.get("kind", ""),
                        interval_s=float(interval[i]) if interval else None,
                        raw_value=float(fields["raw_value"][i]),
                        raw_unit="",
                        historical=bool(fields["historical"][i]),
                        received_ms=int(fields["received_ms"][i]),
                    )
                )
        rows.sort(key=lambda r: (r.time_ms, r.device, r.quantity, r.seq))
        return rows

    def neighbours(
        self, project: str, device: str, quantity: str, time_ms: int
    ) -> tuple[SeriesPoint | None, SeriesPoint | None]:
        selector = self._selector(
            ("value",), {"project": project, "device": device, "quantity": quantity}
        )
        samples = sorted(
            (stamp, value)
            for item in self.vm.export(selector)
            for value, stamp in zip(item["values"], item["timestamps"], strict=True)
        )
        before = [SeriesPoint(t, float(v)) for t, v in samples if t < time_ms]
        after = [SeriesPoint(t, float(v)) for t, v in samples if t > time_ms]
        return (before[-1] if before else None, after[0] if after else None)

    def labels(self, project: str) -> list[dict[str, str]]:
        """The label sets (tags) of the ``value`` series of a project."""
        series = self.vm.export(self._selector(("value",), {"project": project}))
        return [{k: v for k, v in s["metric"].items() if k != "__name__"} for s in series]


class Backend:
    """A store under test plus what the conformance suite needs around it."""

    name: str
    store: TimeSeriesStore
    lossy: frozenset[str] = frozenset()

    def read(self, project: str, **filters: Any) -> list[ReadingRow]:
        raise NotImplementedError

    def neighbours(
        self, project: str, device: str, quantity: str, time_ms: int
    ) -> tuple[SeriesPoint | None, SeriesPoint | None]:
        raise NotImplementedError

    def take_down(self) -> None:
        """Make the store unable to take writes."""
        raise NotImplementedError

    def bring_up(self) -> None:
        raise NotImplementedError

    def reopen(self) -> None:
        """Close the store and open a new one on the same files (a process restart)."""
        raise NotImplementedError

    def close(self) -> None:
        self.store.close()


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, root: Path) -> None:
        self.path = root / "readings.sqlite"
        self.store = self._open()
        self._blocker: sqlite3.Connection | None = None

    def _open(self) -> SQLiteTimeSeriesStore:
        # A short busy timeout so that "down" (a held lock) fails fast.
        return SQLiteTimeSeriesStore(self.path, synchronous="NORMAL", busy_timeout_ms=100)

    def read(self, project: str, **filters: Any) -> list[ReadingRow]:
        return list(self.store.query(project, **filters))

    def neighbours(
        self, project: str, device: str, quantity: str, time_ms: int
    ) -> tuple[SeriesPoint | None, SeriesPoint | None]:
        return self.store.neighbours(project, device, quantity, time_ms)

    def take_down(self) -> None:
        # Another process holding the write lock: the store cannot write ("locked").
        self._blocker = sqlite3.connect(self.path, isolation_level=None)
        self._blocker.execute("BEGIN EXCLUSIVE")

    def bring_up(self) -> None:
        if self._blocker is not None:
            self._blocker.execute("ROLLBACK")
            self._blocker.close()
            self._blocker = None

    def reopen(self) -> None:
        self.store.close()
        self.store = self._open()

    def close(self) -> None:
        self.bring_up()
        self.store.close()


class InfluxBackend(Backend):
    name = "influx"
    lossy = ExportReader.lossy

    def __init__(self, root: Path, vm: VictoriaMetrics) -> None:
        self.vm = vm
        self.ledger = root / "influx-ledger.sqlite"
        self.reader = ExportReader(vm)
        self.store = self._open()

    def _open(self) -> InfluxTimeSeriesStore:
        return InfluxTimeSeriesStore(
            self.vm.url,
            token="test-token",
            org="mrv",
            bucket="mrv",
            ledger_path=self.ledger,
            timeout_ms=5_000,
        )

    def read(self, project: str, **filters: Any) -> list[ReadingRow]:
        return self.reader.query(project, **filters)

    def neighbours(
        self, project: str, device: str, quantity: str, time_ms: int
    ) -> tuple[SeriesPoint | None, SeriesPoint | None]:
        return self.reader.neighbours(project, device, quantity, time_ms)

    def take_down(self) -> None:
        self.vm.stop()

    def bring_up(self) -> None:
        self.vm.start()

    def reopen(self) -> None:
        self.store.close()
        self.store = self._open()


class PostgresBackend(Backend):
    """The PostgreSQL store in a database of its own on this test process's private server
    (``pg_server``). Reads go through the store itself, like SQLite's."""

    name = "postgres"

    def __init__(self, server: PostgresServer, method: WriteMethod = "copy") -> None:
        self.server = server
        self.method = method
        self.dbname = f"mrv_ts_{next(db_counter)}_{os.getpid()}"
        self.url = server.create_database(self.dbname)
        self.store = self._open()

    def _open(self) -> PostgresTimeSeriesStore:
        return PostgresTimeSeriesStore(self.url, method=self.method)

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            f"host=127.0.0.1 port={self.server.port} user=postgres dbname=postgres",
            autocommit=True,
        )

    def read(self, project: str, **filters: Any) -> list[ReadingRow]:
        return list(self.store.query(project, **filters))

    def neighbours(
        self, project: str, device: str, quantity: str, time_ms: int
    ) -> tuple[SeriesPoint | None, SeriesPoint | None]:
        return self.store.neighbours(project, device, quantity, time_ms)

    def take_down(self) -> None:
        # The database stops taking connections and its sessions are ended, as when the
        # server goes away; the server itself stays up for this process's other tests.
        with self.admin() as conn:
            conn.execute(f'ALTER DATABASE "{self.dbname}" ALLOW_CONNECTIONS false')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.dbname,),
            )

    def bring_up(self) -> None:
        with self.admin() as conn:
            conn.execute(f'ALTER DATABASE "{self.dbname}" ALLOW_CONNECTIONS true')

    def reopen(self) -> None:
        self.store.close()
        self.store = self._open()

    def close(self) -> None:
        self.bring_up()
        self.store.close()


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A fresh VictoriaMetrics per test (it starts in ~40 ms), stopped afterwards."""
    if not (os.path.isfile(VM_BINARY) and os.access(VM_BINARY, os.X_OK)) and not shutil.which(
        VM_BINARY
    ):
        pytest.skip(
            f"victoria-metrics binary not found at {VM_BINARY} (apt-get install "
            "victoria-metrics, or set MRV_VICTORIA_METRICS): the InfluxDB backend's write "
            "path needs a real server to be tested"
        )
    vm = VictoriaMetrics(tmp_path)
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("influx", marks=pytest.mark.victoria),
        "postgres",
        "postgres-unnest",
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each conformance test runs once per backend."""
    root = tmp_path / "store"
    root.mkdir()
    made: Backend
    if request.param == "sqlite":
        made = SQLiteBackend(root)
    elif request.param.startswith("postgres"):
        method: WriteMethod = "unnest" if request.param == "postgres-unnest" else "copy"
        made = PostgresBackend(request.getfixturevalue("pg_server"), method)
    else:
        made = InfluxBackend(root, request.getfixturevalue("victoria"))
    try:
        yield made
    finally:
        made.close()
