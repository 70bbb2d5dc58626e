"""API benchmark: entry creation and report retrieval against a bare health check.

Run:  .venv/bin/python bench/api.py [--quick] [--seconds S | --requests N] [--rounds R]
                                     [--concurrency C] [--client raw|httpx] [--keep]

The HTTP API as deployed: ``mrv api --workers W`` (uvicorn, FastAPI) on the default
SQLite stores in a temp MRV_HOME, with the example solar plan, seven weeks of 15-minute
readings from its three meters and its pyranometer (imported with ``mrv readings
import``), a field token and a verifier token (``mrv token create``). For 1 and then 2
uvicorn workers, each on a fresh copy of that home, three rows under the same load:

* ``GET /health``: the reference (HTTP, the framework and its middleware, no store);
* ``GET /v1/projects/th-solar-rooftops/reports?start=..&end=..&format=json``: October's
  monitoring report, built from the stored readings on every request and audited;
* ``POST /v1/projects/th-solar-rooftops/entries``: a manual meter reading with a fresh
  client UUID each (checked against the plan, stored with its revision, audited).

Load: C concurrent tasks (default 8) in one asyncio loop, each with its own keep-alive
connection, sending back to back; a warm-up, then R rounds (default 2, the best kept) of
a fixed time (or a fixed count of requests) per row. The connections are spread evenly
over the workers (each new connection's owner is looked up; one that lands on a worker
which has its share already is closed and opened again). The default client speaks
HTTP/1.1 on asyncio streams; ``--client httpx`` sends the same requests with one
httpx.AsyncClient per connection, which costs more CPU per request than the server's
health check. Client and server share this machine's CPUs; the table shows how much of
them each side used, and how much went to other work on the machine.

The result is a measurement, not a test: the exit code is 0 whatever the figures, and 1
only if the bench itself broke (an unexpected status, reports whose inputs differ, or a
number of stored entries other than the number of 201 answers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shutil
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import code_version, cpu_model, percentile, verdict  # noqa: E402
from mrv.demo.broker import free_port, wait_for_port  # noqa: E402

out = Console(width=max(Console().width, 132))  # a piped run would wrap at 80 columns
say = Console(stderr=True, highlight=False, markup=False)

PROJECT = "th-solar-rooftops"
SOLAR_PLAN = ROOT / "examples" / "plans" / "solar-pv-rooftops.yaml"
# The report's month. The readings cover it and the 11 days either side that
# load_inputs reads as a margin (verification.inputs.MARGIN).
PERIOD_START = date(2026, 10, 1)
PERIOD_END = date(2026, 10, 31)  # inclusive
DATA_START = datetime(2026, 9, 20, tzinfo=UTC)
DATA_END = datetime(2026, 11, 12, tzinfo=UTC)  # exclusive
STEP = timedelta(minutes=15)  # the plan's expected_interval_s: 900
SEED = 20261001
# (device, site, nameplate kW, register at DATA_START in kWh, decimals of the register)
METERS = [
    ("pv-a-meter", "rayong-a", 998.0, 381_245.3, 1),
    ("pv-b-meter", "rayong-b", 640.0, 247_118.9, 1),
    ("pv-koh-meter", "koh-site", 250.0, 95_310.44, 2),
]
PYRANOMETER = ("koh-pyranometer", "koh-site")
LOCAL_UTC_OFFSET_H = 7  # Asia/Bangkok
AUTHOR = "bench.field"  # of the entries, and the field token's label
KINDS = ("health", "entries", "reports")  # the table's order
TITLES = {
    "health": "GET /health",
    "entries": "POST entries",
    "reports": "GET reports (json, 1 month)",
}

try:  # pragma: no cover - depends on the environment
    import sniffio  # noqa: F401
except ImportError:
    # httpcore asks for sniffio on every request; without it each failed import searches
    # sys.path again (about 0.3 ms a request here). None in sys.modules fails at once.
    sys.modules["sniffio"] = None  # type: ignore[assignment]


# --- the data folder ----------------------------------------------------------------------


def readings_csv(path: Path) -> int:
    """15-minute readings from the three meters (cumulative energy_export register and
    power) and the pyranometer: a daylight curve in local time, cloudy days, noise."""
    rng = random.Random(SEED)
    registers = {m[0]: m[3] for m in METERS}
    seqs = {m[0]: 0 for m in METERS} | {PYRANOMETER[0]: 0}
    rows = 0
    cloud = 1.0
    with path.open("w", encoding="utf-8") as f:
        f.write("time,site,device,seq,quantity,value,unit\n")
        t = DATA_START
        while t < DATA_END:
            if t.hour == 0 and t.minute == 0:
                cloud = rng.uniform(0.45, 1.0)  # the day's weather
            hour = (t.hour + t.minute / 60 + LOCAL_UTC_OFFSET_H) % 24
            sun = max(0.0, math.sin(math.pi * (hour - 6.0) / 12.0))
            stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
            share = sun * cloud * rng.uniform(0.85, 1.0) if sun > 0 else 0.0
            for device, site, kw, _, digits in METERS:
                power = kw * 0.8 * share
                registers[device] += power * STEP.total_seconds() / 3600.0
                seqs[device] += 1
                f.write(
                    f"{stamp},{site},{device},{seqs[device]},energy_export,"
                    f"{registers[device]:.{digits}f},kWh\n"
                    f"{stamp},{site},{device},{seqs[device]},power,{power:.2f},kW\n"
                )
                rows += 2
            device, site = PYRANOMETER
            seqs[device] += 1
            f.write(
                f"{stamp},{site},{device},{seqs[device]},irradiance,{1000.0 * share:.1f},W/m**2\n"
            )
            rows += 1
            t += STEP
    return rows


def cli(home: Path, *args: str, timeout: float = 300) -> str:
    """``python -m mrv.cli ARGS`` with MRV_HOME set; its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "mrv.cli", *args],
        env={**os.environ, "MRV_HOME": str(home), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise BenchBroken(f"mrv {' '.join(args)}: exit {result.returncode}\n{result.stderr}")
    return result.stdout


@dataclass
class Template:
    """The prepared MRV_HOME, copied for each server."""

    home: Path
    field_token: str
    verifier_token: str
    readings: int
    import_line: str


def prepare(tmp: Path) -> Template:
    home = tmp / "template"
    home.mkdir()
    cli(home, "plan", "load", str(SOLAR_PLAN))
    data = tmp / "readings.csv"
    rows = readings_csv(data)
    imported = cli(home, "readings", "import", "--project", PROJECT, str(data)).strip()
    if f"{rows} stored" not in imported or " 0 quarantined" not in imported:
        raise BenchBroken(f"readings import: {imported}")
    field_token = cli(  # a field token writes under its label's name only
        home, "token", "create", "--role", "field", "--project", PROJECT, "--label", AUTHOR
    ).strip()
    verifier_token = cli(
        home, "token", "create", "--role", "verifier", "--project", PROJECT, "--label", "bench"
    ).strip()
    return Template(home, field_token, verifier_token, rows, imported)


# --- the server ---------------------------------------------------------------------------


class BenchBroken(RuntimeError):
    pass


class Server:
    """``mrv api --workers W`` on a free port, in its own MRV_HOME."""

    def __init__(self, home: Path, workers: int, log: Path) -> None:
        self.home = home
        self.workers = workers
        self.port = free_port()
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.processes: list[psutil.Process] = []  # the one process, or supervisor + workers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def worker_processes(self) -> list[psutil.Process]:
        return self.processes[1:] if self.workers > 1 else self.processes

    def start(self) -> None:
        command = [sys.executable, "-m", "mrv.cli", "api", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(self.workers)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [*command, "--home", str(self.home)],
                env={**os.environ, "MRV_HOME": str(self.home)},
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        try:
            wait_for_port(self.port, timeout_s=60)
        except TimeoutError as exc:
            raise BenchBroken(f"{exc}:\n{self.log_tail()}") from None
        deadline = time.monotonic() + 60
        root = psutil.Process(self.proc.pid)
        while True:  # each worker imports the app and runs the migrations check first
            workers = [
                p
                for p in root.children(recursive=True)
                if "multiprocessing.resource_tracker" not in _cmdline(p)
            ]
            if self.workers == 1 or len(workers) >= self.workers:
                break
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise BenchBroken(f"{len(workers)} of {self.workers} workers:\n{self.log_tail()}")
            time.sleep(0.1)
        self.processes = [root, *workers]
        with httpx.Client(base_url=self.url, timeout=10) as client:
            # 3 x W answers in a row on fresh connections: (very likely) every worker is up.
            answered = 0
            while answered < 3 * self.workers:
                try:
                    ok = client.get("/health", headers={"Connection": "close"}).status_code
                    answered = answered + 1 if ok == 200 else 0
                except httpx.TransportError:
                    answered = 0
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise BenchBroken(f"the API does not answer /health:\n{self.log_tail()}")
                if answered == 0:
                    time.sleep(0.1)

    def cpu(self) -> list[float]:
        """CPU seconds (user + system) so far of each process (supervisor first)."""
        seconds = []
        for p in self.processes:
            try:
                t = p.cpu_times()
                seconds.append(t.user + t.system)
            except psutil.NoSuchProcess:
                seconds.append(0.0)
        return seconds

    def owner(self, client_port: int) -> int | None:
        """Which worker (index) holds the connection from this client port."""
        for i, p in enumerate(self.worker_processes):
            for c in p.net_connections(kind="tcp"):
                if (
                    c.laddr
                    and c.laddr.port == self.port
                    and c.raddr
                    and c.raddr.port == client_port
                ):
                    return i
        return None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for p in self.processes[1:]:  # a worker the supervisor left behind
            try:
                p.wait(5)
            except psutil.TimeoutExpired:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc = None


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


# --- clients ------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""


class RawConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: what the API answers here
    (a Content-Length body, or chunks) and nothing more. Cheap on CPU."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.local_port = 0
        self.reconnects = -1

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.local_port = self.writer.get_extra_info("sockname")[1]
        self.reconnects += 1

    async def send(self, req: Request) -> Answer:
        if self.writer is None:
            await self._open()
        assert self.reader is not None and self.writer is not None
        head = f"{req.method} {req.target} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        for k, v in req.headers.items():
            head += f"{k}: {v}\r\n"
        if req.body or req.method in ("POST", "PUT"):
            head += f"Content-Length: {len(req.body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + req.body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            body = b"".join(p[:-2] for p in parts)
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, headers, body)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


class HttpxConnection:
    """The same through httpx: one AsyncClient with a single keep-alive connection."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=300,
            verify=context,
        )
        self.local_port = 0
        self.reconnects = 0

    async def send(self, req: Request) -> Answer:
        r = await self.client.request(
            req.method, req.target, headers=req.headers, content=req.body or None
        )
        stream = r.extensions.get("network_stream")
        if stream is not None:
            port = stream.get_extra_info("client_addr")[1]
            if self.local_port and port != self.local_port:
                self.reconnects += 1
            self.local_port = port
        return Answer(r.status_code, dict(r.headers), r.content)

    async def close(self) -> None:
        await self.client.aclose()


Connection = RawConnection | HttpxConnection


async def open_connections(
    server: Server, n: int, kind: str, context: ssl.SSLContext
) -> tuple[list[Connection], list[int]]:
    """n connections spread evenly over the workers, and how many each worker holds.

    Left alone, connections opened in a burst all land on whichever worker wakes first
    (its accept loop takes every pending connection at once)."""
    share = math.ceil(n / server.workers)
    counts = [0] * server.workers
    kept: list[Connection] = []
    spare: list[Connection] = []
    probe = Request("GET", "/health", {})
    attempts = 0
    while len(kept) < n:
        conn: Connection = (
            RawConnection(server.port) if kind == "raw" else HttpxConnection(server.port, context)
        )
        answer = await conn.send(probe)  # accepted and answered: it has an owner now
        if answer.status != 200:
            raise BenchBroken(f"/health answered {answer.status}")
        attempts += 1
        owner = server.owner(conn.local_port) if server.workers > 1 else 0
        if owner is None:
            raise BenchBroken(f"no worker holds the connection from port {conn.local_port}")
        if counts[owner] >= share and attempts < 30 * n:
            spare.append(conn)  # kept open until the end, so that it is not accepted again
            continue
        counts[owner] += 1
        kept.append(conn)
    for conn in spare:
        await conn.close()
    for conn in kept:
        conn.reconnects = 0
    return kept, counts


# --- loads --------------------------------------------------------------------------------


@dataclass
class Load:
    """One row's requests, and what each answer must be."""

    kind: str
    expected: int
    token: str = ""
    first_entry_time: datetime | None = None
    created: list[str] = field(default_factory=list)  # entry ids answered 201
    digests: Counter[str] = field(default_factory=Counter)  # X-Inputs-SHA256 of reports
    sizes: Counter[int] = field(default_factory=Counter)  # report body lengths
    sent: int = 0

    def next(self) -> tuple[Request, str]:
        """The next request, and the entry id it carries (if any)."""
        auth = {"Authorization": f"Bearer {self.token}"}
        self.sent += 1
        if self.kind == "health":
            return Request("GET", "/health", {}), ""
        if self.kind == "reports":
            query = f"start={PERIOD_START}&end={PERIOD_END}&format=json"
            return Request("GET", f"/v1/projects/{PROJECT}/reports?{query}", auth), ""
        assert self.first_entry_time is not None
        k = self.sent
        entry_id = str(uuid.uuid4())
        body = {
            "id": entry_id,
            "type": "meter_reading",
            "author": AUTHOR,
            "gps": {"lat": 12.681, "lon": 101.278, "accuracy_m": 8},
            "body": {
                "device": "pv-a-meter",
                "quantity": "energy_export",
                "time": (self.first_entry_time + timedelta(seconds=k)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "value": round(400_000.0 + 0.25 * k, 2),
                "unit": "kWh",
            },
        }
        headers = {**auth, "Content-Type": "application/json"}
        req = Request("POST", f"/v1/projects/{PROJECT}/entries", headers, json.dumps(body).encode())
        return req, entry_id

    def seen(self, answer: Answer, entry_id: str) -> None:
        if self.kind == "entries" and answer.status == 201:
            self.created.append(entry_id)
        elif self.kind == "reports" and answer.status == 200:
            self.digests[answer.headers.get("x-inputs-sha256", "(none)")] += 1
            self.sizes[len(answer.body)] += 1


@dataclass
class Phase:
    requests: int
    seconds: float
    latencies_ms: list[float]  # sorted
    statuses: Counter[int]
    failures: list[str]


async def run_phase(
    conns: list[Connection], load: Load, seconds: float | None, requests: int | None
) -> Phase:
    """Each connection's task sends back to back until the time is up (or N are sent)."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    issued = 0
    began = time.perf_counter()
    deadline = began + seconds if seconds is not None else math.inf

    async def worker(conn: Connection) -> None:
        nonlocal issued
        while True:
            if requests is not None:
                if issued >= requests:
                    return
                issued += 1
            elif time.perf_counter() >= deadline:
                return
            req, entry_id = load.next()
            t0 = time.perf_counter()
            try:
                answer = await conn.send(req)
            except (OSError, asyncio.IncompleteReadError, httpx.HTTPError, ValueError) as exc:
                statuses[0] += 1
                failures.append(f"{type(exc).__name__}: {exc}")
                await conn.close()
                if isinstance(conn, HttpxConnection):
                    return
                continue
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[answer.status] += 1
            load.seen(answer, entry_id)
            if answer.status != load.expected:
                failures.append(f"{answer.status} {answer.body[:200].decode(errors='replace')}")

    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - began
    return Phase(sum(statuses.values()), elapsed, sorted(latencies), statuses, failures)


@dataclass
class Row:
    kind: str
    workers: int
    phase: Phase
    warmup: Phase
    client_cpu_s: float
    busy_cpu_s: float  # the whole machine's (everything not idle)
    server_cpu_s: list[float]  # per process, supervisor first
    connections: list[int]  # per worker
    reconnects: int
    load: Load

    @property
    def rate(self) -> float:
        return self.phase.requests / self.phase.seconds

    def pct(self, p: float) -> float:
        return percentile(self.phase.latencies_ms, p)

    @property
    def ok(self) -> bool:
        return all(s == self.load.expected for s in (*self.phase.statuses, *self.warmup.statuses))


def measure(
    server: Server,
    load: Load,
    concurrency: int,
    client: str,
    warmup_s: float,
    seconds: float | None,
    requests: int | None,
) -> Row:
    me = psutil.Process()
    context = ssl.create_default_context()  # unused on http://, but httpx builds one each

    async def go() -> Row:
        conns, counts = await open_connections(server, concurrency, client, context)
        try:
            warm = await run_phase(conns, load, warmup_s, None)
            c0, s0, m0 = me.cpu_times(), server.cpu(), busy()
            phase = await run_phase(conns, load, seconds, requests)
            c1, s1, m1 = me.cpu_times(), server.cpu(), busy()
        finally:
            for conn in conns:
                await conn.close()
        client_s = (c1.user + c1.system) - (c0.user + c0.system)
        server_s = [b - a for a, b in zip(s0, s1, strict=True)]
        reconnects = sum(c.reconnects for c in conns)
        return Row(
            load.kind,
            server.workers,
            phase,
            warm,
            client_s,
            m1 - m0,
            server_s,
            counts,
            reconnects,
            load,
        )

    return asyncio.run(go())


def busy() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting on I/O)."""
    t = psutil.cpu_times()
    return (
        sum(t)
        - t.idle
        - getattr(t, "iowait", 0.0)
        - getattr(t, "guest", 0.0)
        - getattr(t, "guest_nice", 0.0)
    )


def stored_entries(server: Server, token: str) -> list[str]:
    """The ids of the project's meter readings, as the API lists them (page by page)."""
    ids: list[str] = []
    params: dict[str, str] = {"type": "meter_reading", "limit": "1000"}
    with httpx.Client(base_url=server.url, timeout=300) as client:
        while True:
            r = client.get(
                f"/v1/projects/{PROJECT}/entries",
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
            if r.status_code != 200:
                raise BenchBroken(f"listing the entries: {r.status_code} {r.text[:300]}")
            page = r.json()
            if isinstance(page, list):  # the first slice's shape: everything at once
                return ids + [e["id"] for e in page]
            ids += [e["id"] for e in page["entries"]]
            if not page.get("next_cursor"):
                return ids
            params["cursor"] = page["next_cursor"]


def entries_in_db(home: Path) -> int:
    """The project's meter readings counted in the SQLite file behind the API."""
    conn = sqlite3.connect(f"file:{home / 'mrv.sqlite'}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT count(*) FROM entries WHERE project_id = ? AND entry_type = 'meter_reading'",
            (PROJECT,),
        ).fetchone()
    finally:
        conn.close()
    return int(row[0])


def one_report(server: Server, token: str, tries: int = 1) -> tuple[float, dict[str, Any]]:
    """A report with nothing else running, on one keep-alive connection: the fastest of
    ``tries`` (seconds), and the report."""
    query = f"start={PERIOD_START}&end={PERIOD_END}&format=json"
    req = Request(
        "GET", f"/v1/projects/{PROJECT}/reports?{query}", {"Authorization": f"Bearer {token}"}
    )

    async def go() -> tuple[float, bytes]:
        conn = RawConnection(server.port)
        best = math.inf
        body = b""
        try:
            for _ in range(tries):
                t0 = time.perf_counter()
                answer = await conn.send(req)
                best = min(best, time.perf_counter() - t0)
                if answer.status != 200:
                    raise BenchBroken(f"report: {answer.status} {answer.body[:300]!r}")
                body = answer.body
        finally:
            await conn.close()
        return best, body

    best, body = asyncio.run(go())
    return best, json.loads(body)


# --- output -------------------------------------------------------------------------------


def machine_lines() -> list[str]:
    import fastapi
    import starlette
    import uvicorn

    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        mem = f", {mem_gb:.0f} GB RAM"
    except (ValueError, OSError):
        mem = ""
    cpus = os.cpu_count() or 0
    return [
        f"machine: {cpus} CPUs (nproc), {cpu_model()}{mem}, "
        f"{platform.system()} {platform.release()}",
        f"python {platform.python_version()} ({sys.executable}), uvicorn {uvicorn.__version__}, "
        f"fastapi {fastapi.__version__}, starlette {starlette.__version__}, "
        f"httpx {httpx.__version__}, SQLite {sqlite3.sqlite_version}",
        f"client and server share the {cpus} CPUs: load generator, uvicorn supervisor and "
        f"workers on one machine, over loopback",
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


def cpu_cell(row: Row, cpus: int) -> str:
    one_pct = row.phase.seconds * cpus / 100  # CPU seconds that are 1 % of the machine
    server = sum(row.server_cpu_s)
    text = (
        f"{row.client_cpu_s / one_pct:.0f} / {server / one_pct:.0f} / {rest_share(row) * 100:.0f}"
    )
    if row.workers > 1:
        text += "\n(" + " + ".join(f"{w / one_pct:.0f}" for w in row.server_cpu_s[1:]) + ")"
    return text


def rest_share(row: Row) -> float:
    """The share of all CPUs that neither the client nor the server used, but something
    else did (other processes, the kernel's own work, time stolen by the hypervisor)."""
    cpus = os.cpu_count() or 1
    rest = row.busy_cpu_s - row.client_cpu_s - sum(row.server_cpu_s)
    return max(0.0, rest) / (row.phase.seconds * cpus)


def ms(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 round of 5 s a row, 2 s warm-up (~1 min)"
    )
    parser.add_argument("--seconds", type=float, default=None, help="seconds a round (10)")
    parser.add_argument("--requests", type=int, default=None, help="or N requests a round")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds of each row, the best kept (2)"
    )
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds (3)")
    parser.add_argument("--concurrency", type=int, default=8, help="connections (8)")
    parser.add_argument(
        "--client", choices=("raw", "httpx"), default="raw", help="load generator (raw)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    seconds: float | None = args.seconds or (5.0 if args.quick else 10.0)
    rounds = args.rounds or (1 if args.quick else 2)
    if args.requests:
        seconds = None
    warmup_s = args.warmup if args.warmup is not None else (2.0 if args.quick else 3.0)
    conc = args.concurrency
    cpus = os.cpu_count() or 1
    per_round = f"{seconds:g} s" if seconds is not None else f"{args.requests:,} requests"
    per_row = f"best of {rounds} x {per_round}" if rounds > 1 else per_round
    client_name = (
        "HTTP/1.1 on asyncio streams"
        if args.client == "raw"
        else "one httpx.AsyncClient per connection"
    )

    for line in [*machine_lines(), code_version("mrv", "verification")]:
        out.print(line, highlight=False)
    out.print(
        f"load: {conc} keep-alive connections, one task each in one asyncio loop "
        f"({client_name}), spread evenly over the workers; {warmup_s:g} s warm-up, then "
        f"{per_row} a row; run {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        highlight=False,
    )

    tmp_obj = tempfile.TemporaryDirectory(prefix="mrv-bench-api-")
    tmp = Path(tmp_obj.name)
    started = time.perf_counter()
    runs: dict[tuple[str, int], list[Row]] = {}
    problems: list[str] = []
    stored_counts: dict[int, int] = {}
    # One report on its own: the first on a fresh server, then (fastest of 3) before the
    # entries row and after it, with the entries it created.
    alone: dict[int, tuple[float, float, float, int]] = {}
    sample: dict[str, Any] = {}
    tpl: Template | None = None
    server: Server | None = None
    try:
        say.print("[setup] solar plan, 15-minute readings, tokens")
        t0 = time.perf_counter()
        tpl = prepare(tmp)
        say.print(
            f"  {tpl.readings:,} CSV rows: {tpl.import_line} ({time.perf_counter() - t0:.0f} s)"
        )
        first_entry_time = (datetime.now(UTC) - timedelta(days=3)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        if first_entry_time <= DATA_END:
            raise BenchBroken(f"the clock says {datetime.now(UTC):%Y-%m-%d}: the data is ahead")
        for workers in (1, 2):
            home = tmp / f"home-{workers}w"
            shutil.copytree(tpl.home, home)  # the same data for both worker counts
            server = Server(home, workers, tmp / f"api-{workers}w.log")
            say.print(f"[{workers} worker{'s' if workers > 1 else ''}] mrv api on :{server.port}")
            server.start()
            first_s, report = one_report(server, tpl.verifier_token)
            sample.setdefault("report", report)
            loads = {
                "health": Load("health", 200),
                "reports": Load("reports", 200, tpl.verifier_token),
                "entries": Load("entries", 201, tpl.field_token, first_entry_time),
            }
            # Reports before entries: a report reads every entry of the project.
            before_s = math.nan
            for kind in ("health", "reports", "entries"):
                if kind == "entries":
                    before_s, _ = one_report(server, tpl.verifier_token, tries=3)
                for r in range(rounds):  # the warm-up before the first round only
                    warm = warmup_s if r == 0 else 0.0
                    row = measure(
                        server, loads[kind], conc, args.client, warm, seconds, args.requests
                    )
                    runs.setdefault((kind, workers), []).append(row)
                    say.print(
                        f"  {TITLES[kind]}: {row.phase.requests:,} in {row.phase.seconds:.1f} "
                        f"s, {row.rate:,.1f} req/s, p50 {row.pct(50):.1f} ms, p95 "
                        f"{row.pct(95):.1f} ms (connections per worker {row.connections}, "
                        f"other work {rest_share(row):.0%} of the CPUs)"
                    )
                    if not row.ok:
                        statuses = row.warmup.statuses + row.phase.statuses
                        seen = Counter(row.warmup.failures + row.phase.failures).most_common(3)
                        failures = "; ".join(f"{k} x {text}" for text, k in seen)
                        problems.append(
                            f"{TITLES[kind]}, {workers}w: answers {dict(statuses)}, expected "
                            f"only {row.load.expected}: {failures}"
                        )
            created = loads["entries"].created
            stored = stored_entries(server, tpl.verifier_token)
            in_db = entries_in_db(home)
            stored_counts[workers] = len(stored)
            if len(stored) != len(created) or set(stored) != set(created) or in_db != len(created):
                problems.append(
                    f"{workers}w: {len(created):,} entries answered 201, the API lists "
                    f"{len(stored):,} ({len(set(created) - set(stored)):,} of them missing), "
                    f"the database holds {in_db:,}"
                )
            after_s, _ = one_report(server, tpl.verifier_token, tries=3)
            alone[workers] = (first_s, before_s, after_s, len(stored))
            server.stop()
            server = None
    except BenchBroken as exc:
        problems.append(str(exc))
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            say.print(f"kept {tmp}")
        else:
            tmp_obj.cleanup()
    elapsed = time.perf_counter() - started
    if len(runs) < 2 * len(KINDS) or tpl is None:
        for p in problems:
            out.print(f"[bold red]BROKEN:[/] {p}")
        return 1

    rows = {key: max(rs, key=lambda r: r.rate) for key, rs in runs.items()}  # the best
    digests: Counter[str] = Counter()
    for w in (1, 2):
        digests.update(rows[("reports", w)].load.digests)
    if len(digests) != 1:
        problems.append(f"reports: X-Inputs-SHA256 differs between answers: {dict(digests)}")

    table = Table(
        title=f"API benchmark (bench/api.py): {conc} connections, {per_row} a row "
        f"after {warmup_s:g} s warm-up",
        show_lines=True,
    )
    table.add_column("#", justify="right")
    table.add_column("row")
    table.add_column("requests", justify="right")
    table.add_column("req/s", justify="right")
    table.add_column("p50 / p95\nms", justify="right")
    table.add_column("vs health", justify="right")
    table.add_column("2w / 1w", justify="right")
    table.add_column("server CPU\nms / req", justify="right")
    table.add_column("CPU %: client\n/ server / rest", justify="right")
    table.add_column("answers", justify="center")
    n = 0
    for workers in (1, 2):
        health = rows[("health", workers)]
        for kind in KINDS:
            row = rows[(kind, workers)]
            n += 1
            check = all(r.ok for r in runs[(kind, workers)])
            note = f"all {row.load.expected}"
            if kind == "entries":
                made = len(row.load.created)
                in_store = stored_counts.get(workers, -1)
                check = check and made == in_store
                note = f"{made:,} x 201\n= {in_store:,} stored"
            label = f"{TITLES[kind]}\n{workers} worker{'s' if workers > 1 else ''}"
            if workers > 1:
                label += f", conns {'+'.join(map(str, row.connections))}"
            if row.reconnects:
                label += f", {row.reconnects} reconnects"
            table.add_row(
                str(n),
                label,
                f"{row.phase.requests:,}",
                f"{row.rate:,.1f}"
                + ("\n" + " / ".join(f"{r.rate:,.1f}" for r in runs[(kind, workers)]))
                * (rounds > 1),
                f"{ms(row.pct(50))}\n{ms(row.pct(95))}",
                "1" if kind == "health" else f"{row.rate / health.rate:.3f}",
                f"{row.rate / rows[(kind, 1)].rate:.2f}" if workers > 1 else "",
                f"{sum(row.server_cpu_s) * 1000 / max(row.phase.requests, 1):.1f}",
                cpu_cell(row, cpus),
                f"{verdict(check)}\n{note}",
            )
    out.print(table)
    er = sample.get("report", {}).get("emission_reductions_tco2", {}).get("value")
    sizes = sorted(rows[("reports", 1)].load.sizes)
    digest = next(iter(digests)) if len(digests) == 1 else "DIFFERS"
    out.print(
        f"report {PERIOD_START}..{PERIOD_END}: ER {er} tCO2e, {sizes[0] if sizes else 0:,} B "
        f"of JSON, X-Inputs-SHA256 {digest[:16]}... in all {sum(digests.values()):,} answers; "
        f"{tpl.readings:,} readings {DATA_START:%Y-%m-%d}..{DATA_END:%Y-%m-%d} every 15 min",
        highlight=False,
    )
    for workers, (first_s, before_s, after_s, entries) in alone.items():
        out.print(
            f"one report alone, {workers}w: {first_s * 1000:,.0f} ms the first on the fresh "
            f"server; best of 3 before the entries row {before_s * 1000:,.0f} ms, after it "
            f"{after_s * 1000:,.0f} ms ({entries:,} more entries to read)",
            highlight=False,
        )
    noisy = [
        (n, rest)
        for n, rest in enumerate((rest_share(rows[(k, w)]) for w in (1, 2) for k in KINDS), 1)
        if rest > 0.1
    ]
    if noisy:
        out.print(
            "[bold yellow]other work on the machine[/] took "
            + ", ".join(f"{rest:.0%} in row {n}" for n, rest in noisy)
            + " of the CPUs: those rows are low; run again on a quiet machine"
        )
    out.print(
        "the entries check counts the warm-up's too; CPU over the measured time, 100 % = all "
        "CPUs: client = this process, server = uvicorn (per worker in brackets), rest = "
        "everything else on the machine; server CPU ms / req = uvicorn's CPU time / requests",
        highlight=False,
    )
    out.print(
        f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"bench took {elapsed:.0f} s",
        highlight=False,
    )
    for p in problems:
        out.print(f"[bold red]BROKEN:[/] {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
