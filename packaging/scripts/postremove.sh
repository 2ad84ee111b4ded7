#!/bin/sh
# After removal (deb: "remove", "purge", "upgrade", ...; rpm: 0 = erase,
# 1 = upgrade). Purging deletes the state (bans, windows, offsets) and the
# decisions log; the stockade user stays, as Debian keeps system users (its
# files could otherwise be inherited by a later user of the same id).
set -e

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi

case "$1" in
  purge)
    rm -rf /var/lib/stockade /var/lib/stockade-enforce /var/log/stockade
    rmdir /etc/stockade/packs /etc/stockade 2>/dev/null || true
    ;;
esac
exit 0
