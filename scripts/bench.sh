#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs memscan's benchmark suite (docs/benchmarks.md): installs the peers, builds, measures, writes JSON.
set -euo pipefail

usage() {
	echo "usage: scripts/bench.sh [--quick] [--json-out FILE] [memscan-bench options...]"
	echo "  --quick           smaller targets, fewer repetitions (under a minute); what CI runs"
	echo "  --link RATE       only remote downloads (plain and --compress) over a loopback shaped to"
	echo "                    RATE by tc in a network namespace of its own, e.g. 1gbit, 100mbit"
	echo "  --json-out FILE   default bench/results/latest.json (quick: quick.json, --link: link.json)"
	echo "Other options are passed to memscan-bench (see: build/normal/bench/memscan-bench --help)."
}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

quick=0
link=""
json=""
extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	--quick)
		quick=1
		extra+=("$1")
		;;
	--json-out)
		[ $# -ge 2 ] || {
			usage >&2
			exit 2
		}
		json=$2
		shift
		;;
	--json-out=*) json=${1#--json-out=} ;;
	--link)
		[ $# -ge 2 ] || {
			usage >&2
			exit 2
		}
		link=$2
		extra+=("$1" "$2")
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) extra+=("$1") ;;
	esac
	shift
done
if [ -z "$json" ]; then
	if [ -n "$link" ]; then
		json="$root/bench/results/link.json"
	elif [ "$quick" -eq 1 ]; then
		json="$root/bench/results/quick.json"
	else
		json="$root/bench/results/latest.json"
	fi
fi

# 1. What memscan needs to build, then the peers the bench compares against (only if missing).
bash scripts/deps.sh

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}
missing=()
peers=(scanmem gdb gdbserver)
# --link measures only remote downloads: no peers, but ip and tc to shape the loopback
[ -z "$link" ] || peers=(iproute2)
for p in "${peers[@]}"; do
	installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "bench: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	else
		echo "bench: ${missing[*]} missing and not root: those measures will be skipped" >&2
	fi
fi

# 2. Build (the same configuration as scripts/test.sh's normal build).
cmake -S "$root" -B "$root/build/normal" -G "Unix Makefiles" -DMEMSCAN_WERROR=ON >/dev/null
make -C "$root/build/normal" -j2 --no-print-directory memscan-bench memscan-bench-target memscan-agent memscan-cli

# 3. Measure. Reading the targets and the agent's /proc files needs root or CAP_SYS_PTRACE.
mkdir -p "$(dirname "$json")"
"$root/build/normal/bench/memscan-bench" --json-out "$json" "${extra[@]}"
echo "bench: figures and ratios written to $json"
