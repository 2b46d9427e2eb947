#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs docs/api.md's value-scan example against a fixture target: its arena (64 pages) holds the byte 7
# every 256 bytes, so a u8 scan finds at least 1024 candidates, all unchanged; "300" is out of range.
set -eu
fixture=$1 example=$2
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$fixture" --stay >"$dir/ready" </dev/null &
pid=$!
for _ in $(seq 100); do grep -q '^ready' "$dir/ready" && break; sleep 0.05; done
grep -q '^ready' "$dir/ready" || { echo "fixture did not start"; exit 1; }
"$example" "$pid" u8 7 >"$dir/out"
cat "$dir/out"
n=$(sed -n 's/^\([0-9]*\) candidates$/\1/p' "$dir/out")
[ "${n:-0}" -ge 1024 ]
grep -q '^[0-9]* unchanged$' "$dir/out"
[ "$(grep -c '^0x' "$dir/out")" -eq 3 ]
rc=0
"$example" "$pid" u8 300 2>"$dir/err" || rc=$?
cat "$dir/err"
[ "$rc" -eq 2 ]
