#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fuzz smoke test: builds the libFuzzer targets (build/fuzz, clang) and runs each for a few seconds.
# Usage: scripts/fuzz.sh [SECONDS_EACH]   (default 10). Fails if any target crashes, leaks or hangs;
# the crashing inputs are kept in build/fuzz/crashes/ and printed in hex.
set -euo pipefail

secs=${1:-10}
case "$secs" in
'' | *[!0-9]* | 0)
	echo "usage: $0 [SECONDS_EACH]  (a positive whole number)" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build/fuzz"
jobs=2 # the machines have 2 cores
targets=(maps pattern snapshot keyfile frames zpage hs2 response known privkey)
# targets whose seeds are binary, made at run time by the target itself (tests/fuzz/fuzz_common.h)
generated=" snapshot frames zpage hs2 response known privkey "

if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz: clang not found (libFuzzer needs it): run scripts/deps.sh" >&2
	exit 1
fi

# -O1 with debug info: fast enough to fuzz, precise enough stacks; assertions stay on (Debug).
cmake -S "$root" -B "$build" -G "Unix Makefiles" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	-DCMAKE_C_FLAGS_DEBUG="-g -O1" -DMEMSCAN_FUZZ=ON -DMEMSCAN_SANITIZE=ON -DMEMSCAN_TESTS=OFF \
	-DMEMSCAN_BENCH=OFF >/dev/null
make -C "$build" -j"$jobs" --no-print-directory fuzz

# Corpora are copied to a scratch directory: libFuzzer adds what it finds, and the repo stays clean.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/memscan-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for name in "${targets[@]}"; do
	corpus="$scratch/corpus/$name"
	log="$scratch/$name.log"
	mkdir -p "$corpus" "$scratch/artifacts"
	if [ -d "$root/tests/fuzz/corpus/$name" ]; then
		cp -R "$root/tests/fuzz/corpus/$name/." "$corpus/"
	fi
	if [[ $generated == *" $name "* ]]; then
		MEMSCAN_FUZZ_WRITE_SEEDS="$corpus" "$build/tests/fuzz/fuzz_$name"
	fi
	echo "== fuzz_$name: ${secs}s, $(find "$corpus" -type f | wc -l) seeds"
	if (cd "$scratch" && "$build/tests/fuzz/fuzz_$name" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$scratch/artifacts/$name-" \
		"$corpus" >"$log" 2>&1); then
		# "stat::number_of_executed_units: N" and the last status line
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
		echo "   ok: ${runs:-?} runs, ${cov:-no coverage line}, corpus $(find "$corpus" -type f | wc -l)"
	else
		# libFuzzer's progress lines ("#N NEW cov: ...") would push the report out of a short log view
		echo "   FAILED: fuzz_$name (its report, progress lines left out)"
		grep -Ev '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)' "$log" | grep -v '^INFO: ' |
			tail -n 60 | sed 's/^/   | /'
		mkdir -p "$build/crashes"
		for f in "$scratch/artifacts/$name-"*; do
			[ -e "$f" ] || continue
			cp "$f" "$build/crashes/"
			echo "   input $(basename "$f") ($(stat -c %s "$f") bytes), kept in build/fuzz/crashes/:"
			od -An -tx1 -v "$f" | head -n 32 | sed 's/^/   /'
		done
		failed+=("$name")
	fi
done

if [ "${#failed[@]}" -ne 0 ]; then
	echo "fuzz: FAILED: ${failed[*]} (reproduce: build/fuzz/tests/fuzz/fuzz_NAME build/fuzz/crashes/FILE)" >&2
	exit 1
fi
echo "fuzz: OK (${#targets[@]} targets, ${secs}s each)"
