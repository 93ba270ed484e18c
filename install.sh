#!/usr/bin/env bash
# petspool installer: idempotent; safe to run again (a second run with nothing to do is quick).
#   ./install.sh            system packages (apt, when missing), npm packages, build
#   ./install.sh --system   the same, then the systemd service and nightly cleanup timer
#                           (scripts/install-systemd.sh; a cron entry where systemd is not running)
set -euo pipefail
cd "$(dirname "$0")"

system=0
for arg in "$@"; do
  case "$arg" in
    --system) system=1 ;;
    *) echo "install.sh: unknown option $arg (only --system)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# Node.js >= 20
command -v node >/dev/null || die "Node.js 20 or newer is required (apt-get install nodejs, or see https://nodejs.org)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node -v) is too old: petspool needs Node.js 20 or newer"

# System packages: what runs the appliance (7z) and what its tests and benchmarks use as
# reference peers (DCMTK, dicom3tools, Orthanc, Debian's numpy/scipy, chromium for the dashboard test, openssl for the TLS tests).
need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd 7z         || need+=(p7zip-full)
have_cmd storescu   || need+=(dcmtk)
have_cmd dciodvfy   || need+=(dicom3tools)
have_cmd Orthanc    || [ -x /usr/sbin/Orthanc ] || need+=(orthanc)   # /usr/sbin is not always on PATH
have_cmd unzip      || need+=(unzip)
have_cmd openssl    || need+=(openssl)     # makes the TLS tests' throw-away certificates (test/fixtures/test-pki.ts)
/usr/bin/python3 -c 'import numpy' 2>/dev/null || need+=(python3-numpy)
/usr/bin/python3 -c 'import scipy.ndimage' 2>/dev/null || need+=(python3-scipy)
have_cmd chromium   || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  say "installing system packages: ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm packages: only when package-lock.json changed since the last install.
stamp=node_modules/.petspool-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

# Build only when a source changed since the last build (a second run with nothing to do is quick).
built=dist/.petspool-built
if [ ! -f "$built" ] || [ -n "$(find src test bench wasm tsconfig.json package.json -newer "$built" -print -quit)" ]; then
  say "building"
  npm run --silent build
  touch "$built"
fi

for d in incoming received collecting compiled validated packed processing downloaded unpacked awaiting_qc sending sent failed aborted ignored outbox inbox logs; do
  mkdir -p "spool/$d"
done

if [ "$system" -eq 1 ]; then
  say "installing the service"
  if [ "$(id -u)" -eq 0 ]; then scripts/install-systemd.sh; else sudo scripts/install-systemd.sh --user "$(id -un)"; fi
fi

say "done: try bin/petspool demo"
