"""The CLI as people use it (issue: edges that fit people's habits): a version, an
unknown project as an error rather than an empty list, user text printed as it is (no
Rich markup eaten), tables whole in a pipe, a bad --out told in one line."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mrv.cli import app
from tests.support.paths import NOWHERE, SOLAR_PLAN
from tests.support.ports import free_port

runner = CliRunner()
P = "th-solar-rooftops"


def mrv(home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args], env={"MRV_HOME": str(home), "COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.fixture
def home(tmp_path: Path) -> Path:
    code, out = mrv(tmp_path, "plan", "load", str(SOLAR_PLAN))
    assert code == 0, out
    logger = tmp_path / "in.csv"
    logger.write_text(
        "time,site,device,seq,quantity,value,unit\n"
        "2026-06-01T00:00:00Z,rayong-a,pv-a-meter,1,energy_export,5,[mass]\n"
    )
    mrv(tmp_path, "readings", "import", "--project", P, str(logger))
    return tmp_path


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("jcm-mrv ")


@pytest.mark.parametrize(
    "command",
    [
        ["entries", "list"],
        ["periods", "list"],
        ["quarantine", "list"],
        ["events", "list"],
        ["devices", "list"],
        ["readings", "export"],
    ],
    ids=lambda c: " ".join(c),
)
def test_an_unknown_project_is_an_error_not_an_empty_list(home: Path, command) -> None:
    code, out = mrv(home, *command, "--project", "th-solar")
    assert code == 1
    lines = out.strip().splitlines()
    assert lines == [f"error: --project: no project 'th-solar' (known: {P})"], out


def test_user_text_keeps_its_brackets(home: Path) -> None:
    code, out = mrv(home, "quarantine", "list", "--project", P)
    assert code == 0 and "[mass]" in out, out


def test_a_table_in_a_pipe_is_not_cut_at_80_columns(home: Path) -> None:
    with sqlite3.connect(home / "mrv.sqlite") as conn:
        conn.execute("UPDATE quarantine SET detail = ?", ("x" * 150,))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    shown = subprocess.run(
        [sys.executable, "-m", "mrv.cli", "quarantine", "list", "--project", P],
        env={**env, "MRV_HOME": str(home)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "x" * 150 in shown  # on one line: neither cut nor folded


def test_a_bad_out_is_one_line_and_exit_1(home: Path) -> None:
    code, out = mrv(home, "readings", "export", "--project", P, "--out", str(NOWHERE / "x.csv"))
    assert code == 1 and "Traceback" not in out
    assert out.strip().startswith("error: --out:") and len(out.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["entries", "list", "--project", P, "--status", "gone"], "--status"),
        (["entries", "list", "--project", P, "--type", "invoice"], "--type"),
        (["quarantine", "list", "--status", "opened"], "--status"),
        (["events", "list", "--kind", "resets"], "--kind"),
        (["devices", "list", "--format", "yaml"], "--format"),
        (["readings", "export", "--project", P, "--format", "xml"], "--format"),
        (["token", "create", "--role", "root"], "--role"),
        (["report", "--project", P, "--start", "2026-06-01", "--end", "2026-06-30",
          "--format", "docx"], "--format"),
    ],
    ids=lambda x: " ".join(x) if isinstance(x, list) else x,
)  # fmt: skip
def test_a_closed_set_is_a_choice(home: Path, command: list[str], option: str) -> None:
    code, out = mrv(home, *command)
    assert code == 2 and option in out and "Traceback" not in out, out
    assert "is not one of" in out


def test_choices_are_in_the_help(home: Path) -> None:
    _, out = mrv(home, "quarantine", "list", "--help")
    assert "open|released|resolved|all" in out


def test_a_report_that_cannot_be_written_is_not_recorded_as_issued(home: Path) -> None:
    def issued() -> int:
        with sqlite3.connect(home / "mrv.sqlite") as conn:
            query = "SELECT count(*) FROM audit_log WHERE action LIKE 'report%'"
            return int(conn.execute(query).fetchone()[0])

    before = issued()
    period = ["--start", "2026-06-01", "--end", "2026-06-30", "-q"]
    code, out = mrv(home, "report", "--project", P, *period, "--format", "pdf",
                    "--out", str(NOWHERE / "x.pdf"))  # fmt: skip
    assert code == 1 and out.strip().startswith("error: --out:") and "Traceback" not in out
    assert issued() == before
    code, out = mrv(home, "report", "--project", P, *period, "--out", str(home / "r.json"))
    assert code == 0 and issued() == before + 1


def test_a_first_run_without_mrv_home_says_where_data_go(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MRV_HOME"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")  # platformdirs' per-user folder
    run = [sys.executable, "-m", "mrv.cli", "plan", "load", str(SOLAR_PLAN)]
    first = subprocess.run(run, env=env, capture_output=True, text=True, check=True)
    assert f"data go to {tmp_path / 'xdg' / 'jcm-mrv'}" in first.stderr
    second = subprocess.run(run, env=env, capture_output=True, text=True, check=True)
    assert "MRV_HOME" not in second.stderr


def test_a_plan_error_at_line_100_keeps_its_colons(tmp_path: Path) -> None:
    bad = tmp_path / "bad7.yaml"
    bad.write_text("# padding\n" * 99 + "bogus_key: 1\n" + SOLAR_PLAN.read_text())
    code, out = mrv(tmp_path, "plan", "validate", str(bad))
    assert code == 1 and "bad7.yaml:100:1:" in out and "💯" not in out, out


def test_mrv_api_says_where_it_listens(home: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mrv.cli", "api", "--port", str(port), "--home", str(home)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(30)
    base = f"http://127.0.0.1:{port}"
    assert first.startswith(f"mrv api: listening on {base} (docs {base}/docs"), first
    assert str(home) in first


# --- one error style, every list in every format, narrow terminals ----------------------


def split_run(home: Path, *args: str, columns: int = 200) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one invocation (kept apart, as a shell sees them)."""
    result = runner.invoke(app, [*args], env={"MRV_HOME": str(home), "COLUMNS": str(columns)})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def assert_one_error_line(code: int, out: str, err: str, field: str | None) -> None:
    assert code in (1, 2) and out == "", (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "╭" not in err and "Usage:" not in err
    if field:
        assert lines[0].startswith(f"error: {field}"), err


USAGE_MISTAKES = [
    (["token", "create", "--role", "root"], "--role"),
    (["quarantine", "list", "--limit", "0"], "--limit"),
    (["readings", "export", "--project", P, "--start", "2025-13-40"], "--start"),
    (["readings", "export", "--project", P, "--start", "2026-02-01", "--end", "2026-01-01"],
     "--end"),
    (["entries", "list"], None),  # --project missing
    (["entries", "list", "--project", P, "--bogus"], None),
    (["readings", "list"], None),  # no such command
    (["plan", "validate", str(NOWHERE / "plan.yaml")], "FILE"),
    (["entries", "list", "--project", P, "--format", "yaml"], "--format"),
    (["token", "create", "--role", "admin", "--expires", "-5"], "--expires"),
    (["quarantine", "release"], "IDS"),
    (["audit", "verify", "--project", P, "--key", "zzz"], "--key"),
    (["gateway", "--protocol", "4"], "--protocol"),
]  # fmt: skip


@pytest.mark.parametrize(("command", "field"), USAGE_MISTAKES, ids=lambda x: str(x))
def test_a_usage_mistake_is_one_line_and_exit_2(home: Path, command, field) -> None:
    code, out, err = split_run(home, *command)
    assert code == 2
    assert_one_error_line(code, out, err, field)
    if field is None:
        assert "--help)" in err  # where to look next


def test_failures_are_one_line_and_exit_1(home: Path, tmp_path: Path) -> None:
    for command, field in [
        (["periods", "list", "--project", "nope"], "--project"),
        (["devices", "list", "--project", "nope"], "--project"),
        (["readings", "export", "--project", P, "--out", str(NOWHERE / "x.csv")], "--out"),
        (["readings", "export", "--project", P, "--device", "nope"], "--device"),
        (["readings", "export", "--project", P, "--quantity", "nope"], "--quantity"),
        (["entries", "withdraw", "00000000-0000-0000-0000-000000000000", "--project", P,
          "--reason", "r", "--author", "a"], None),
    ]:  # fmt: skip
        code, out, err = split_run(home, *command)
        assert code == 1, (command, err)
        assert_one_error_line(code, out, err, field)
    bad = tmp_path / "entries.json"
    bad.write_text("[1, 2")
    binary = tmp_path / "photo.jpg"
    binary.write_bytes(bytes(range(256)) * 4)
    for command, file in [
        (["entries", "add", str(bad), "--project", P], bad),
        (["entries", "add", str(binary), "--project", P], binary),
        (["plan", "validate", str(binary)], binary),
        (["plan", "load", str(binary)], binary),
    ]:
        code, out, err = split_run(home, *command)
        assert code == 1
        assert_one_error_line(code, out, err, str(file))


def test_releasing_an_entry_that_is_not_there_is_an_error(home: Path) -> None:
    code, out, err = split_run(home, "quarantine", "release", "999999")
    assert code == 1 and "0 of 0 released" in out
    assert err.strip() == "error: IDS: no open quarantine entry 999999 (mrv quarantine list)"


def test_an_impossible_plan_date_names_the_field_and_line(tmp_path: Path) -> None:
    text = SOLAR_PLAN.read_text()
    first = text.index("installed: ")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        text[:first] + "installed: 2025-13-40" + text[first + len("installed: 2025-12-20") :]
    )
    line = text[:first].count("\n") + 1
    for command in (["plan", "validate", str(bad)], ["plan", "load", str(bad)]):
        code, out, err = split_run(tmp_path, *command)
        assert code == 1 and "Traceback" not in err
        assert f"error: {bad}:{line}:" in err and "devices[0].installed" in err, err


LISTS = [
    ["quarantine", "list", "--status", "all"],
    ["events", "list"],
    ["devices", "list"],
    ["periods", "list", "--project", P],
    ["entries", "list", "--project", P],
    ["token", "list"],
]


@pytest.fixture
def full_home(home: Path) -> Path:
    """A home with at least one row in every list."""
    (home / "e.json").write_text(
        '{"id": "7d0d6f06-0f4b-4d55-8a43-3d40c1a4a001", "type": "site_visit_checklist",'
        ' "author": "Somchai [lead]", "body": {"visited_at": "2026-06-02T03:00:00Z",'
        ' "items": {"meter seal intact": true}, "notes": "ok"}}'
    )
    for command in (
        ["entries", "add", str(home / "e.json"), "--project", P],
        ["periods", "define", "--project", P, "--start", "2026-01-01", "--end", "2026-06-30"],
        ["token", "create", "--role", "verifier", "--project", P, "--label", "v [x]"],
    ):
        code, out, err = split_run(home, *command)
        assert code == 0, (command, out, err)
    return home


@pytest.mark.parametrize("command", LISTS, ids=lambda c: " ".join(c[:2]))
def test_every_list_prints_as_json_jsonl_and_csv(full_home: Path, command: list[str]) -> None:
    import csv
    import io
    import json

    code, out, _ = split_run(full_home, *command, "--format", "json")
    assert code == 0
    records = json.loads(out)
    assert isinstance(records, list)
    if command[0] != "events":  # the fixture makes no data-quality event
        assert records, out
    code, out, _ = split_run(full_home, *command, "--format", "jsonl")
    assert [json.loads(line) for line in out.splitlines()] == records
    code, out, _ = split_run(full_home, *command, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        assert list(row) == list(record)
        for key, value in record.items():
            if isinstance(value, str):
                assert row[key] == value


def test_a_narrow_terminal_gets_a_list_not_a_cut_table(full_home: Path) -> None:
    code, wide, _ = split_run(full_home, "devices", "list", columns=200)
    assert code == 0 and "┃ project" in wide
    code, narrow, _ = split_run(full_home, "devices", "list", columns=50)
    assert code == 0 and "┃" not in narrow
    assert "  device: pv-a-meter" in narrow and "  serial: LG-E650-110023" in narrow
    assert all(len(line) <= 50 for line in narrow.splitlines()), narrow


def test_token_times_say_they_are_utc(full_home: Path) -> None:
    import json

    code, out, _ = split_run(full_home, "token", "list", "--format", "jsonl")
    created = [json.loads(line)["created_at"] for line in out.splitlines()]
    assert created and all(c.endswith("Z") for c in created), created


def test_an_empty_list_says_so(home: Path) -> None:
    code, out, _ = split_run(home, "events", "list", "--project", P)
    assert code == 0 and out.strip() == "data-quality events: none"


def test_a_release_keeps_the_reasons_brackets(home: Path) -> None:
    code, out, _ = split_run(home, "quarantine", "release", "--all")
    assert code == 0 and "kept" in out and "[mass]" in out, out
