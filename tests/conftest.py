"""Fixtures every part's tests share: a private Mosquitto, a data folder, a registered plan,
a gateway, a publisher, and a relational store on SQLite and on a private PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.config import Settings
from devtools.pgserver import PostgresMissing, PostgresServer
from mrv.demo.broker import MosquittoBroker
from persistence.engine import Database
from persistence.repo import load_plan
from tests.support.paths import SOLAR_PLAN
from tests.support.services import Publisher, RunningGateway, db_counter
from verification.plan_check import load_plan_file

os.environ.setdefault("MRV_HOME", str(Path("/tmp/mrv-tests-home-unused")))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker") as b:
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
    try:
        server = PostgresServer().start()
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
