#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job, end to end on this machine: throwaway keys, a real memscan-agent on 127.0.0.1 run as
# deployed (an unprivileged uid holding only CAP_SYS_PTRACE, when run as root), a demo target process
# of another uid, and memscan driving it remotely (scan, diff, watch), then the same scan locally.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=build/normal
memscan=$build/cli/memscan
fixture=$build/tests/memscan-fixture
agent=$build/agent/memscan-agent

bash scripts/deps.sh >/dev/null

# Build the CLI and the fixture quietly; show the log only if it fails.
log=$(mktemp)
if ! { cmake -S . -B "$build" -G "Unix Makefiles" -DMEMSCAN_WERROR=ON &&
	make -C "$build" -j2 --no-print-directory memscan-cli memscan-agent memscan-fixture; } >"$log" 2>&1; then
	cat "$log" >&2
	rm -f "$log"
	echo "demo: build failed" >&2
	exit 1
fi
rm -f "$log"

work=$(mktemp -d)
fixture_pid=
agent_pid=
cleanup() {
	for p in $fixture_pid $agent_pid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

# wait_line FILE REGEX PID: the first line of FILE matching REGEX, waiting up to 10 s while PID lives.
wait_line() {
	local line=
	for _ in $(seq 100); do
		line=$(grep -m1 -E "$2" "$1" || true)
		[ -n "$line" ] && break
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	printf '%s' "$line"
}

# Keys: this client's identity (in a throwaway config dir) and the agent's own key.
export XDG_CONFIG_HOME=$work/config
echo "== memscan keygen (client identity) and the agent's key =="
"$memscan" keygen
"$memscan" keygen -f "$work/agent.key" -C demo-agent >/dev/null
echo "perms=list,read,scan $(cat "$XDG_CONFIG_HOME/memscan/id_x25519.pub")" >"$work/authorized_keys"

# As deployed (deploy/memscan-agent.service): as root, the agent runs as uid 65534 with CAP_SYS_PTRACE
# alone and the target as uid 1000. Both run from copies in the work directory (the checkout may sit
# where only root can enter), their library found through LD_LIBRARY_PATH; the agent's key files
# belong to its uid, as memscan-agent requires.
as_agent=()
as_target=()
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	mkdir -m 0755 "$work/bin"
	cp "$agent" "$fixture" "$build/libmemscan/libmemscan.so.0" "$work/bin/"
	chmod 0755 "$work/bin"/*
	chmod 0711 "$work"
	chown 65534:65534 "$work/agent.key" "$work/agent.key.pub" "$work/authorized_keys"
	agent=$work/bin/memscan-agent
	fixture=$work/bin/memscan-fixture
	as_agent=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+sys_ptrace
		--ambient-caps=+sys_ptrace --bounding-set=-all,+sys_ptrace env "LD_LIBRARY_PATH=$work/bin")
	as_target=(setpriv --reuid=1000 --regid=1000 --clear-groups env "LD_LIBRARY_PATH=$work/bin")
fi

# The agent, on a free loopback port; it prints its key fingerprint and the address it listens on.
"${as_agent[@]}" "$agent" --listen tcp://127.0.0.1:0 --key "$work/agent.key" \
	--authorized-keys "$work/authorized_keys" >"$work/agent.out" 2>"$work/agent.log" &
agent_pid=$!
listening=$(wait_line "$work/agent.out" '^listening tcp://' "$agent_pid")
if [ -z "$listening" ]; then
	echo "demo: the agent did not start" >&2
	cat "$work/agent.log" >&2
	exit 1
fi
hostport=${listening#listening tcp://}
echo
echo "== memscan-agent =="
cat "$work/agent.out"
printf 'runs as uid %s, capabilities %s\n' "$(awk '/^Uid:/ {print $2}' "/proc/$agent_pid/status")" \
	"$(awk '/^CapEff:/ {print $2}' "/proc/$agent_pid/status")"
echo
echo "== memscan trust $hostport (pin the agent's key) =="
"$memscan" trust "$hostport" "$work/agent.key.pub"

# The demo target: it stays alive with stdin at EOF and bumps a counter every 100 ms.
"${as_target[@]}" "$fixture" --tick-ms 100 --stay </dev/null >"$work/out" 2>"$work/err" &
fixture_pid=$!

# Its line "ready pid=P arena=0x... arena_len=N ... counter=0x...".
ready=$(wait_line "$work/out" '^ready ' "$fixture_pid")
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
echo "fixture: pid $pid (uid $(awk '/^Uid:/ {print $2}' "/proc/$pid/status")), arena $arena ($arena_len bytes), counter at $counter"

target=$hostport:$pid

echo
echo "== memscan remote regions $target --range $range (the arena) =="
"$memscan" remote regions "$target" --range "$range"

echo
echo "== memscan remote scan $target --pattern \"4D 5A 90 00\" =="
"$memscan" remote scan "$target" --pattern "4D 5A 90 00"

echo
echo "== memscan remote diff $target --interval 1s (the baseline stays on the agent) =="
"$memscan" remote diff "$target" --interval 1s --range "$range"

echo
echo "== memscan remote diff $target --watch --interval 300ms --count 3 =="
"$memscan" remote diff "$target" --watch --interval 300ms --count 3 --range "$range"

echo
echo "== a value hunt through the agent: which byte of the arena counts up? =="
set_file=$work/counter.set
echo "\$ memscan remote scan $target --type u8 --unknown --range $range -o counter.set"
"$memscan" remote scan "$target" --type u8 --unknown --range "$range" -o "$set_file"
sleep 0.3
echo "\$ memscan narrow counter.set --increased     # the set stays on the agent; only counts travel"
"$memscan" narrow "$set_file" --increased
sleep 0.3
echo "\$ memscan narrow counter.set --increased"
"$memscan" narrow "$set_file" --increased
echo "\$ memscan release counter.set"
"$memscan" release "$set_file"

echo
echo "== memscan remote heatmap $target --duration 1s --interval 100ms (counted on the agent) =="
"$memscan" remote heatmap "$target" --duration 1s --interval 100ms --range "$range" -o "$work/heat.svg"

echo
echo "== memscan remote snapshot $target -o arena.snap (read live into the file), then read it here =="
"$memscan" remote snapshot "$target" --range "$range" -o "$work/arena.snap"
"$memscan" regions "$work/arena.snap"

echo
echo "== the same scan locally: memscan scan $pid --pattern \"4D 5A 90 00\" =="
"$memscan" scan "$pid" --pattern "4D 5A 90 00"

echo
echo "== the agent's audit log (one line per request, never memory contents) =="
tail -n 6 "$work/agent.log"
