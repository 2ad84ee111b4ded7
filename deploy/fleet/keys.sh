#!/bin/sh
# Makes the sensor's and the correlator's signing keys (private halves in
# keys/, mode 0600) and writes their public halves into the firewalls'
# and the correlator's configurations. Needs a stockade binary on PATH (or STOCKADE=...).
set -eu
cd "$(dirname "$0")"
stockade=${STOCKADE:-stockade}
mkdir -p keys
[ -f keys/sensor.nk ] || "$stockade" keygen --out keys/sensor.nk > keys/sensor.pub
[ -f keys/correlator.nk ] || "$stockade" keygen --out keys/correlator.nk > keys/correlator.pub
for f in enforce-nats.yaml enforce-kafka.yaml correlator.yaml; do
  sed -i -e "s/SENSOR_PUBLIC_KEY/$(cat keys/sensor.pub)/" -e "s/CORRELATOR_PUBLIC_KEY/$(cat keys/correlator.pub)/" "$f"
done
echo "keys in $(pwd)/keys; public keys written into enforce-*.yaml and correlator.yaml"
