"""The failed-login limiter through a real ``mrv api``: a working token is never locked out
by other callers' wrong ones, a forged ``X-Forwarded-For`` does not escape the limit, a
trusted proxy's ``X-Forwarded-For`` names the client, and the table of clients stays
within its cap."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from core.config import Network, Settings, parse_networks
from mrv.api.limiter import FailedAuthLimiter, Throttled, client_address
from tests.support.api import prepare, serve, token

PROJECTS = "/v1/projects"
GUESS = {"Authorization": "Bearer mrv_guess"}


@contextmanager
def api_with(tmp_path: Path, config: str = "") -> Iterator[tuple[httpx.Client, Path]]:
    """A real ``mrv api`` on SQLite (the limiter does not depend on the store) whose
    ``mrv.toml`` holds ``config``; a client with a connection kept open."""
    home = tmp_path / "home"
    prepare(home, f"sqlite:///{tmp_path / 'mrv.sqlite'}", tmp_path)
    (home / "mrv.toml").write_text(config)
    with serve(home) as (url, _), httpx.Client(base_url=url) as client:
        yield client, home


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def tracked(client: httpx.Client) -> float:
    metrics = client.get("/metrics").text
    found = re.search(r"^mrv_api_auth_clients (\S+)$", metrics, re.M)
    assert found, metrics
    return float(found.group(1))


def test_a_working_token_keeps_working_while_wrong_ones_are_throttled(tmp_path: Path) -> None:
    with api_with(tmp_path) as (client, home):
        good = bearer(token(home, "--role", "verifier", "--project", "th-solar-rooftops"))
        assert client.get(PROJECTS, headers=good).status_code == 200
        answers = []
        for _ in range(50):  # from the same address, between the valid token's requests
            answers.append(client.get(PROJECTS, headers=GUESS))
            assert client.get(PROJECTS, headers=good).status_code == 200
        assert [a.status_code for a in answers] == [401] * 5 + [429] * 45
        assert all(0 < int(a.headers["retry-after"]) <= 61 for a in answers[5:])
        assert answers[-1].json()["error"].startswith("too many failed attempts")

        # A token never used from this address, presented while it is throttled, gets the
        # answer a wrong guess gets: the throttled answer does not tell a right guess from
        # a wrong one, so guessing stays at 5 a minute.
        new = bearer(token(home, "--role", "verifier", "--project", "th-solar-rooftops"))
        unproven = client.get(PROJECTS, headers=new)
        wrong = client.get(PROJECTS, headers=GUESS)
        assert unproven.status_code == wrong.status_code == 429
        assert unproven.json() == wrong.json()
        assert unproven.headers.keys() == wrong.headers.keys()
        # ... and a missing token is no guess: it is told what is missing
        assert client.get(PROJECTS).status_code == 401


def test_a_forged_x_forwarded_for_does_not_escape_the_limit(tmp_path: Path) -> None:
    # no proxy is trusted by default, not even one on the same machine
    with api_with(tmp_path) as (client, _):
        for _ in range(5):
            assert client.get(PROJECTS, headers=GUESS).status_code == 401
        for n in range(20):
            forged = {**GUESS, "X-Forwarded-For": f"198.51.100.{n}"}
            answer = client.get(PROJECTS, headers=forged)
            assert answer.status_code == 429, (n, answer.text)
        assert tracked(client) == 1


def test_behind_a_trusted_proxy_x_forwarded_for_names_the_client(tmp_path: Path) -> None:
    config = 'api_trusted_proxies = "127.0.0.1, 10.0.0.0/8"\n'
    with api_with(tmp_path, config) as (client, home):
        good = bearer(token(home, "--role", "verifier", "--project", "th-solar-rooftops"))

        def guess(forwarded: str) -> int:
            return client.get(PROJECTS, headers={**GUESS, "X-Forwarded-For": forwarded}).status_code

        assert [guess("203.0.113.5") for _ in range(6)] == [401] * 5 + [429]
        assert guess("203.0.113.6") == 401  # another client behind the proxy
        # what the client itself wrote is left of what the proxies appended: it cannot
        # pass for another client, whatever it claims
        assert guess("192.0.2.1, 203.0.113.5") == 429
        assert guess("203.0.113.6, 203.0.113.5, 10.1.2.3") == 429
        # the proxy itself, and a client whose address nobody forwarded, are the peer
        assert client.get(PROJECTS, headers=good).status_code == 200
        assert guess("") == 401
        # a valid token from the throttled client still passes once it has passed before
        first = {**good, "X-Forwarded-For": "203.0.113.9"}
        assert client.get(PROJECTS, headers=first).status_code == 200
        for _ in range(5):
            guess("203.0.113.9")
        assert guess("203.0.113.9") == 429
        assert client.get(PROJECTS, headers=first).status_code == 200


def test_the_table_of_clients_stays_within_its_cap(tmp_path: Path) -> None:
    config = 'api_trusted_proxies = "127.0.0.1"\napi_auth_max_clients = 20\n'
    with api_with(tmp_path, config) as (client, _):
        for n in range(200):
            forwarded = {**GUESS, "X-Forwarded-For": f"2001:db8:{n:x}::1"}
            assert client.get(PROJECTS, headers=forwarded).status_code == 401
        assert tracked(client) == 20


# The limiter on its own, on a clock the test moves.


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


GOOD = "mrv_good"


def grant(token: str) -> str | None:
    return "grant" if token == GOOD else None


def test_the_limiter_remembers_at_most_its_cap_of_clients_and_failures() -> None:
    clock = Clock()
    limiter = FailedAuthLimiter(max_failures=3, window_s=60, max_clients=100, clock=clock)
    for n in range(5000):
        assert limiter.authenticate(f"10.0.{n // 256}.{n % 256}", "wrong", grant) is None
        assert len(limiter) <= 100
    assert len(limiter) == 100
    # the oldest were forgotten, the latest are remembered
    assert "10.0.0.0" not in limiter._clients and "10.0.19.135" in limiter._clients
    for _ in range(50):
        with suppress(Throttled):
            limiter.authenticate("10.0.19.135", "wrong", grant)
        clock.now += 7
    assert all(len(c.failures) <= 3 for c in limiter._clients.values())


def test_a_throttled_client_waits_and_a_proven_token_does_not() -> None:
    clock = Clock()
    limiter = FailedAuthLimiter(max_failures=3, window_s=60, clock=clock)
    assert limiter.authenticate("a", GOOD, grant) == "grant"
    for _ in range(3):
        assert limiter.authenticate("a", "wrong", grant) is None
        clock.now += 10
    with pytest.raises(Throttled) as throttled:
        limiter.authenticate("a", "wrong", grant)
    assert throttled.value.wait_s == 31  # the first failure leaves the window in 30 s
    assert limiter.authenticate("a", GOOD, grant) == "grant"  # proven here

    def never(token: str) -> str | None:
        raise AssertionError("a token that is not proven here is not checked while throttled")

    with pytest.raises(Throttled):
        limiter.authenticate("a", "mrv_another", never)
    # other clients are not affected, and the window passes
    assert limiter.authenticate("b", "wrong", grant) is None
    clock.now += 31
    assert limiter.authenticate("a", "wrong", grant) is None


def test_a_proven_token_that_stops_working_is_a_failure_like_any_other() -> None:
    clock = Clock()
    valid = {GOOD}
    limiter = FailedAuthLimiter(max_failures=2, clock=clock)
    assert limiter.authenticate("a", GOOD, lambda t: t if t in valid else None) == GOOD
    valid.clear()  # revoked
    assert limiter.authenticate("a", GOOD, lambda t: t if t in valid else None) is None
    assert limiter.authenticate("a", "wrong", grant) is None
    valid.add(GOOD)  # no longer proven: throttled like a guess
    with pytest.raises(Throttled):
        limiter.authenticate("a", GOOD, lambda t: t if t in valid else None)


def test_parallel_guesses_from_one_client_count_in_full() -> None:
    limiter = FailedAuthLimiter(max_failures=5)
    barrier = threading.Barrier(20)

    def slow_guess(token: str) -> str | None:
        time.sleep(0.01)
        return None

    def attempt(_: int) -> str:
        barrier.wait()
        try:
            limiter.authenticate("a", "wrong", slow_guess)
        except Throttled:
            return "429"
        return "401"

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(attempt, range(20)))
    assert answers.count("401") == 5 and answers.count("429") == 15


NETS = parse_networks("127.0.0.1, 10.0.0.0/8, fd00::/8")


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        ("127.0.0.1", ["198.51.100.7"], (), "127.0.0.1"),  # no proxy trusted: the peer
        ("192.0.2.1", ["198.51.100.7"], NETS, "192.0.2.1"),  # an untrusted peer's claim
        ("127.0.0.1", ["198.51.100.7"], NETS, "198.51.100.7"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.7"], NETS, "198.51.100.7"),
        ("127.0.0.1", ["6.6.6.6", "198.51.100.7, 10.0.0.2"], NETS, "198.51.100.7"),
        ("127.0.0.1", ["10.0.0.3, 10.0.0.2"], NETS, "10.0.0.3"),  # all proxies: the first
        ("127.0.0.1", [], NETS, "127.0.0.1"),
        ("127.0.0.1", ["unknown"], NETS, "unknown"),
        ("127.0.0.1", ["198.51.100.7:5123"], NETS, "198.51.100.7"),
        ("127.0.0.1", ["[2001:db8:1:2::9]:443"], NETS, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:aaaa::1", [], NETS, "2001:db8:1:2::/64"),  # an IPv6 host is its /64
        ("::ffff:192.0.2.1", [], NETS, "192.0.2.1"),
        ("fd00::1", ["2001:db8::5"], NETS, "2001:db8::/64"),
        (None, ["198.51.100.7"], NETS, "?"),
    ],
)
def test_who_the_client_is(
    peer: str | None, forwarded: list[str], trusted: tuple[Network, ...], client: str
) -> None:
    assert client_address(peer, forwarded, trusted) == client


def test_trusted_proxies_are_checked_when_the_settings_are_read(tmp_path: Path) -> None:
    assert Settings(home=tmp_path).trusted_proxies == ()
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an IP address or network"):
        Settings(home=tmp_path, api_trusted_proxies="127.0.0.1, 10.0.0.300")
