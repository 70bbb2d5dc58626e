"""Fixtures every part's tests share: a private Mosquitto, a data folder, a registered plan,
a gateway, a publisher, and a relational store on SQLite and on a private PostgreSQL."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.config import Settings
from devtools.pgserver import PostgresMissing, PostgresServer
from mrv.demo.broker import MosquittoBroker
from persistence.engine import Database
from persistence.repo import load_plan
from tests.support.paths import SOLAR_PLAN
from tests.support.ports import free_port
from tests.support.services import Publisher, RunningGateway, db_counter
from verification.plan_check import load_plan_file

# A home no test should use (each makes its own): if one forgets, it writes here, not to
# the user's ~/.mrv, and not to a folder another test process (an xdist worker) shares.
os.environ.setdefault(
    "MRV_HOME", str(Path(tempfile.gettempdir()) / f"mrv-tests-home-unused-{os.getpid()}")
)
# The CLI's rich consoles are made at import, and take a COLUMNS they find then as their
# fixed width, deaf to the COLUMNS the tests give each invocation. GNU readline (imported
# by the xdist workers) exports COLUMNS=80 and LINES=24; a user's shell may export them.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker", port=free_port()) as b:
        yield b


@pytest.fixture
def settings(tmp_path: Path, broker: MosquittoBroker) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    return Settings(home=home, mqtt_url=broker.url, gateway_batch_interval_ms=20)


@pytest.fixture
def solar_loaded(settings: Settings) -> Settings:
    plan = load_plan_file(SOLAR_PLAN)
    db = Database(settings.effective_database_url)
    with db.session() as session, session.begin():
        load_plan(session, plan, SOLAR_PLAN.read_text(), actor="test")
    db.dispose()
    return settings


@pytest.fixture
def run_gateway() -> Iterator[Callable[..., RunningGateway]]:
    started: list[RunningGateway] = []

    def _start(settings: Settings, **options: object) -> RunningGateway:
        gw = RunningGateway(settings, **options).start()
        started.append(gw)
        return gw

    yield _start
    for gw in started:
        if gw.thread.is_alive():
            gw.stop()


@pytest.fixture
def publisher(broker: MosquittoBroker) -> Iterator[Publisher]:
    pub = Publisher(broker)
    yield pub
    pub.close()


@pytest.fixture(scope="session")
def pg_server():
    """One private PostgreSQL per test process (per xdist worker): its own free port and
    its own data folder (``tempfile.mkdtemp``); each test makes its own database in it."""
    try:
        server = PostgresServer(port=free_port()).start()
    except PostgresMissing as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    """A fresh, empty relational store URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mrv.sqlite'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"mrv_test_{next(db_counter)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI a skip is a failure: every skip in this suite means a tool or service that
    scripts/setup.sh should have installed (mosquitto, PostgreSQL, victoria-metrics,
    soffice, chromium, systemd-analyze), and a fresh machine must not pass by skipping."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, so setup.sh missed something: {report.longrepr}"
