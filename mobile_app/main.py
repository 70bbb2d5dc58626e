"""Start the field app: ``mrv field`` or ``python -m mobile_app`` on a desktop; the
Android build (buildozer.spec) starts ``main.py`` beside this package."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def default_home() -> Path:
    return Path(os.environ.get("MRV_FIELD_HOME") or Path.home() / ".mrv-field")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mrv field", description="The JCM field app.")
    parser.add_argument("--home", type=Path, default=None, help="where entries are kept")
    parser.add_argument("--size", default="800x1280", help="window size on a desktop (WxH)")
    args = parser.parse_args(argv)
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # the arguments above are ours, not Kivy's
    width, _, height = args.size.partition("x")
    from kivy.config import Config

    Config.set("graphics", "width", width)
    Config.set("graphics", "height", height)
    Config.set("kivy", "exit_on_escape", "0")  # Android's back key must not quit mid-form
    from mobile_app.app import FieldApp

    FieldApp(home=args.home or default_home()).run()


if __name__ == "__main__":
    main()
