#!/bin/bash
# pgo.sh BIN DATA: writes cmd/stockade/default.pgo, the CPU profile that
# `go build` optimises stockade with (profile-guided optimisation), from
# the harness's rows replayed by BIN: DATA holds the harness's logs
# (`go run ./bench -lines 1000000 -data DATA` writes them), the dialect
# reads /etc/fail2ban's sshd jail when there is one. Each row is profiled
# six times on one core, the four logs twice more on two workers, and
# the profiles merged. Run it from the repository's root, then rebuild.
set -euo pipefail
bin=${1:?usage: bench/pgo.sh BIN DATA} data=${2:?usage: bench/pgo.sh BIN DATA}
[ -f cmd/stockade/main.go ] || {
	echo "pgo.sh: run it from the repository's root" >&2
	exit 2
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
f2b=""
if [ -f /etc/fail2ban/jail.conf ]; then
	# The copy the harness's dialect row reads (bench/measure.go,
	# jailConfig): every file linked, jail.d's one by one, and the sshd
	# jail enabled on files last.
	f2b=$tmp/fail2ban
	mkdir -p "$f2b/jail.d"
	for p in /etc/fail2ban/*; do
		[ "$(basename "$p")" = jail.d ] || ln -s "$p" "$f2b/"
	done
	for p in /etc/fail2ban/jail.d/*; do
		if [ -e "$p" ]; then ln -s "$p" "$f2b/jail.d/"; fi
	done
	printf '[sshd]\nenabled = true\nbackend = auto\n' >"$f2b/jail.d/zz-stockade-bench.local"
fi
prof() { # name, args...
	local name=$1
	shift
	STOCKADE_CPUPROFILE=$tmp/$name.prof "$bin" replay --quiet "$@" >/dev/null
}
for i in 1 2 3 4 5 6; do
	for log in auth.log access.log eve.json fast.log; do
		GOMAXPROCS=1 prof "$log.$i" --workers 1 "$data/$log"
	done
	if [ -n "$f2b" ]; then
		GOMAXPROCS=1 prof "dialect.$i" --workers 1 --rules "fail2ban:$f2b" "$data/auth.log"
	fi
done
for i in 1 2; do
	for log in auth.log access.log eve.json fast.log; do
		prof "w2-$log.$i" --workers 2 "$data/$log"
	done
done
# Written aside and moved in: a failed merge leaves the profile as it was
# (go build takes an empty one without a word).
go tool pprof -proto "$tmp"/*.prof >"$tmp/default.pgo"
mv "$tmp/default.pgo" cmd/stockade/default.pgo
