#!/usr/bin/env bash
# Builds dist/stockade_<version>_<arch>.deb and .rpm with nfpm (a Go
# module, run with `go run`: nothing to install but Go and git).
#
#   ./packaging/build.sh                     # this machine's arch
#   GOARCH=arm64 ./packaging/build.sh        # another one
#   VERSION=1.2.3 ./packaging/build.sh       # a release, when HEAD is not tagged v1.2.3
#
# The version is VERSION, else the tag vX.Y.Z on HEAD without its v, else
# 0.0.0~git<commit time>.<revision> (sorts before any release). The binary
# is static (CGO_ENABLED=0), built with -trimpath, and carries the version
# and Go's VCS stamp (revision, commit time, modified), which `stockade
# version` prints. File times in the packages are the commit's, so two
# builds of one commit with one Go give the same packages.
set -euo pipefail
cd "$(dirname "$0")/.."

NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0

arch=${GOARCH:-$(go env GOARCH)}
rev=$(git rev-parse HEAD)
commit_epoch=$(git log -1 --format=%ct HEAD)
if [ -z "${VERSION:-}" ]; then
  if tag=$(git describe --exact-match --tags --match 'v[0-9]*' HEAD 2>/dev/null); then
    VERSION=${tag#v}
  else
    VERSION="0.0.0~git$(TZ=UTC date -d "@$commit_epoch" +%Y%m%d%H%M%S).${rev:0:12}"
  fi
fi
case "$VERSION" in
  *[!A-Za-z0-9.+~-]*|"") echo "build.sh: bad VERSION '$VERSION'" >&2; exit 2 ;;
esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
MTIME=$(TZ=UTC date -d "@$commit_epoch" +%Y-%m-%dT%H:%M:%SZ)

echo "stockade $VERSION ($rev) for linux/$arch"
# -buildvcs=true: a GOFLAGS=-buildvcs=false in the environment would drop
# the stamp. (Go stamps nothing in a git worktree; a clone is stamped.)
CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=true \
  -ldflags "-s -w -X main.version=$VERSION" -o "$stage/stockade" ./cmd/stockade

# Man pages and completions come from the binary itself; when it cannot run
# here (another arch), a build for this machine makes them.
gen=$stage/stockade
if [ "$arch" != "$(go env GOHOSTARCH)" ]; then
  gen=$stage/stockade-host
  CGO_ENABLED=0 go build -trimpath -o "$gen" ./cmd/stockade
fi

mkdir -p "$stage/systemd" "$stage/man" "$stage/completions" "$stage/doc/examples" "$stage/share"
# The units in deploy/ name /usr/local/bin (a hand install); packages put
# the binary in /usr/bin.
for u in stockade.service stockade-enforce.service; do
  sed 's#/usr/local/bin/stockade#/usr/bin/stockade#g' "deploy/systemd/$u" >"$stage/systemd/$u"
done

extra=()
add() { # add SRC DST [MODE]: one more file in the packages
  extra+=("  - src: $1" "    dst: $2" "    file_info: {mode: ${3:-0644}}")
}

if "$gen" man "$stage/man" >/dev/null 2>&1 && ls "$stage/man"/*.[1-8] >/dev/null 2>&1; then
  for m in "$stage/man"/*.[1-8]; do
    gzip -9n "$m"
    add "$m.gz" "/usr/share/man/man${m##*.}/$(basename "$m").gz"
  done
else
  echo "build.sh: skipping man pages: this stockade has no 'man' command yet"
fi
for sh in bash zsh fish; do
  if "$gen" completion "$sh" >"$stage/completions/$sh" 2>/dev/null && [ -s "$stage/completions/$sh" ]; then
    case $sh in
      bash) add "$stage/completions/$sh" /usr/share/bash-completion/completions/stockade ;;
      zsh)  add "$stage/completions/$sh" /usr/share/zsh/vendor-completions/_stockade ;;
      fish) add "$stage/completions/$sh" /usr/share/fish/vendor_completions.d/stockade.fish ;;
    esac
  else
    echo "build.sh: skipping $sh completion: this stockade has no 'completion $sh' command yet"
  fi
done

for f in README.md CHANGELOG.md SECURITY.md; do
  add "$f" "/usr/share/doc/stockade/$f"
done
add LICENSE /usr/share/doc/stockade/copyright
for f in deploy/enforce.yaml deploy/stockade.reference.yaml deploy/examples/*.yaml; do
  [ -f "$f" ] && add "$f" "/usr/share/doc/stockade/examples/$(basename "$f")"
done
for f in deploy/grafana/*.json; do
  add "$f" "/usr/share/stockade/grafana/$(basename "$f")"
done
for f in deploy/prometheus/*.yaml; do
  [ -f "$f" ] && add "$f" "/usr/share/stockade/prometheus/$(basename "$f")"
done

# nfpm expands variables in a few fields only: fill them in everywhere.
{
  sed -e "s#\${STAGE}#$stage#g" -e "s#\${VERSION}#$VERSION#g" -e "s#\${ARCH}#$arch#g" packaging/nfpm.yaml
  printf '%s\n' "${extra[@]}"
  echo "mtime: \"$MTIME\""
} >"$stage/nfpm.yaml"

mkdir -p dist
for p in deb rpm; do
  out="dist/stockade_${VERSION}_${arch}.$p"
  go run "$NFPM" package --config "$stage/nfpm.yaml" --packager "$p" --target "$out"
done
ls -l dist/stockade_"${VERSION}"_"${arch}".*
