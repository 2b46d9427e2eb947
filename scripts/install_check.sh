#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs a build into a scratch prefix and checks what a user gets: headers, libraries, programs,
# pkg-config files and the CMake package. The two example programs of docs/api.md are built against
# the installed files (one with pkg-config, one with find_package) and run: the libmemscan one on a
# fixture target, the libmemscan-client one against the installed memscan-agent with fresh keys.
# Usage: install_check.sh BUILD_DIR PREFIX
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$1 prefix=$2

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/memscan/memscan.h include/memscan/client.h bin/memscan bin/memscan-agent; do
	[ -e "$prefix/$f" ] || { echo "install: missing $f" >&2; exit 1; }
done
pcdir=$(dirname "$(find "$prefix" -name memscan.pc -print -quit)")
[ -f "$pcdir/memscan-client.pc" ] || { echo "install: missing memscan-client.pc" >&2; exit 1; }
cmakedir=$(dirname "$(find "$prefix" -name memscanConfig.cmake -print -quit)")
[ -f "$cmakedir/memscanConfig.cmake" ] || { echo "install: missing the CMake package" >&2; exit 1; }
"$prefix/bin/memscan" --version

# extract NAME: the C block of docs/api.md between <!-- NAME:begin --> and <!-- NAME:end -->.
extract() {
	sed -n "/<!-- $1:begin -->/,/<!-- $1:end -->/p" "$root/docs/api.md" | sed '1,2d;$d' | sed '$d'
}
work=$prefix/check
mkdir -p "$work"
extract example >"$work/example.c"
extract client-example >"$work/client_example.c"

# libmemscan-client example with pkg-config (--define-prefix: the install was relocated).
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-prefix --cflags --libs memscan-client)
echo "pkg-config memscan-client: $flags"
# shellcheck disable=SC2086 # FLAGS is a list of words
cc -std=c11 -Wall -Wextra -Werror "$work/client_example.c" $flags -Wl,-rpath,"$(dirname "$pcdir")" \
	-o "$work/client_example"

# libmemscan example with find_package(memscan) -> memscan::core.
cat >"$work/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(memscan_consumer C)
find_package(memscan REQUIRED)
add_executable(example example.c)
target_link_libraries(example PRIVATE memscan::core)
add_executable(client_example client_example.c)
target_link_libraries(client_example PRIVATE memscan::client)
CMAKE
cmake -S "$work" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_RPATH="$(dirname "$pcdir")" >/dev/null
make -C "$work/build" --no-print-directory >/dev/null

# Run them: the fixture comes from the build tree, everything else from the prefix.
sh "$root/tests/docs_example/run_example.sh" "$build/tests/memscan-fixture" "$work/build/example"
sh "$root/tests/docs_example/run_client_example.sh" "$build/tests/memscan-fixture" "$work/client_example" \
	"$prefix/bin/memscan" "$prefix/bin/memscan-agent"
echo "install check: headers, libraries, programs, pkg-config and CMake package all usable"
