"""``mrv stack up`` as a real process: broker, two gateways and the API come up, readings
are stored, a SIGKILLed gateway is restarted, SIGINT stops everything and leaves no
process behind. And the supervisor's restart-storm and stop-timeout rules on small
shell children."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.wire import readings_topic
from mrv.stack import Part, Supervisor
from persistence.engine import Database
from persistence.repo import load_plan
from persistence.stores.sqlite_ts import SQLiteTimeSeriesStore
from tests.support.paths import ROOT, SOLAR_PLAN
from tests.support.ports import free_port
from tests.support.services import wait_until
from verification.plan_check import load_plan_file

P = "th-solar-rooftops"
DEVICES = [("rayong-a", "pv-a-meter"), ("rayong-b", "pv-b-meter"), ("koh-site", "pv-koh-meter")]


def _messages(first: int, n: int) -> list[tuple[str, bytes]]:
    items = []
    for i in range(first, first + n):
        site, device = DEVICES[i % 3]
        body = {
            "device": device,
            "seq": i,
            "time": 1_780_000_000 + 900 * (i // 3),
            "readings": [{"quantity": "power", "value": 1.0 + i % 7, "unit": "kW"}],
        }
        items.append((readings_topic(P, site, device), json.dumps(body).encode()))
    return items


def _publish(port: int, items: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for info in [client.publish(t, p, qos=1) for t, p in items]:
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _subscribed(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as answer:
            return "mrv_gateway_subscribed 1.0" in answer.read().decode()
    except OSError:
        return False


def _pid(home: Path, part: str) -> int | None:
    try:
        return int((home / "stack" / f"{part}.pid").read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _load_solar(home: Path) -> None:
    db = Database(f"sqlite:///{home / 'mrv.sqlite'}")
    with db.session() as session, session.begin():
        load_plan(session, load_plan_file(SOLAR_PLAN), SOLAR_PLAN.read_text(), actor="test")
    db.dispose()


def _start_stack(home: Path, log: Path, ports: dict[str, int]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MRV_GATEWAY_BATCH_INTERVAL_MS": "20"}
    env.pop("MRV_HOME", None)  # --home says it
    argv = [sys.executable, "-m", "mrv.cli", "stack", "up", "--home", str(home)]
    argv += ["--gateways", "2", "--mqtt-port", str(ports["mqtt"])]
    argv += ["--api-port", str(ports["api"]), "--metrics-port", str(ports["metrics"])]
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def test_stack_up_stores_restarts_a_killed_gateway_and_stops_on_sigint(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "stack.log"
    home.mkdir()
    _load_solar(home)
    ports = {"mqtt": free_port(), "api": free_port(), "metrics": free_port()}
    stack = _start_stack(home, log, ports)
    seen: set[int] = set()
    try:
        wait_until(lambda: _healthy(f"http://127.0.0.1:{ports['api']}/health"), 60, "API up")
        parts = ("broker", "gateway-1", "gateway-2", "api")
        wait_until(lambda: all(_pid(home, p) for p in parts), 10, "pid files")
        seen.update(_pid(home, p) or 0 for p in parts)
        assert "docs http://127.0.0.1" in log.read_text()
        store = SQLiteTimeSeriesStore(home / "readings.sqlite")
        # both gateways subscribed (gateway-n serves /metrics on the n-th port from "metrics")
        for port in (ports["metrics"], ports["metrics"] + 1):
            wait_until(lambda port=port: _subscribed(port), 30, f"gateway on {port} subscribed")
        _publish(ports["mqtt"], _messages(0, 300))
        wait_until(lambda: store.count() == 300, 60, "300 readings stored")

        killed = _pid(home, "gateway-1")
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        wait_until(lambda: _pid(home, "gateway-1") not in (None, killed), 20, "gateway restart")
        restarted = _pid(home, "gateway-1")
        assert restarted is not None and _alive(restarted)
        seen.add(restarted)
        assert "gateway-1 exited with code -9; restarting in" in log.read_text()
        _publish(ports["mqtt"], _messages(300, 300))
        wait_until(lambda: store.count() == 600, 60, "600 readings stored after the restart")
        store.close()
        assert stack.poll() is None

        stack.send_signal(signal.SIGINT)
        assert stack.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if stack.poll() is None:
            stack.kill()
            stack.wait()
    text = log.read_text()
    assert text.rstrip().endswith("stopped"), text[-2000:]
    assert not [pid for pid in seen if _alive(pid)], "children left running"
    # nothing else that belongs to this stack either (its data folder is in every command)
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(home) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []
    assert list((home / "stack").glob("*.pid")) == []


def test_a_restart_storm_stops_everything_with_one_line_and_exit_1(tmp_path: Path) -> None:
    out = io.StringIO()
    keeper = Part("keeper", ["sleep", "60"])
    crasher = Part("crasher", ["sh", "-c", "echo about to fail; exit 3"])
    supervisor = Supervisor(
        [keeper, crasher],
        pid_dir=tmp_path / "pids",
        out=out,
        backoff_s=0.01,
        backoff_max_s=0.05,
        storm_limit=3,
        storm_window_s=30,
    )
    started = time.monotonic()
    assert supervisor.run(poll_s=0.02) == 1
    assert time.monotonic() - started < 20
    lines = out.getvalue().splitlines()
    errors = [line for line in lines if "error:" in line]
    assert errors == [
        "stack   | error: crasher died 4 times in 30 s (last exit code 3): a restart storm; "
        "stopping every part"
    ]
    assert sum("crasher | about to fail" in line for line in lines) == 4
    assert any(line.startswith("stack   | keeper stopped (exit code -15)") for line in lines)
    assert list((tmp_path / "pids").glob("*.pid")) == []


def test_a_part_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    out = io.StringIO()
    stubborn = Part("stubborn", ["sh", "-c", "trap '' TERM; echo up; while :; do sleep 0.1; done"])
    supervisor = Supervisor([stubborn], pid_dir=tmp_path / "pids", out=out, stop_timeout_s=1)
    # the supervisor runs in this thread: a timer stops it
    threading.Timer(1.5, supervisor.request_stop).start()
    pid_file = tmp_path / "pids" / "stubborn.pid"
    assert supervisor.run(poll_s=0.05) == 0
    text = out.getvalue()
    assert "stubborn did not stop within 1 s: SIGKILL" in text
    assert "stubborn stopped (exit code -9)" in text
    assert not pid_file.exists()


@pytest.mark.parametrize("names", [["a", "a"]])
def test_part_names_must_be_unique(names: list[str], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        Supervisor([Part(n, ["true"]) for n in names], pid_dir=tmp_path)


SUPERVISOR = """
import sys
from pathlib import Path
from mrv.stack import Part, Supervisor

Supervisor([Part("sleeper", ["sleep", "300"])], pid_dir=Path(sys.argv[1])).run()
"""


def test_a_killed_supervisor_takes_its_parts_with_it(tmp_path: Path) -> None:
    """SIGKILL cannot be caught: the parts get SIGTERM from the kernel (PR_SET_PDEATHSIG)."""
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
    )
    try:
        pid_file = tmp_path / "sleeper.pid"
        wait_until(pid_file.exists, 20, "the part started")
        sleeper = int(pid_file.read_text())
        assert _alive(sleeper)
        supervisor.kill()
        supervisor.wait(10)
        wait_until(lambda: not _alive(sleeper), 10, "the part gone with its supervisor")
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_stack_up_mistakes_are_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args, code, start in [
        (["--home", str(blocker / "home")], 1, "error: the stores in"),
        (["--gateways", "0"], 2, "error: --gateways:"),
        (["--api-port", "70000"], 2, "error: --api-port:"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "mrv.cli", "stack", "up", *args],
            env={**os.environ, "PYTHONPATH": str(ROOT), "MRV_HOME": str(tmp_path / "h")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = result.stderr.strip().splitlines()
        assert (result.returncode, len(lines), result.stdout) == (code, 1, ""), result.stderr
        assert lines[0].startswith(start), lines
