#!/bin/sh
# Before removal (deb: "remove" or "upgrade NEW"; rpm: 0 = erase,
# 1 = upgrade). An erase stops and disables the units; an upgrade leaves
# them running for postinstall's try-restart. The bans already in
# nftables run out by their own timeouts
# (`nft delete table inet stockade` lifts them at once).
set -e

case "$1" in
  remove|0) ;;
  *) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
  systemctl stop stockade.service stockade-enforce.service || true
fi
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable stockade.service stockade-enforce.service >/dev/null 2>&1 || true
fi
exit 0
