#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for jcm-mrv: system packages, then a virtualenv.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(mosquitto mosquitto-clients victoria-metrics postgresql)
# The field app (Kivy, headless through SDL_VIDEODRIVER=offscreen) needs Mesa's GL.
PACKAGES+=(libgl1 libegl1 libgles2 libgl1-mesa-dri libegl-mesa0 libmtdev1)
# The field app reads QR sign-in codes with ZBar (pyzbar loads libzbar at run time).
PACKAGES+=(libzbar0)
# The XLSX report's tests recalculate the workbook with LibreOffice headless.
PACKAGES+=(libreoffice-calc-nogui)
# Browser tests (the verifier portal, /docs) drive Debian's chromium through Playwright: no
# browser is downloaded.
PACKAGES+=(chromium)
# A font for the pages chromium renders (screenshots) and the charts; not pulled in by
# the packages above when recommends are off.
PACKAGES+=(fonts-dejavu-core)
# systemd-analyze checks the unit files (deploy/systemd); slim Debian images lack systemd.
PACKAGES+=(systemd)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Debian packages start system services; the project starts its own instances on
# free ports and never relies on those.

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev,field]'
