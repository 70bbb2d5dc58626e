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
    # Kivy reads its settings when first imported: only after KIVY_NO_ARGS is set.
    from kivy.config import Config
    from kivy.utils import platform

    Config.set("kivy", "exit_on_escape", "0")  # Android's back key must not quit mid-form
    home = args.home
    if platform != "android":  # a phone or tablet has its own screen and storage
        width, _, height = args.size.partition("x")
        Config.set("graphics", "width", width)
        Config.set("graphics", "height", height)
        home = home or default_home()
    from mobile_app.app import FieldApp  # opens the window: after the Config above

    FieldApp(home=home).run()


if __name__ == "__main__":
    main()
