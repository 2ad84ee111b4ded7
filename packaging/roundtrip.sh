#!/usr/bin/env bash
# The package round trip CI runs: install the .deb build.sh wrote on this
# machine, check what landed and that the binary works, upgrade over a
# changed configuration, remove, purge. It changes the machine (a package,
# a system user), so it runs only as root with dpkg, and says why it skips
# otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null; then
  echo "roundtrip.sh: skipping: needs root and dpkg (it installs the package on this machine)"
  exit 0
fi
if dpkg -s stockade >/dev/null 2>&1; then
  echo "roundtrip.sh: a stockade package is installed already; not touching it" >&2
  exit 1
fi

arch=$(go env GOARCH)
deb=$(ls -t dist/stockade_*_"$arch".deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "roundtrip.sh: no dist/stockade_*_$arch.deb: run ./packaging/build.sh" >&2; exit 1; }
echo "== install $deb"

fail() { echo "roundtrip.sh: FAIL: $*" >&2; exit 1; }
trap 'dpkg -P stockade >/dev/null 2>&1 || true' EXIT

dpkg -i "$deb"

for f in /usr/bin/stockade \
         /usr/lib/systemd/system/stockade.service /usr/lib/systemd/system/stockade-enforce.service \
         /usr/lib/sysusers.d/stockade.conf /usr/lib/tmpfiles.d/stockade.conf \
         /etc/logrotate.d/stockade /etc/stockade/stockade.yaml \
         /usr/share/doc/stockade/copyright /usr/share/stockade/grafana/stockade-dashboard.json; do
  [ -f "$f" ] || fail "$f was not installed"
done
[ -d /etc/stockade/packs ] || fail "/etc/stockade/packs was not installed"
getent passwd stockade >/dev/null || fail "no stockade user"
[ "$(stat -c '%U %a' /var/lib/stockade)" = "stockade 700" ] || fail "/var/lib/stockade: $(stat -c '%U %a' /var/lib/stockade)"
[ "$(stat -c '%U %a' /var/log/stockade)" = "stockade 750" ] || fail "/var/log/stockade: $(stat -c '%U %a' /var/log/stockade)"
[ "$(stat -c '%U:%G %a' /etc/stockade/stockade.yaml)" = "root:stockade 640" ] ||
  fail "/etc/stockade/stockade.yaml: $(stat -c '%U:%G %a' /etc/stockade/stockade.yaml)"
grep -q '^ExecStart=/usr/bin/stockade ' /usr/lib/systemd/system/stockade.service || fail "the unit does not run /usr/bin/stockade"
for u in stockade stockade-enforce; do
  ls /etc/systemd/system/*.wants/"$u".service >/dev/null 2>&1 && fail "$u.service was enabled without being asked"
done

echo "== stockade version"
v=$(/usr/bin/stockade version)
echo "$v"
case "$v" in *dev*|"") fail "stockade version says '$v'" ;; esac
# Static, reproducible, stamped: Go's build information in the binary.
info=$(go version -m /usr/bin/stockade)
wants=('build	CGO_ENABLED=0' 'build	-trimpath=true')
if [ "$(git rev-parse --git-dir)" = "$(git rev-parse --git-common-dir)" ]; then
  wants+=("build	vcs.revision=$(git rev-parse HEAD)")
else
  echo "(a git worktree, which Go does not stamp: not checking vcs.revision)"
fi
for want in "${wants[@]}"; do
  grep -qF "$want" <<<"$info" || fail "the binary's build info lacks '$want'"
done

# Man pages and completions are in the package when the binary makes them.
if /usr/bin/stockade completion bash >/dev/null 2>&1; then
  [ -s /usr/share/bash-completion/completions/stockade ] || fail "no bash completion installed"
  [ -s /usr/share/zsh/vendor-completions/_stockade ] || fail "no zsh completion installed"
  [ -s /usr/share/fish/vendor_completions.d/stockade.fish ] || fail "no fish completion installed"
fi
if /usr/bin/stockade man "$(mktemp -d)" >/dev/null 2>&1; then
  # Section 8: stockade is a system administrator's command, as nft(8).
  ls /usr/share/man/man[18]/stockade.[18].gz >/dev/null 2>&1 || fail "no man page installed"
  man -w stockade >/dev/null 2>&1 || ! command -v man >/dev/null || fail "man does not find stockade's page"
fi

echo "== stockade check"
# The shipped configuration must pass the check the unit's ExecStartPre
# runs.
if out=$(/usr/bin/stockade check --config /etc/stockade/stockade.yaml 2>&1); then
  echo "$out"
else
  echo "$out"; fail "the shipped configuration does not pass stockade check"
fi

if command -v systemd-analyze >/dev/null; then
  echo "== systemd-analyze verify"
  # Only the units' own errors fail: dependencies this machine lacks
  # (nftables.service) are reported, not fatal.
  out=$(systemd-analyze verify /usr/lib/systemd/system/stockade.service /usr/lib/systemd/system/stockade-enforce.service 2>&1 || true)
  echo "$out"
  if grep -E 'stockade(-enforce)?\.service:[0-9]+:' <<<"$out"; then fail "systemd-analyze verify"; fi
fi

echo "== upgrade keeps a changed configuration"
echo "# changed by the admin" >>/etc/stockade/stockade.yaml
dpkg -i "$deb"
tail -1 /etc/stockade/stockade.yaml | grep -q '^# changed by the admin$' || fail "the upgrade replaced a changed configuration"

echo "== remove"
dpkg -r stockade
[ ! -e /usr/bin/stockade ] || fail "/usr/bin/stockade is still there after remove"
[ -f /etc/stockade/stockade.yaml ] || fail "remove deleted the configuration (only purge may)"
[ -d /var/lib/stockade ] || fail "remove deleted the state (only purge may)"

echo "== purge"
dpkg -P stockade
for f in /etc/stockade/stockade.yaml /var/lib/stockade /var/log/stockade; do
  [ ! -e "$f" ] || fail "$f is still there after purge"
done
trap - EXIT

rpmfile=${deb%.deb}.rpm
if command -v rpm >/dev/null && [ -f "$rpmfile" ]; then
  echo "== $rpmfile (queried, not installed)"
  flags=$(rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$rpmfile" 2>/dev/null)
  for f in /etc/stockade/stockade.yaml /etc/logrotate.d/stockade; do
    grep -qx "$f cn" <<<"$flags" || fail "the rpm's $f is not %config(noreplace)"
  done
  for f in /usr/bin/stockade /usr/lib/systemd/system/stockade.service /usr/lib/sysusers.d/stockade.conf; do
    grep -q "^$f " <<<"$flags" || fail "the rpm lacks $f"
  done
  rpm -qp --scripts "$rpmfile" 2>/dev/null | grep -q 'systemd-sysusers' || fail "the rpm's scripts do not create the user"
fi
echo "roundtrip.sh: ok"
