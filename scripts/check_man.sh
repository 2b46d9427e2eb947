#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks the man pages: each docs/man/*.scd renders with scdoc and then groff without a single
# warning, memscan(1) describes every command `memscan help` lists, and memscan-agent(8) every option
# `memscan-agent --help` lists, so the pages cannot drift from the programs.
# Usage: check_man.sh MAN_SOURCE_DIR MEMSCAN MEMSCAN_AGENT
set -euo pipefail
src=$1 cli=$2 agent=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

for scd in "$src"/*.scd; do
	page=$(basename "$scd" .scd)
	if ! scdoc <"$scd" >"$work/$page" 2>"$work/err"; then
		echo "$page: scdoc failed: $(cat "$work/err")" >&2
		fail=1
		continue
	fi
	[ -s "$work/err" ] && { echo "$page: scdoc: $(cat "$work/err")" >&2; fail=1; }
	# -ww: every warning; -z: format but print nothing. Anything on stderr is a warning.
	groff -man -Tutf8 -ww -z "$work/$page" 2>"$work/err" || fail=1
	[ -s "$work/err" ] && { echo "$page: groff: $(cat "$work/err")" >&2; fail=1; }
	echo "$page: rendered"
done

# Commands: the lines "  NAME  summary" of the overview.
for cmd in $("$cli" help | sed -n 's/^  \([a-z-]*\) .*/\1/p'); do
	grep -q "^\*$cmd\*" "$src/memscan.1.scd" || { echo "memscan.1: command '$cmd' is not described" >&2; fail=1; }
done
# Agent options: every --option of its usage.
for opt in $("$agent" --help | grep -o -- '--[a-z-]*' | sort -u); do
	grep -q -- "\*$opt\*" "$src/memscan-agent.8.scd" || { echo "memscan-agent.8: option '$opt' is not described" >&2; fail=1; }
done
exit $fail
