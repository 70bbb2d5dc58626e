"""A small process supervisor: start the parts of a stack, restart one that dies, stop all.

``mrv stack up`` (mrv/cli/stack.py) runs a broker, N gateways and the API through it on
one machine. Each part is a child process whose output is copied to ours line by line
with its name as a prefix. A part that exits while the stack runs is restarted after a
backoff that doubles with each recent death (``backoff_s`` up to ``backoff_max_s``); more
than ``storm_limit`` deaths of one part within ``storm_window_s`` is a restart storm: the
supervisor stops everything and returns 1 with a one-line reason. A stop (SIGINT, SIGTERM
or ``request_stop``) sends SIGTERM to each part in the reverse order of starting (so the
broker goes last and the gateways can flush their batches and disconnect), SIGKILL after
``stop_timeout_s``, and returns 0.

Each running part's process id is in ``pid_dir/<name>.pid`` (removed when it stops), for
operators and tests. On Linux the children get SIGTERM if the supervisor itself is
killed (``PR_SET_PDEATHSIG``), so a SIGKILLed supervisor leaves no orphans behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

PR_SET_PDEATHSIG = 1

#: How long a stop may take per part before SIGKILL (seconds).
STOP_TIMEOUT_S = 15.0


@dataclass
class Part:
    """One child process of the stack: its name (the log prefix and pid file name), its
    command line, extra environment, and an optional readiness check that the supervisor
    waits for (up to ``ready_timeout_s``) before starting the next part."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ready: Callable[[], bool] | None = None
    ready_timeout_s: float = 20.0


@dataclass
class _Running:
    part: Part
    process: subprocess.Popen[bytes] | None = None
    deaths: deque[float] = field(default_factory=deque)  # monotonic times of recent deaths
    restart_at: float | None = None  # monotonic time of a pending restart
    reader: threading.Thread | None = None


class StackError(RuntimeError):
    """The stack could not start, or a part died too often: one line for the operator."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """In the child: SIGTERM when the supervisor's (spawning) thread dies, even by
    SIGKILL. Linux only; elsewhere a killed supervisor may leave its children running."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Start ``parts`` in order, keep them running, stop them in reverse order.

    ``out`` receives every line: the supervisor's own (prefixed ``stack``) and the parts'
    (prefixed with the part's name). ``env`` is added to every part's environment. Time
    values are seconds."""

    def __init__(
        self,
        parts: Sequence[Part],
        *,
        pid_dir: Path,
        out: IO[str] | None = None,
        backoff_s: float = 0.5,
        backoff_max_s: float = 10.0,
        storm_limit: int = 5,
        storm_window_s: float = 60.0,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        env: dict[str, str] | None = None,
    ) -> None:
        names = [p.name for p in parts]
        if len(set(names)) != len(names):
            raise ValueError(f"part names must be unique: {names}")
        self._parts = [_Running(p) for p in parts]
        self.pid_dir = pid_dir
        self._out = out or sys.stdout
        self._out_lock = threading.Lock()
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.storm_limit = storm_limit
        self.storm_window_s = storm_window_s
        self.stop_timeout_s = stop_timeout_s
        self.env = env or {}
        self._stop = threading.Event()
        self._width = max(len(n) for n in [*names, "stack"])

    # --- output ----------------------------------------------------------------------

    def say(self, text: str, name: str = "stack") -> None:
        """One line of output with its source as a prefix (thread-safe)."""
        with self._out_lock:
            self._out.write(f"{name:<{self._width}} | {text}\n")
            self._out.flush()

    def _copy_output(self, name: str, stream: IO[bytes]) -> None:
        """Copy a child's output to ours, line by line with its name (a reader thread)."""
        for raw in iter(stream.readline, b""):
            self.say(raw.decode("utf-8", "replace").rstrip("\r\n"), name)
        stream.close()

    # --- starting and stopping one part ----------------------------------------------

    def _pid_file(self, part: Part) -> Path:
        return self.pid_dir / f"{part.name}.pid"

    def _spawn(self, running: _Running) -> None:
        part = running.part
        env = {**os.environ, **self.env, **part.env, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            part.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal reaches the supervisor only, which
            # then stops the parts in order.
            start_new_session=True,
            preexec_fn=_die_with_parent,  # prctl only, before exec
        )
        running.process = process
        running.restart_at = None
        assert process.stdout is not None
        running.reader = threading.Thread(
            target=self._copy_output, args=(part.name, process.stdout), daemon=True
        )
        running.reader.start()
        self._pid_file(part).write_text(f"{process.pid}\n")
        self.say(f"{part.name} started (pid {process.pid}): {' '.join(part.argv)}")

    def _wait_ready(self, running: _Running) -> None:
        part = running.part
        if part.ready is None:
            return
        deadline = time.monotonic() + part.ready_timeout_s
        while not part.ready():
            process = running.process
            if process is not None and process.poll() is not None:
                raise StackError(f"{part.name} exited with code {process.returncode} on start")
            if self._stop.is_set():
                return  # stopping while starting: not an error
            if time.monotonic() > deadline:
                raise StackError(f"{part.name} was not ready after {part.ready_timeout_s:g} s")
            time.sleep(0.05)
        self.say(f"{part.name} ready")

    def _terminate(self, running: _Running) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout_s``; the pid file goes."""
        process = running.process
        if process is None:
            return
        name = running.part.name
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self.say(f"{name} did not stop within {self.stop_timeout_s:g} s: SIGKILL")
                process.kill()
                process.wait()
        if running.reader is not None:
            running.reader.join(5)
        self.say(f"{name} stopped (exit code {process.returncode})")
        running.process = None
        self._pid_file(running.part).unlink(missing_ok=True)

    # --- the loop --------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        """SIGINT (Ctrl-C) and SIGTERM stop the stack cleanly."""

        def _handler(signum: int, _frame: FrameType | None) -> None:
            self.say(f"{signal.Signals(signum).name}: stopping every part")
            self._stop.set()

        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)

    def run(self, poll_s: float = 0.1) -> int:
        """Start every part, supervise until stopped; 0 after a clean stop, 1 after a
        part could not start or died in a restart storm (the reason is said in one
        line prefixed ``error:``)."""
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        code = 0
        try:
            for running in self._parts:
                if self._stop.is_set():
                    break
                self._spawn(running)
                self._wait_ready(running)
            while not self._stop.wait(poll_s):
                self._check(time.monotonic())
        except StackError as exc:
            self.say(f"error: {exc}; stopping every part")
            code = 1
        finally:
            for running in reversed(self._parts):
                self._terminate(running)
        self.say("stopped" if code == 0 else "stopped after an error")
        return code

    def _check(self, now: float) -> None:
        """Notice parts that died, start the ones whose backoff has passed."""
        for running in self._parts:
            process = running.process
            if running.restart_at is not None:
                if now >= running.restart_at:
                    self._spawn(running)
                continue
            if process is None or process.poll() is None:
                continue
            self._died(running, process.returncode, now)

    def _died(self, running: _Running, code: int, now: float) -> None:
        name = running.part.name
        if running.reader is not None:
            running.reader.join(2)  # its last words first
        self._pid_file(running.part).unlink(missing_ok=True)
        running.deaths.append(now)
        while running.deaths and now - running.deaths[0] > self.storm_window_s:
            running.deaths.popleft()
        recent = len(running.deaths)
        if recent > self.storm_limit:
            raise StackError(
                f"{name} died {recent} times in {self.storm_window_s:g} s "
                f"(last exit code {code}): a restart storm"
            )
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (recent - 1))
        self.say(f"{name} exited with code {code}; restarting in {delay:g} s")
        running.process = None
        running.restart_at = now + delay

    def pids(self) -> dict[str, int]:
        """The process id of each running part, by name."""
        return {
            r.part.name: r.process.pid
            for r in self._parts
            if r.process is not None and r.process.poll() is None
        }
