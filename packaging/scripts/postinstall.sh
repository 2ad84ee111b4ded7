#!/bin/sh
# After unpacking (deb: "configure [old-version]"; rpm: 1 = install,
# 2 = upgrade). Creates the user and the directories; enables and starts
# nothing. On an upgrade, a unit that was running is restarted on the new
# binary, as dh_installsystemd does.
set -e

case "$1" in
  configure|1|2) ;;
  *) exit 0 ;;
esac

if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers /usr/lib/sysusers.d/stockade.conf
elif ! getent passwd stockade >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/stockade \
    --shell /usr/sbin/nologin --comment "stockade log-to-ban daemon" stockade
fi

if command -v systemd-tmpfiles >/dev/null 2>&1; then
  systemd-tmpfiles --create /usr/lib/tmpfiles.d/stockade.conf
else
  install -d -m 0700 -o stockade -g stockade /var/lib/stockade /var/lib/stockade-enforce
  install -d -m 0750 -o stockade -g stockade /var/log/stockade
fi

# The daemon reads its configuration as the stockade user; other users
# need not (it may name key files and bus credentials).
if [ -f /etc/stockade/stockade.yaml ]; then
  chgrp stockade /etc/stockade/stockade.yaml
  chmod 0640 /etc/stockade/stockade.yaml
fi

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  upgrade=""
  case "$1" in
    configure) [ -n "$2" ] && upgrade=1 ;;
    2) upgrade=1 ;;
  esac
  if [ -n "$upgrade" ]; then
    systemctl try-restart stockade.service stockade-enforce.service || true
  fi
fi

if [ "$1" = configure ] && [ -z "$2" ] || [ "$1" = 1 ]; then
  cat <<'MSG'
stockade is installed; nothing was enabled or started.
  Review /etc/stockade/stockade.yaml (allow: your admin networks), then
    stockade check --config /etc/stockade/stockade.yaml
    systemctl enable --now stockade
MSG
fi
exit 0
