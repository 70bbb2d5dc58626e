"""The Android build's spec names every library the packaged app imports.

No Android SDK or NDK can be installed on these machines, so the APK is not built here;
this checks what can be checked without one: buildozer.spec parses as buildozer reads it
(an INI file), and each third-party module imported anywhere in the packaged
``mobile_app`` (everything but the desktop-only test driver and audit) has a
python-for-android recipe in ``requirements``.
"""

from __future__ import annotations

import ast
import configparser
import sys
from pathlib import Path

import kivy

from tests.support.paths import ROOT

APP = ROOT / "mobile_app"
DESKTOP_ONLY = {"drive.py", "audit.py"}  # build.sh leaves these out of the APK
#: Imported module -> the python-for-android recipe that provides it.
RECIPES = {"kivy": "kivy", "plyer": "plyer", "PIL": "pillow", "pyzbar": "pyzbar"}
#: Provided by python-for-android's bootstrap itself on Android.
BOOTSTRAP = {"android", "jnius"}


def spec() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(APP / "android" / "buildozer.spec")
    return parser


def imported_top_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_third_party_import_of_the_packaged_app_has_a_recipe() -> None:
    requirements = {r.strip().split("==")[0] for r in spec()["app"]["requirements"].split(",")}
    packaged = [p for p in APP.glob("*.py") if p.name not in DESKTOP_ONLY]
    third_party = set()
    for path in packaged:
        modules = imported_top_modules(path) - set(sys.stdlib_module_names)
        third_party |= modules - {"mobile_app", "__future__"} - BOOTSTRAP
    assert third_party <= set(RECIPES), f"no recipe known for {third_party - set(RECIPES)}"
    assert {RECIPES[m] for m in third_party} <= requirements, requirements
    assert {"pyzbar", "libzbar", "pillow"} <= requirements  # QR sign-in on Android
    # the test driver's own imports stay out of the packaged modules
    assert "drive" not in {p.stem for p in packaged}


def test_the_spec_pins_the_tested_kivy_and_asks_for_the_camera() -> None:
    app = spec()["app"]
    pinned = next(r for r in app["requirements"].split(",") if r.startswith("kivy"))
    assert pinned == f"kivy=={kivy.__version__}"
    permissions = {p.strip() for p in app["android.permissions"].split(",")}
    assert {"INTERNET", "CAMERA", "ACCESS_FINE_LOCATION"} <= permissions
    build = (APP / "android" / "build.sh").read_text()
    assert all(name in build for name in DESKTOP_ONLY)
