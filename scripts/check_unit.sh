#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks what deploy/ ships for systemd, as shipped: the unit passes `systemd-analyze verify` without a
# word (its man pages found), scores at most 2.0 in `systemd-analyze security --offline=yes`, the
# sysusers.d and tmpfiles.d entries are accepted by systemd's own tools, and the default agent.conf
# listens on no public address and starts an agent (with a throwaway key).
# Usage: check_unit.sh SOURCE_DIR MEMSCAN MEMSCAN_AGENT MAN_BUILD_DIR
set -euo pipefail
src=$1 cli=$2 agent=$3 man=$4
work=$(mktemp -d)
agent_pid=
cleanup() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
die() { echo "check_unit: $*" >&2; exit 1; }

# The unit, naming the agent under test instead of /usr/bin/memscan-agent.
unit=$work/memscan-agent.service
grep -q '^ExecStart=/usr/bin/memscan-agent ' "$src/deploy/memscan-agent.service" || die "ExecStart is not /usr/bin/memscan-agent"
sed "s|/usr/bin/memscan-agent|$agent|" "$src/deploy/memscan-agent.service" >"$unit"
# Documentation=man:... must resolve: the pages as they will be installed.
for page in "$man"/*.[0-9]; do
	section=${page##*.}
	mkdir -p "$work/man/man$section"
	cp "$page" "$work/man/man$section/"
done
out=$(MANPATH=$work/man systemd-analyze verify "$unit" 2>&1) || die "systemd-analyze verify failed: $out"
[ -z "$out" ] || die "systemd-analyze verify: $out"
echo "unit: systemd-analyze verify clean"

score=$(systemd-analyze security --offline=yes "$unit" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || die "systemd-analyze security printed no exposure level"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || die "exposure level $score is over 2.0"
echo "unit: exposure level $score (at most 2.0)"

grep -q '^Type=notify$' "$unit" || die "the unit is not Type=notify"
for d in RuntimeDirectory=memscan StateDirectory=memscan LimitNOFILE= AmbientCapabilities=CAP_SYS_PTRACE; do
	grep -q "^$d" "$unit" || die "the unit lacks $d"
done

out=$(systemd-sysusers --dry-run "$src/deploy/memscan-agent.sysusers" 2>&1) || die "sysusers: $out"
grep -q "memscan" <<<"$out" || getent passwd memscan >/dev/null || die "sysusers would create no memscan user: $out"
mkdir "$work/root"
systemd-tmpfiles --root="$work/root" --create "$src/deploy/memscan-agent.tmpfiles"
[ "$(stat -c %a "$work/root/etc/memscan")" = 755 ] || die "tmpfiles: /etc/memscan is not 0755"
echo "sysusers.d, tmpfiles.d: accepted"

# agent.conf: only loopback or ipc listeners, and an agent starts with it as it is.
if grep -E '^[[:space:]]*listen[[:space:]]*=' "$src/deploy/agent.conf" | grep -vqE '=[[:space:]]*(tcp://127\.|tcp://\[::1\]|ipc://)'; then
	die "deploy/agent.conf listens on a public address"
fi
"$cli" keygen -f "$work/agent.key" >/dev/null
: >"$work/authorized_keys"
chmod 700 "$work"
"$agent" --config "$src/deploy/agent.conf" --key "$work/agent.key" --authorized-keys "$work/authorized_keys" \
	--listen tcp://127.0.0.1:0 >"$work/out" 2>"$work/err" &
agent_pid=$!
for _ in $(seq 100); do
	grep -q '^listening ' "$work/out" && break
	kill -0 "$agent_pid" 2>/dev/null || die "the agent did not start with deploy/agent.conf: $(cat "$work/err")"
	sleep 0.1
done
grep -q '^listening ' "$work/out" || die "the agent did not start with deploy/agent.conf"
echo "agent.conf: loopback only; the agent starts with it"
