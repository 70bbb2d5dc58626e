"""How fast the field app's outbox delivers queued entries, per entry, relative to the
same entries sent by direct API calls in the same run (issue 5).

    .venv/bin/python bench/field_sync.py [--entries 1000] [--keep]

Starts a private ``mrv api`` (SQLite, one worker) on a free port over a temporary home
with the example solar plan, then, against that one server:

- direct: the app's own HTTP client (``mobile_app.client.ApiClient``, urllib) POSTs N
  fresh entries one after another: the floor for this transport;
- outbox: N entries are saved and queued in the app's outbox (SQLite, WAL,
  ``synchronous=FULL``) while the server is unreachable, then one sync pass delivers
  them all (``Syncer.run_once``: claim a batch, send each, record each outcome).

The two run twice, alternately, and each keeps its best run. The figure is the outbox's
time per entry over the direct call's. The bench checks that the server holds every
entry exactly once and that every outbox row ends ``sent``; exit code 1 if not.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import code_version, cpu_model, verdict  # noqa: E402
from mobile_app.client import ApiClient  # noqa: E402
from mobile_app.outbox import Outbox, new_id  # noqa: E402
from mobile_app.sync import Syncer  # noqa: E402
from mrv.demo.broker import free_port, wait_for_port  # noqa: E402

P = "th-solar-rooftops"
AUTHOR = "bench.field"
TARGET_RATIO = 1.5  # the outbox may cost at most half as much again as a bare call
console = Console()


def body(k: int) -> dict[str, object]:
    return {
        "device": "pv-a-meter",
        "quantity": "energy_export",
        "time": f"2026-06-{1 + k % 28:02d}T{k % 24:02d}:{k % 60:02d}:00Z",
        "value": 1000.0 + k,
        "unit": "kWh",
    }


def direct(client: ApiClient, n: int, offset: int) -> tuple[float, list[str]]:
    ids = [new_id() for _ in range(n)]
    started = time.perf_counter()
    for k, entry_id in enumerate(ids):
        client.send_entry(
            P, {"id": entry_id, "type": "meter_reading", "author": AUTHOR, "body": body(offset + k)}
        )
    return time.perf_counter() - started, ids


def outbox(client: ApiClient, folder: Path, n: int, offset: int) -> tuple[float, list[str], int]:
    box = Outbox(folder / "outbox.sqlite")
    ids = []
    for k in range(n):
        entry_id = new_id()
        box.save(
            entry_id, P, "meter_reading", body(offset + k), AUTHOR,
            "2026-06-30T00:00:00+00:00", {"lat": 12.7, "lon": 101.1}, submit=True,
        )  # fmt: skip
        ids.append(entry_id)
    syncer = Syncer(box, lambda: client)
    started = time.perf_counter()
    sent = syncer.run_once()
    elapsed = time.perf_counter() - started
    not_sent = sum(n for state, n in box.counts().items() if state != "sent")
    box.close()
    return elapsed, ids, sent if not_sent == 0 else -not_sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    n = args.entries
    folder = Path(tempfile.mkdtemp(prefix="bench-field-"))
    env = {**os.environ, "MRV_HOME": str(folder / "home")}
    env.pop("MRV_DATABASE_URL", None)

    def mrv(*a: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "mrv.cli", *a], env=env, capture_output=True, text=True,
            check=True,
        ).stdout.strip()  # fmt: skip

    mrv("plan", "load", str(ROOT / "examples/plans/solar-pv-rooftops.yaml"))
    token = mrv("token", "create", "--role", "field", "--project", P, "--label", AUTHOR)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mrv.cli", "api", "--port", str(port)], env=env
    )
    console.print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    console.print(code_version("mobile_app", "mrv"))
    ok = True
    try:
        wait_for_port(port, timeout_s=30)
        client = ApiClient(f"http://127.0.0.1:{port}", token)
        client.send_entry(
            P, {"id": new_id(), "type": "meter_reading", "author": AUTHOR, "body": body(0)}
        )
        best = {"direct": float("inf"), "outbox": float("inf")}
        expected: list[str] = []
        for run in range(2):
            print(f"run {run + 1}: direct ...", file=sys.stderr)
            took, ids = direct(client, n, offset=run * 2 * n)
            best["direct"] = min(best["direct"], took)
            expected += ids
            print(f"run {run + 1}: outbox ...", file=sys.stderr)
            took, ids, sent = outbox(client, folder / f"tablet-{run}", n, offset=run * 2 * n + n)
            if sent != n:
                console.print(f"[red]outbox run {run + 1}: {sent} sent of {n}[/]")
                ok = False
            best["outbox"] = min(best["outbox"], took)
            expected += ids
        admin = mrv("token", "create", "--role", "admin", "--label", "bench")
        stored: list[str] = []
        cursor = None
        reader = ApiClient(f"http://127.0.0.1:{port}", admin)
        while True:
            params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
            page = reader._request("GET", f"/v1/projects/{P}/entries", params=params)[1]
            stored += [e["id"] for e in page["entries"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        exactly_once = len(stored) == len(set(stored)) and set(expected) <= set(stored)
        exactly_once = exactly_once and len(stored) == len(expected) + 1  # + the warm-up
        ok = ok and exactly_once
    finally:
        server.terminate()
        server.wait(30)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    per = {k: v / n * 1000 for k, v in best.items()}
    ratio = per["outbox"] / per["direct"]
    table = Table(title=f"Field app sync: {n} entries per run, best of 2, one uvicorn worker")
    for column in ("path", "ms / entry", "entries / s", "vs direct", "target", "verdict"):
        table.add_column(column, justify="right" if column != "path" else "left")
    table.add_row(
        "direct API call (urllib)",
        f"{per['direct']:.2f}",
        f"{1000 / per['direct']:.0f}",
        "1.00",
        "",
        "",
    )
    table.add_row(
        "outbox sync pass", f"{per['outbox']:.2f}", f"{1000 / per['outbox']:.0f}", f"{ratio:.2f}",
        f"<= {TARGET_RATIO}", verdict(ratio <= TARGET_RATIO),
    )  # fmt: skip
    console.print(table)
    console.print(f"stored exactly once on the server: {verdict(exactly_once)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
