"""schemathesis against the API's own OpenAPI schema, through a real ``mrv api``: no
generated input (authenticated as an admin) may cause a server error (5xx), and every
answer is one the schema declares (status code, body schema, media type)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.api import token


def test_no_generated_input_causes_a_server_error(server: tuple[str, Path], tmp_path: Path) -> None:
    url, home = server
    admin = token(home, "--role", "admin")
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    # the project path parameter from the data, so the fuzzing reaches past the 404
    (tmp_path / "schemathesis.toml").write_text(
        '[parameters]\n"path.project" = "th-solar-rooftops"\n'
    )
    result = subprocess.run(
        [
            st,
            "run",
            f"{url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--header",
            f"Authorization: Bearer {admin}",
            "--seed",
            "2026",
            "--generation-with-security-parameters",
            "false",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Rate limited" not in result.stdout  # the fuzzing must reach the routes


def test_every_answer_is_as_the_schema_declares(server: tuple[str, Path], tmp_path: Path) -> None:
    """The OpenAPI document tells the truth: every status code an operation answers is
    declared, every body matches its declared schema and media type."""
    url, home = server
    admin = token(home, "--role", "admin")
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    (tmp_path / "schemathesis.toml").write_text(
        '[parameters]\n"path.project" = "th-solar-rooftops"\n'
    )
    checks = "status_code_conformance,response_schema_conformance,content_type_conformance"
    result = subprocess.run(
        [
            *(st, "run", f"{url}/openapi.json", "--checks", checks, "--max-examples", "15"),
            *("--header", f"Authorization: Bearer {admin}", "--seed", "2026"),
            *("--generation-with-security-parameters", "false"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Rate limited" not in result.stdout
