#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fuzzing: builds the libFuzzer targets (build/fuzz, clang) and runs each for SECONDS_EACH, as many at once as
# there are jobs (one per core), on corpora kept outside the repo so that every run builds on the ones before.
# Usage: scripts/fuzz.sh [SECONDS_EACH] [TARGET...]   (default 10 s; all targets, or those named, e.g. frames)
# Environment: MEMSCAN_FUZZ_JOBS (default: the cores, at most 2 unless set), MEMSCAN_FUZZ_CORPUS (default
# ${XDG_CACHE_HOME:-~/.cache}/memscan/fuzz; "scratch" for a throwaway one).
# Fails if a target crashes, leaks, hangs, or no longer reaches the code its harness is there for; the crashing
# inputs are kept in build/fuzz/crashes/ and printed in hex. tests/fuzz/README.md: running for hours.
set -euo pipefail

secs=${1:-10}
case "$secs" in
'' | *[!0-9]* | 0)
	echo "usage: $0 [SECONDS_EACH] [TARGET...]  (a positive whole number of seconds)" >&2
	exit 2
	;;
esac
shift || true

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build/fuzz"
all_targets=(maps pattern pscan snapshot keyfile frames zpage hs2 response known privkey pointers vref)
# targets whose seeds are binary, made at run time by the target itself (tests/fuzz/fuzz_common.h)
generated=" snapshot frames zpage hs2 response known privkey pointers vref "

# Longest input per target: past what its parser accepts, where that is more than libFuzzer's 4 KiB
# (maps lines with 4096-byte paths, patterns of 4096 bytes as spaced hex text, snapshot records with
# long paths, whole requests, key files of many lines).
max_len() {
	case "$1" in
	maps | keyfile | known) echo 65536 ;;
	pattern | pscan) echo 16384 ;;
	snapshot | frames | response) echo 131072 ;;
	*) echo 8192 ;;
	esac
}

# Seeds kept in the repo: tests/fuzz/corpus/DIR.
seed_dir() {
	case "$1" in
	pscan) echo pattern ;;
	*) echo "$1" ;;
	esac
}

# What each target must show it reached, from the line it prints at exit: "REGEX|what it means".
reach_check() {
	case "$1" in
	snapshot) echo '[1-9][0-9]* more with their checksums recomputed|inputs that load only with recomputed checksums' ;;
	frames) echo '[1-9][0-9]* DATA frames reached decryption|fuzzed DATA frames that reach decryption' ;;
	pscan) echo '[1-9][0-9]* scans of 16 MiB|patterns scanned by the parallel scanner' ;;
	vref) echo '[1-9][0-9]* references loaded|inputs that load as set references' ;;
	*) echo '' ;;
	esac
}

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
	targets=("${all_targets[@]}")
fi
for name in "${targets[@]}"; do
	if [[ " ${all_targets[*]} " != *" $name "* ]]; then
		echo "fuzz: no target '$name' (targets: ${all_targets[*]})" >&2
		exit 2
	fi
done

if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz: clang not found (libFuzzer needs it): run scripts/deps.sh" >&2
	exit 1
fi
cores=$(nproc 2>/dev/null || echo 1)
jobs=${MEMSCAN_FUZZ_JOBS:-$((cores < 2 ? cores : 2))}

# -O1 with debug info: fast enough to fuzz, precise enough stacks; assertions stay on (Debug).
cmake -S "$root" -B "$build" -G "Unix Makefiles" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	-DCMAKE_C_FLAGS_DEBUG="-g -O1" -DMEMSCAN_FUZZ=ON -DMEMSCAN_SANITIZE=ON -DMEMSCAN_TESTS=OFF \
	-DMEMSCAN_BENCH=OFF >/dev/null
make -C "$build" -j"$jobs" --no-print-directory fuzz

scratch=$(mktemp -d "${TMPDIR:-/tmp}/memscan-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
corpora=${MEMSCAN_FUZZ_CORPUS:-${XDG_CACHE_HOME:-$HOME/.cache}/memscan/fuzz}
if [ "$corpora" = scratch ]; then
	corpora="$scratch/corpus"
fi
mkdir -p "$corpora" "$scratch/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "fuzz: ${#targets[@]} targets, ${secs}s each, $jobs at a time; corpora in $corpora"

# Seeds (the repo's and the generated ones) join the kept corpus; libFuzzer adds what it finds there.
prepare() {
	local name=$1 corpus="$corpora/$1" seeds
	seeds="$root/tests/fuzz/corpus/$(seed_dir "$name")"
	mkdir -p "$corpus"
	if [ -d "$seeds" ]; then
		cp -R "$seeds/." "$corpus/"
	fi
	if [[ $generated == *" $name "* ]]; then
		MEMSCAN_FUZZ_WRITE_SEEDS="$corpus" "$build/tests/fuzz/fuzz_$name"
	fi
}

run_one() {
	local name=$1
	(cd "$scratch" && "$build/tests/fuzz/fuzz_$name" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -max_len="$(max_len "$name")" -print_final_stats=1 \
		-artifact_prefix="$scratch/artifacts/$name-" "$corpora/$name" >"$scratch/$name.log" 2>&1)
}

# Prints the result of target NAME (exit status RC); 1 if it failed.
report() {
	local name=$1 rc=$2 log="$scratch/$1.log" runs cov check
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
	check=$(reach_check "$name")
	if [ "$rc" -eq 0 ] && [ -n "$check" ] && ! grep -Eq "${check%%|*}" "$log"; then
		echo "== fuzz_$name: FAILED: no ${check#*|} ($(grep "^fuzz_$name:" "$log" || echo 'no count printed'))"
		return 1
	fi
	if [ "$rc" -eq 0 ]; then
		echo "== fuzz_$name: ok: ${runs:-?} runs, ${cov:-no coverage line}, corpus" \
			"$(find "$corpora/$name" -type f | wc -l)$(grep "^fuzz_$name:" "$log" | sed 's/^fuzz_[a-z0-9]*:/;/' || true)"
		return 0
	fi
	# libFuzzer's progress lines ("#N NEW cov: ...") would push the report out of a short log view
	echo "== fuzz_$name: FAILED (its report, progress lines left out)"
	grep -Ev '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)' "$log" | grep -v '^INFO: ' |
		tail -n 60 | sed 's/^/   | /'
	mkdir -p "$build/crashes"
	for f in "$scratch/artifacts/$name-"*; do
		[ -e "$f" ] || continue
		cp "$f" "$build/crashes/"
		echo "   input $(basename "$f") ($(stat -c %s "$f") bytes), kept in build/fuzz/crashes/:"
		od -An -tx1 -v "$f" | head -n 32 | sed 's/^/   /'
	done
	return 1
}

for name in "${targets[@]}"; do
	prepare "$name"
done

# A pool of JOBS targets at a time; results are printed as each ends.
declare -A pid_of=()
failed=()
reap() {
	local name rc
	for name in "${!pid_of[@]}"; do
		if ! kill -0 "${pid_of[$name]}" 2>/dev/null; then
			rc=0
			wait "${pid_of[$name]}" || rc=$?
			unset "pid_of[$name]"
			report "$name" "$rc" || failed+=("$name")
		fi
	done
}
for name in "${targets[@]}"; do
	while [ "${#pid_of[@]}" -ge "$jobs" ]; do
		wait -n || true
		reap
	done
	run_one "$name" &
	pid_of[$name]=$!
done
while [ "${#pid_of[@]}" -gt 0 ]; do
	wait -n || true
	reap
done

if [ "${#failed[@]}" -ne 0 ]; then
	echo "fuzz: FAILED: ${failed[*]} (reproduce: build/fuzz/tests/fuzz/fuzz_NAME build/fuzz/crashes/FILE)" >&2
	exit 1
fi
echo "fuzz: OK (${#targets[@]} targets, ${secs}s each, corpora in $corpora)"
