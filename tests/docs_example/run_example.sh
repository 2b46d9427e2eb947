#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs docs/api.md's example against a fixture target; passes if it finds the fixture's 3 markers.
set -eu
fixture=$1 example=$2
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$fixture" --stay >"$dir/ready" </dev/null &
pid=$!
for _ in $(seq 100); do grep -q '^ready' "$dir/ready" && break; sleep 0.05; done
grep -q '^ready' "$dir/ready" || { echo "fixture did not start"; exit 1; }
"$example" "$pid" "4D 5A 90 00 4D 53 43 41 4E 2D 46 49 58" >"$dir/out"
cat "$dir/out"
grep -q '^3 matches$' "$dir/out"
grep -q 'runs, .* bytes changed$' "$dir/out"
