#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs docs/api.md's client example against a real agent on 127.0.0.1 with throwaway keys and a
# fixture target that bumps a counter; passes if it sees the regions and the counter change.
# Usage: run_client_example.sh FIXTURE EXAMPLE MEMSCAN MEMSCAN_AGENT
set -eu
fixture=$1 example=$2 memscan=$3 agent=$4
dir=$(mktemp -d)
fpid= apid=
trap 'kill $fpid $apid 2>/dev/null || true; rm -rf "$dir"' EXIT
wait_for() { # FILE PATTERN
	for _ in $(seq 100); do grep -q "$2" "$1" && return 0; sleep 0.05; done
	echo "timed out waiting for '$2' in $1"; cat "$1"; return 1
}
"$memscan" keygen -f "$dir/id" -C client >/dev/null
"$memscan" keygen -f "$dir/agent.key" -C agent >/dev/null
echo "perms=list,read,scan $(cat "$dir/id.pub")" >"$dir/authorized_keys"
"$agent" --listen tcp://127.0.0.1:0 --key "$dir/agent.key" --authorized-keys "$dir/authorized_keys" \
	>"$dir/agent.out" 2>"$dir/agent.log" &
apid=$!
wait_for "$dir/agent.out" '^listening tcp://'
url=$(sed -n 's/^listening //p' "$dir/agent.out" | head -n 1)
"$fixture" --tick-ms 50 --stay >"$dir/ready" </dev/null &
fpid=$!
wait_for "$dir/ready" '^ready'
"$example" "$url" "$dir/agent.key.pub" "$dir/id" "$fpid" >"$dir/out"
cat "$dir/out"
grep -q '^[1-9][0-9]* regions$' "$dir/out"
grep -q 'kept on the agent$' "$dir/out"
grep -q '^[1-9][0-9]* runs, [1-9][0-9]* bytes changed$' "$dir/out"
