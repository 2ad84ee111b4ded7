#!/bin/sh
# Makes the keys of compose.yaml (private halves in keys/, mode 0600) and
# writes their public halves into the firewalls' and the correlator's
# policies and the NATS cluster's roles (nats-server.conf): the sensor's and the correlator's
# keys both sign their decisions and identify them on NATS; the NATS
# firewall and the administrator have a key each. Needs a stockade binary
# on PATH (or STOCKADE=...).
set -eu
cd "$(dirname "$0")"
stockade=${STOCKADE:-stockade}
mkdir -p keys
for k in sensor correlator fw-nats admin; do
  [ -f keys/$k.nk ] || "$stockade" keygen --out keys/$k.nk > keys/$k.pub
done
for f in enforce-nats.yaml enforce-kafka.yaml correlator.yaml nats-server.conf; do
  sed -i -e "s/SENSOR_PUBLIC_KEY/$(cat keys/sensor.pub)/g" -e "s/CORRELATOR_PUBLIC_KEY/$(cat keys/correlator.pub)/g" \
    -e "s/FIREWALL_PUBLIC_KEY/$(cat keys/fw-nats.pub)/g" -e "s/ADMIN_PUBLIC_KEY/$(cat keys/admin.pub)/g" "$f"
done
echo "keys in $(pwd)/keys; public keys written into enforce-*.yaml, correlator.yaml and nats-server.conf"
