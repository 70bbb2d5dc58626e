#!/usr/bin/env bash
# Assemble the Android app folder and build a debug APK (needs buildozer and the
# Android SDK/NDK it downloads; not run by the tests).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf app && mkdir -p app/mobile_app
cp ../*.py app/mobile_app/
# the test driver and the contrast audit stay on the desktop
rm -f app/mobile_app/drive.py app/mobile_app/audit.py
cat > app/main.py <<'PY'
from mobile_app.main import main

main([])
PY
buildozer android debug
