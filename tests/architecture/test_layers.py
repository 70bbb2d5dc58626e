"""The layers are enforced: import-linter (run by scripts/test.sh) keeps the contracts in
pyproject.toml, and breaks on a deliberate bad import of each kind, function-level imports
included. Each case runs ``lint-imports`` on a copy of the tree with one import added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PACKAGES = ("core", "persistence", "gateway", "verification", "firmware_sim", "mobile_app", "mrv")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


@pytest.fixture
def tree(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    shutil.copytree(pristine, copy)
    return copy


def test_the_tree_as_it_is_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


FUNCTION_LEVEL = "\n\ndef _sneak() -> None:\n    import {target}  # noqa\n"
TOP_LEVEL = "\nimport {target}  # noqa\n"

BAD_IMPORTS = [
    # (module that gains the import, what it imports, how, the contract that breaks)
    ("core/units.py", "persistence.audit", FUNCTION_LEVEL, "Layers"),
    ("persistence/records.py", "verification.engine", FUNCTION_LEVEL, "Layers"),
    ("core/wire.py", "mrv.api.app", TOP_LEVEL, "Layers"),
    ("persistence/audit.py", "mrv.cli", FUNCTION_LEVEL, "Layers"),
    ("mrv/api/deps.py", "mrv.cli.common", FUNCTION_LEVEL, "Inside the edge"),
    ("gateway/service.py", "firmware_sim.device", FUNCTION_LEVEL, "Layers"),
    ("gateway/decode.py", "verification.gaps", TOP_LEVEL, "Layers"),
    ("verification/aggregation.py", "gateway.processor", FUNCTION_LEVEL, "Layers"),
    ("firmware_sim/device.py", "persistence.models", FUNCTION_LEVEL, "simulated devices"),
    ("mobile_app/client.py", "mrv.api.tokens", FUNCTION_LEVEL, "field app"),
    ("core/times.py", "core.registers", TOP_LEVEL, "No import cycles"),
]


@pytest.mark.parametrize(("module", "target", "how", "contract"), BAD_IMPORTS)
def test_a_bad_import_breaks_a_contract(
    tree: Path, module: str, target: str, how: str, contract: str
) -> None:
    if contract == "No import cycles":  # registers must import times for a cycle
        registers = tree / "core/registers.py"
        registers.write_text(registers.read_text() + TOP_LEVEL.format(target="core.times"))
    path = tree / module
    path.write_text(path.read_text() + how.format(target=target))
    result = lint(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    if contract == "No import cycles":  # named relative to the package: ".times -> .registers"
        assert ".times -> .registers" in result.stdout, result.stdout
    else:
        assert importer in result.stdout, result.stdout
