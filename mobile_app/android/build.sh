#!/usr/bin/env bash
# Assemble the Android app folder and build a debug APK (needs buildozer and the
# Android SDK/NDK it downloads; not run by the tests).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf app && mkdir -p app/mobile_app
cp ../*.py app/mobile_app/
rm -f app/mobile_app/drive.py   # the test driver stays on the desktop
cat > app/main.py <<'PY'
from mobile_app.main import main

main([])
PY
buildozer android debug
