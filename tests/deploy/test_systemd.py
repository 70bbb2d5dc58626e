"""The systemd units, rendered by scripts/install-units.sh with this machine's real
virtualenv, pass ``systemd-analyze verify`` with no warning at all; and verify is seen to
catch what it should (a missing binary, an unknown key), so its silence means something."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import NOWHERE, ROOT

VENV = Path(sys.executable).parent.parent  # the virtualenv running these tests
UNITS = ["mrv-api.service", "mrv-gateway@.service"]
#: What systemd-analyze verify is asked to check: the API, and the gateway template
#: through an instance (a client id), as systemd would load it.
CHECKED = ["mrv-api.service", "mrv-gateway@site-a-1.service"]
HARDENING = [
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ReadWritePaths=",
    "Restart=on-failure",
    "EnvironmentFile=/etc/mrv/mrv.env",
    "PrivateTmp=yes",
    "CapabilityBoundingSet=",
]

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze missing (scripts/setup.sh installs the systemd package)",
)


def _render(
    out: Path, venv: Path = VENV, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [str(ROOT / "scripts" / "install-units.sh"), "--prefix", str(ROOT)]
    argv += ["--venv", str(venv), "--out", str(out), "--home", str(home or out / "home")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def _verify(folder: Path, unit: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(folder / unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=folder,
    )


def test_rendered_units_verify_without_a_warning(tmp_path: Path) -> None:
    rendered = _render(tmp_path / "units")
    assert rendered.returncode == 0, rendered.stderr
    folder = tmp_path / "units"
    assert sorted(p.name for p in folder.glob("*.service")) == sorted(UNITS)
    for unit in UNITS:
        text = (folder / unit).read_text()
        assert re.search(r"@[A-Z_]+@", text) is None, f"{unit}: a placeholder left"
        assert f"ExecStart={VENV}/bin/mrv " in text
        assert f"ReadWritePaths={tmp_path / 'units' / 'home'}" in text
        for line in HARDENING:
            assert line in text, f"{unit}: {line}"
    for unit in CHECKED:
        result = _verify(folder, unit)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), unit


def test_verify_catches_a_missing_binary_and_an_unknown_key(tmp_path: Path) -> None:
    """The control: what the test above relies on verify to notice, it notices."""
    folder = tmp_path / "units"
    assert _render(folder).returncode == 0
    api = folder / "mrv-api.service"
    api.write_text(api.read_text().replace(f"{VENV}/bin/mrv", str(NOWHERE / "bin" / "mrv")))
    assert _verify(folder, "mrv-api.service").returncode != 0
    gateway = folder / "mrv-gateway@.service"
    gateway.write_text(gateway.read_text().replace("UMask=0027", "UMask=0027\nRestartt=always"))
    result = _verify(folder, "mrv-gateway@site-a-1.service")
    assert "Unknown key" in result.stderr + result.stdout


def test_install_units_refuses_a_venv_without_mrv_and_relative_paths(tmp_path: Path) -> None:
    missing = _render(tmp_path / "a", venv=tmp_path / "no-venv")
    assert missing.returncode == 2 and "bin/mrv not found" in missing.stderr
    relative = subprocess.run(
        [str(ROOT / "scripts" / "install-units.sh"), "--prefix", "opt/jcm-mrv"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert relative.returncode == 2 and "absolute path" in relative.stderr
    assert not (tmp_path / "a").exists()
