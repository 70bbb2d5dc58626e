"""Recalculate an XLSX workbook with LibreOffice headless and read the results back.

LibreOffice keeps a workbook's cached values unless its profile says to recalculate on
load (``OOXMLRecalcMode`` = 0, "always"); with the default profile a stale cached number
would pass unnoticed (machine notes). Every call therefore runs ``soffice`` with a private
profile folder of its own, which also lets pytest-xdist workers run it at the same time.
openpyxl writes formulas without cached values, so a formula that LibreOffice did not
compute reads back as None, never as a plausible number.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from openpyxl import load_workbook

#: The profile setting that makes LibreOffice recompute every formula of an OOXML file
#: when it loads it (0 = always, 1 = never, 2 = ask).
_REGISTRY = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
 <prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop>
</item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
 <prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop>
</item>
</oor:items>
"""

#: A cell's recalculated value, as openpyxl reads it with ``data_only=True``.
Value = str | int | float | bool | None


def soffice() -> str:
    """The soffice binary; setup.sh installs it (Debian's libreoffice-calc-nogui), so a
    missing one is a failure, not a skip."""
    found = shutil.which("soffice")
    if found is None:
        raise RuntimeError("soffice not found: run scripts/setup.sh (libreoffice-calc-nogui)")
    return found


def recalculate(xlsx: bytes, folder: Path, timeout_s: float = 120.0) -> bytes:
    """The workbook as LibreOffice saves it after recomputing every formula.

    folder: a fresh folder of the caller's (a test's ``tmp_path``) for the private
    profile and the files.
    """
    profile = folder / "lo-profile"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_REGISTRY, encoding="utf-8")
    source = folder / "in" / "book.xlsx"
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(xlsx)
    out = folder / "out"
    out.mkdir(exist_ok=True)
    done = subprocess.run(
        [
            soffice(),
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            "xlsx:Calc MS Excel 2007 XML",
            "--outdir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    result = out / "book.xlsx"
    if done.returncode != 0 or not result.is_file():
        raise RuntimeError(
            f"soffice failed ({done.returncode}): {done.stdout.strip()} {done.stderr.strip()}"
        )
    return result.read_bytes()


def recalculated_values(xlsx: bytes, folder: Path) -> dict[str, dict[str, Value]]:
    """Every non-empty cell's value after LibreOffice recomputed the workbook, by sheet
    and coordinate (``{"MRS_calc": {"D7": 1.5, ...}}``)."""
    book = load_workbook(io.BytesIO(recalculate(xlsx, folder)), data_only=True)
    values: dict[str, dict[str, Value]] = {}
    for ws in book.worksheets:
        values[ws.title] = {
            cell.coordinate: cell.value
            for row in ws.iter_rows()
            for cell in row
            if cell.value is not None
        }
    return values
