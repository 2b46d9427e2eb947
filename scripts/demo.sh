#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A short tour of the memscan CLI against the test fixture: regions, a pattern scan, a live diff.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=build/normal
memscan=$build/cli/memscan
fixture=$build/tests/memscan-fixture

bash scripts/deps.sh >/dev/null

# Build the CLI and the fixture quietly; show the log only if it fails.
log=$(mktemp)
if ! { cmake -S . -B "$build" -G "Unix Makefiles" -DMEMSCAN_WERROR=ON &&
	make -C "$build" -j2 --no-print-directory memscan-cli memscan-fixture; } >"$log" 2>&1; then
	cat "$log" >&2
	rm -f "$log"
	echo "demo: build failed" >&2
	exit 1
fi
rm -f "$log"

# Start the fixture: it stays alive with stdin at EOF and bumps a counter every 100 ms.
work=$(mktemp -d)
fixture_pid=
cleanup() {
	if [ -n "$fixture_pid" ]; then
		kill "$fixture_pid" 2>/dev/null || true
		wait "$fixture_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
"$fixture" --tick-ms 100 --stay </dev/null >"$work/out" 2>"$work/err" &
fixture_pid=$!

# Wait (up to 10 s) for its line "ready pid=P arena=0x... arena_len=N ... counter=0x...".
ready=
for _ in $(seq 100); do
	ready=$(grep -m1 '^ready ' "$work/out" || true)
	[ -n "$ready" ] && break
	kill -0 "$fixture_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$ready" ]; then
	echo "demo: the fixture did not start" >&2
	cat "$work/err" >&2
	exit 1
fi

# field NAME: the value of NAME=VALUE on the ready line.
field() {
	sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$ready"
}
pid=$(field pid)
arena=$(field arena)
arena_len=$(field arena_len)
counter=$(field counter)
range=$(printf '%x-%x' "$arena" "$((arena + arena_len))")
echo "fixture: pid $pid, arena $arena ($arena_len bytes), counter at $counter"

echo
echo "== memscan regions $pid --kind anon =="
"$memscan" regions "$pid" --kind anon

echo
echo "== memscan regions $pid --range $range (the arena) =="
"$memscan" regions "$pid" --range "$range"

echo
echo "== memscan scan $pid --pattern \"4D 5A 90 00\" =="
"$memscan" scan "$pid" --pattern "4D 5A 90 00"

echo
echo "== memscan diff $pid --interval 1s --range $range (the counter changes) =="
"$memscan" diff "$pid" --interval 1s --range "$range"
