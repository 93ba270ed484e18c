#!/usr/bin/env bash
# Installs petspool as a service: a systemd unit for `petspool start` and a nightly cleanup timer,
# or, where systemd is not running (containers), an /etc/cron.d entry for the nightly cleanup.
# Idempotent: files are rewritten only when their content changes.
#
#   scripts/install-systemd.sh [--user USER] [--config FILE] [--cleanup-age 7d]
#
# Environment:
#   DESTDIR        root prefix to install under (tests, packaging); systemctl is not called then.
#   PETSPOOL_INIT  systemd | cron: force one (default: systemd when it is running, cron otherwise).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
install_dir=$(cd "$here/.." && pwd)
user=$(stat -c %U "$install_dir")
config="$install_dir/config.yaml"
cleanup_age=7d

while [ $# -gt 0 ]; do
  case "$1" in
    --user) user=$2; shift 2 ;;
    --config) config=$(realpath -m "$2"); shift 2 ;;
    --cleanup-age) cleanup_age=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install-systemd.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ "$cleanup_age" =~ ^[0-9]+[smhd]$ ]] || { echo "install-systemd.sh: --cleanup-age must look like 7d or 12h" >&2; exit 2; }
group=$(id -gn "$user" 2>/dev/null || echo "$user")

destdir=${DESTDIR:-}
init=${PETSPOOL_INIT:-}
if [ -z "$init" ]; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then init=systemd; else init=cron; fi
fi

changed=0
# Write $2 (content on stdin) to $1 unless it already has exactly that content.
put() {
  local target="$destdir$1" mode=$2 content
  content=$(cat)
  mkdir -p "$(dirname "$target")"
  if [ -f "$target" ] && [ "$(cat "$target")" = "$content" ]; then
    echo "unchanged: $1"
    return
  fi
  printf '%s\n' "$content" > "$target.tmp"
  chmod "$mode" "$target.tmp"
  mv "$target.tmp" "$target"
  changed=1
  echo "wrote:     $1"
}

fill() {
  sed -e "s|@INSTALL_DIR@|$install_dir|g" -e "s|@USER@|$user|g" -e "s|@GROUP@|$group|g" \
      -e "s|@CONFIG@|$config|g" -e "s|@CLEANUP_AGE@|$cleanup_age|g" "$1"
}

case "$init" in
  systemd)
    fill "$here/petspool.service" | put /etc/systemd/system/petspool.service 644
    fill "$here/petspool-cleanup.service" | put /etc/systemd/system/petspool-cleanup.service 644
    fill "$here/petspool-cleanup.timer" | put /etc/systemd/system/petspool-cleanup.timer 644
    if [ -n "$destdir" ]; then
      echo "installed under $destdir; on the target run: systemctl daemon-reload && systemctl enable --now petspool petspool-cleanup.timer"
    else
      [ "$changed" -eq 0 ] || systemctl daemon-reload
      systemctl enable --now petspool.service petspool-cleanup.timer
      echo "petspool runs as a systemd service: systemctl status petspool; logs: journalctl -u petspool and $install_dir/spool/logs"
    fi
    ;;
  cron)
    put /etc/cron.d/petspool 644 <<CRON
# petspool nightly cleanup (installed by scripts/install-systemd.sh; systemd is not running here)
SHELL=/bin/sh
PETSPOOL_CONFIG=$config
15 3 * * * $user $install_dir/bin/petspool cleanup --older-than $cleanup_age >> $install_dir/spool/logs/cleanup.log 2>&1
CRON
    echo "systemd is not running here (a container?): wrote a cron entry for the nightly cleanup only."
    echo "Start the appliance with your container's process manager: $install_dir/bin/petspool start"
    ;;
  *) echo "install-systemd.sh: PETSPOOL_INIT must be systemd or cron, not $init" >&2; exit 2 ;;
esac
