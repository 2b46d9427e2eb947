#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs README.md's "Remote" section as written, in its order, on this host: the workstation and the
# target host are one machine, with a scratch HOME, /etc/memscan under a scratch directory, scp as cp,
# the agent on 127.0.0.1 (port chosen by the kernel) and the fixture target as PID 4242.
# usage: check_readme_remote.sh SOURCE_DIR MEMSCAN MEMSCAN_AGENT FIXTURE
set -euo pipefail

src=$1 cli=$2 agent=$3 fixture=$4
S=$(mktemp -d)
fixture_pid= agent_pid=
cleanup() {
	for p in $agent_pid $fixture_pid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	[ -n "${MEMSCAN_TEST_KEEP:-}" ] || rm -rf "$S"
}
trap cleanup EXIT
fail() {
	echo "check_readme_remote: $*" >&2
	[ -f "$S/log" ] && sed 's/^/  | /' "$S/log" >&2
	exit 1
}

mkdir -p "$S/home" "$S/bin" "$S/work"
export HOME=$S/home
unset XDG_CONFIG_HOME
ln -s "$cli" "$S/bin/memscan"
export PATH=$S/bin:$PATH

"$fixture" --stay </dev/null >"$S/fixture.out" 2>&1 &
fixture_pid=$!

# The README's code blocks of the Remote section, in order, with this machine's paths.
awk '/^## Remote$/ { on = 1; next } on && /^## / { exit }
     on && /^```sh$/ { code = 1; next } code && /^```$/ { code = 0; next } on && code' \
	"$src/README.md" |
	sed -e 's|/etc/memscan|$S/etc/memscan|g' \
	    -e 's|root@target-host:||g' -e 's|^scp |cp |' \
	    -e 's|^memscan-agent |start_agent |' \
	    -e 's|target-host:7777:4242|127.0.0.1:$PORT:$TPID|g' \
	    -e 's|target-host:4242|127.0.0.1:$PORT:$TPID|g' \
	    -e 's|target-host:7777|127.0.0.1:$PORT|g' \
	    -e 's#target-host\( \|$\)#127.0.0.1:$PORT\1#g' \
	    -e 's|--watch|--watch --count 2|' >"$S/steps"
grep -q '^memscan keygen *\(#\|$\)' "$S/steps" || fail "README's Remote section has no 'memscan keygen' step"
grep -q '^start_agent ' "$S/steps" || fail "README's Remote section does not start memscan-agent"

# memscan-agent as the README starts it, in the background, on loopback, with the scratch key files
# (its compiled-in defaults are the real /etc/memscan ones).
start_agent() {
	local args=()
	for a in "$@"; do
		args+=("${a/0.0.0.0:7777/127.0.0.1:0}")
	done
	"$agent" --key "$S/etc/memscan/agent.key" --authorized-keys "$S/etc/memscan/authorized_keys" \
		"${args[@]}" >"$S/agent.out" 2>"$S/agent.err" &
	agent_pid=$!
	for _ in $(seq 100); do
		PORT=$(sed -n 's|^listening tcp://127.0.0.1:\([0-9]*\)$|\1|p' "$S/agent.out")
		[ -n "$PORT" ] && return 0
		kill -0 "$agent_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$S/agent.err" >&2
	return 1
}

TPID=$fixture_pid
cd "$S/work"
: >"$S/log"
n=0
while IFS= read -r line; do
	n=$((n + 1))
	echo "\$ $line" >>"$S/log"
	eval "$line" >>"$S/log" 2>&1 || fail "step $n failed: $line"
done <"$S/steps"

grep -q "pinned 127.0.0.1:$PORT SHA256:" "$S/log" || fail "trust did not pin the agent's key"
grep -q "memscan-fixture\|target" "$S/log" || fail "remote ps did not list the fixture"
grep -q "^0x[0-9a-f]*" "$S/log" || fail "remote scan found no match in the fixture"
[ -s remote.snap ] && [ -s heap.snap ] || fail "the remote snapshots were not written"
echo "README's Remote section: $n steps passed"
