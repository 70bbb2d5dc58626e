"""Screenshots of every screen of the field app at tablet size, portrait and landscape,
into docs/screenshots/ (linked from the README).

    .venv/bin/python scripts/screenshots.py

Starts a private ``mrv api`` on a free port over a temporary home with the example solar
plan, then plays the app's "tour" (mobile_app/drive.py) headless with
SDL_VIDEODRIVER=offscreen: sign in, projects, entry types, a form with its errors, a
checklist, a calibration form, the outbox with a delivered entry, an edit with a reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mrv.demo.broker import free_port, wait_for_port  # noqa: E402

SIZES = {"portrait": "800x1280", "landscape": "1280x800"}


def mrv(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mrv.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def main() -> int:
    out = ROOT / "docs" / "screenshots"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MRV_HOME": f"{tmp}/home"}
        env.pop("MRV_DATABASE_URL", None)
        mrv("plan", "load", str(ROOT / "examples/plans/solar-pv-rooftops.yaml"), env=env)
        token = mrv(
            "token", "create", "--role", "field", "--project", "th-solar-rooftops",
            "--label", "somchai.k", env=env,
        )  # fmt: skip
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "mrv.cli", "api", "--port", str(port)], env=env
        )
        try:
            wait_for_port(port, timeout_s=30)
            for orientation, size in SIZES.items():
                result = Path(tmp) / f"{orientation}.json"
                subprocess.run(
                    [
                        "timeout",
                        "-k",
                        "10",
                        "300",
                        sys.executable,
                        "-m",
                        "mobile_app.drive",
                        "tour",
                        "--home",
                        f"{tmp}/tablet-{orientation}",
                        "--out",
                        str(result),
                        f"--server=http://127.0.0.1:{port}",
                        f"--token={token}",
                        "--size",
                        size,
                        "--screenshots",
                        str(out / orientation),
                    ],
                    env={
                        **env,
                        "SDL_VIDEODRIVER": os.environ.get("SDL_VIDEODRIVER", "offscreen"),
                        "KIVY_HOME": f"{tmp}/kivy",
                    },
                    check=False,
                )
                answer = json.loads(result.read_text())
                if not answer["ok"]:
                    print(answer.get("error"), file=sys.stderr)
                    return 1
                shots = sorted(p.name for p in (out / orientation).glob("*.png"))
                print(f"{orientation} ({size}): {', '.join(shots)}")
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
