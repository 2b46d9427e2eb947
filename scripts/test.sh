#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds and tests memscan: normal and ASan+UBSan builds with ctest, lint, and an install check.
# shellcheck disable=SC2317 # the functions below are called through step()
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

jobs=2 # the machines have 2 cores
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export CTEST_OUTPUT_ON_FAILURE=1

results=() # "PASS name" / "FAIL name" / "SKIP name", printed at the end
failed=0

# step NAME CMD...: runs CMD, records its result, never stops the script.
step() {
	local name=$1
	shift
	echo
	echo "==== $name ===="
	if "$@"; then
		results+=("PASS  $name")
	else
		results+=("FAIL  $name")
		failed=1
		return 1
	fi
}

skip() {
	results+=("SKIP  $1 ($2)")
	failed=1
}

summary() {
	echo
	echo "==== summary ===="
	printf '  %s\n' "${results[@]}"
	if [ "$failed" -eq 0 ]; then
		echo "ALL PASSED"
	else
		echo "FAILED"
	fi
}

# configure_build DIR CMAKE-ARGS...: configures (Unix Makefiles) and builds DIR.
configure_build() {
	local dir=$1
	shift
	cmake -S "$root" -B "$dir" -G "Unix Makefiles" "$@" && make -C "$dir" -j"$jobs" --no-print-directory
}

run_ctest() {
	(cd "$1" && ctest --output-on-failure -j"$jobs")
}

# One configuration: build, then its tests (skipped if the build failed).
config() {
	local name=$1 dir=$2
	shift 2
	if step "build $name" configure_build "$dir" "$@"; then
		step "ctest $name" run_ctest "$dir" || true
	else
		skip "ctest $name" "build failed"
	fi
}

# Installs build/normal into a temporary prefix and checks that everything a user needs is there
# and usable (scripts/install_check.sh: headers, libraries, programs, pkg-config, CMake package, and
# docs/api.md's two examples built against them and run).
install_check() {
	local prefix rc=0
	prefix=$(mktemp -d "${TMPDIR:-/tmp}/memscan-install.XXXXXX")
	install_check_in "$prefix" || rc=$?
	rm -rf "$prefix"
	return "$rc"
}

install_check_in() {
	bash "$root/scripts/install_check.sh" "$root/build/normal" "$1"
}

step "dependencies" bash scripts/deps.sh || { summary; exit 1; }
config normal build/normal -DMEMSCAN_WERROR=ON
config asan build/asan -DMEMSCAN_SANITIZE=ON -DMEMSCAN_WERROR=ON -DCMAKE_BUILD_TYPE=Debug
step "lint" bash scripts/lint.sh || true
step "fuzz (smoke)" bash scripts/fuzz.sh 5 || true
# the quick benchmark keeps bench/ working; it never fails on a ratio (machines are noisy)
step "bench (quick)" bash scripts/bench.sh --quick --json-out build/bench-quick.json || true
# downloads over a loopback shaped to 1 Gbit/s, in a network namespace of its own (what --compress buys)
if unshare --net true 2>/dev/null; then
	step "bench (link)" bash scripts/bench.sh --quick --link 1gbit --json-out build/bench-link.json || true
else
	echo "bench (link): not run, no network namespace here (unshare --net failed)"
fi
if [ -x build/normal/cli/memscan ]; then
	step "install" install_check || true
else
	skip "install" "normal build failed"
fi
# the Debian packages, built from the tree, installed, checked and removed again (needs root)
if [ "$(id -u)" = 0 ]; then
	step "debian packages" bash scripts/deb.sh || true
else
	skip "debian packages" "not root (apt-get install)"
fi
summary
exit "$failed"
