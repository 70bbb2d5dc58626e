#!/usr/bin/env bash
# Render jcm-mrv's systemd units (deploy/systemd/*.in) with this installation's absolute
# paths, and optionally install them. README, "Deploying".
#
#   scripts/install-units.sh --prefix /opt/jcm-mrv [--venv DIR] [--home /var/lib/mrv]
#                            [--user mrv] [--out DIR] [--install]
#
# --prefix   where jcm-mrv is checked out (its README is the units' documentation)
# --venv     its virtualenv (default PREFIX/.venv); VENV/bin/mrv must exist
# --home     MRV_HOME of the services, the one folder they may write (default /var/lib/mrv)
# --user     the account they run as (default mrv)
# --out      where the rendered units go (default PREFIX/build/systemd)
# --install  also (as root) create the user and MRV_HOME, copy the units to
#            /etc/systemd/system, put /etc/mrv/mrv.env in place if missing, reload systemd
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
prefix="" venv="" home=/var/lib/mrv user=mrv out="" install=no

die() { echo "install-units: $*" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
    --venv) venv="${2:?--venv needs a folder}"; shift 2 ;;
    --home) home="${2:?--home needs a folder}"; shift 2 ;;
    --user) user="${2:?--user needs a name}"; shift 2 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --install) install=yes; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ -n "$prefix" ] || die "--prefix is required (where jcm-mrv is installed)"
venv="${venv:-$prefix/.venv}"
out="${out:-$prefix/build/systemd}"
for path in "$prefix" "$venv" "$home"; do
  case "$path" in /*) ;; *) die "$path: give an absolute path" ;; esac
  case "$path" in *[[:space:]@\|\&\\]*) die "$path: no spaces, @, |, & or \\ please" ;; esac
done
[[ "$user" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "--user $user: not a valid account name"
[ -x "$venv/bin/mrv" ] || die "$venv/bin/mrv not found: install jcm-mrv there first (scripts/setup.sh)"

mkdir -p "$out"
for template in "$here"/deploy/systemd/*.service.in; do
  unit="$out/$(basename "${template%.in}")"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@VENV@|$venv|g" -e "s|@MRV_HOME@|$home|g" \
      -e "s|@USER@|$user|g" "$template" > "$unit"
  if grep -q '@[A-Z_]*@' "$unit"; then die "$unit: a placeholder was left unfilled"; fi
  echo "rendered $unit"
done
cp "$here/deploy/systemd/mrv.env.example" "$out/mrv.env.example"

if [ "$install" = yes ]; then
  [ "$(id -u)" -eq 0 ] || die "--install needs root"
  id "$user" >/dev/null 2>&1 || useradd --system --home-dir "$home" --shell /usr/sbin/nologin "$user"
  install -d -o "$user" -g "$user" -m 0750 "$home"
  install -d -m 0755 /etc/mrv
  [ -e /etc/mrv/mrv.env ] || install -m 0640 -g "$user" "$out/mrv.env.example" /etc/mrv/mrv.env
  install -m 0644 "$out"/*.service /etc/systemd/system/
  systemctl daemon-reload
  echo "installed; now: systemctl enable --now mrv-api.service mrv-gateway@\$(hostname).service"
else
  echo "to install: copy $out/*.service to /etc/systemd/system/ and $out/mrv.env.example"
  echo "to /etc/mrv/mrv.env, then systemctl daemon-reload (or run again with --install)"
fi
