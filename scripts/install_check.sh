#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs a build into a scratch prefix and checks what a user gets: headers, libraries, programs,
# pkg-config files and the CMake package. The two example programs of docs/api.md are built against
# the installed files (one with pkg-config, one with find_package) and run: the libmemscan one on a
# fixture target, the libmemscan-client one against the installed memscan-agent with fresh keys. The
# libmemscan one is built again with find_package(memscan COMPONENTS core) where the network libraries
# cannot be found. The Python package is imported from the prefix and runs docs/python.md's example.
# Usage: install_check.sh BUILD_DIR PREFIX
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$1 prefix=$2

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in include/memscan/memscan.h include/memscan/client.h bin/memscan bin/memscan-agent \
	share/man/man1/memscan.1 share/man/man8/memscan-agent.8 share/man/man5/memscan-authorized_keys.5 \
	share/man/man3/libmemscan.3 lib/systemd/system/memscan-agent.service lib/sysusers.d/memscan-agent.conf \
	lib/tmpfiles.d/memscan-agent.conf etc/memscan/agent.conf; do
	[ -e "$prefix/$f" ] || { echo "install: missing $f" >&2; exit 1; }
done
pcdir=$(dirname "$(find "$prefix" -name memscan.pc -print -quit)")
[ -f "$pcdir/memscan-client.pc" ] || { echo "install: missing memscan-client.pc" >&2; exit 1; }
cmakedir=$(dirname "$(find "$prefix" -name memscanConfig.cmake -print -quit)")
[ -f "$cmakedir/memscanConfig.cmake" ] || { echo "install: missing the CMake package" >&2; exit 1; }
"$prefix/bin/memscan" --version
grep -q "^ExecStart=$prefix/bin/memscan-agent --config $prefix/etc/memscan/agent.conf$" \
	"$prefix/lib/systemd/system/memscan-agent.service" || { echo "install: the unit does not name $prefix" >&2; exit 1; }

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

# A core-only consumer on a machine without the network libraries (nng's CMake package, PkgConfig and
# pkg-config's search path hidden): find_package(memscan COMPONENTS core) finds memscan::core alone
# without looking for any of them, and the program needs none of them; asking for the client component
# there fails and says why.
hidden() { # runs cmake ARGS... where the network libraries cannot be found
	PKG_CONFIG_LIBDIR=/nonexistent PKG_CONFIG_PATH='' cmake --no-warn-unused-cli \
		-DCMAKE_DISABLE_FIND_PACKAGE_nng=ON -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON "$@"
}
consumer() { # DIR COMPONENT: a project in DIR that asks for COMPONENT and builds example.c on memscan::core
	mkdir -p "$1"
	cp "$work/example.c" "$1/"
	cat >"$1/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(memscan_$2_consumer C)
find_package(memscan REQUIRED COMPONENTS $2)
get_property(looked_up GLOBAL PROPERTY PACKAGES_FOUND)
get_property(not_found GLOBAL PROPERTY PACKAGES_NOT_FOUND)
if("$2" STREQUAL "core" AND (TARGET memscan::client OR "\${looked_up};\${not_found}" MATCHES "nng|PkgConfig"))
  message(FATAL_ERROR "COMPONENTS core looked for the client or its libraries: \${looked_up};\${not_found}")
endif()
add_executable(example example.c)
target_link_libraries(example PRIVATE memscan::core)
CMAKE
}
consumer "$work/core" core
hidden -S "$work/core" -B "$work/core/build" -DCMAKE_PREFIX_PATH="$prefix" \
	-DCMAKE_BUILD_RPATH="$(dirname "$pcdir")" >/dev/null
make -C "$work/core/build" --no-print-directory >/dev/null
if ldd "$work/core/build/example" | grep -E 'libnng|libsodium|libprotobuf-c|libzstd|libmemscan-client'; then
	echo "install: a memscan::core program needs the network libraries above" >&2
	exit 1
fi
consumer "$work/client_only" client
if out=$(hidden -S "$work/client_only" -B "$work/client_only/build" -DCMAKE_PREFIX_PATH="$prefix" 2>&1); then
	echo "install: COMPONENTS client was found without its network libraries" >&2
	exit 1
fi
grep -q "client component needs nng, libsodium, libprotobuf-c, libzstd" <<<"$out" || { echo "install: no reason given: $out" >&2; exit 1; }
echo "core-only consumer: built without nng, libsodium, protobuf-c and libzstd; client refused there"

# Run them: the fixture comes from the build tree, everything else from the prefix.
sh "$root/tests/docs_example/run_example.sh" "$build/tests/memscan-fixture" "$work/build/example"
sh "$root/tests/docs_example/run_example.sh" "$build/tests/memscan-fixture" "$work/core/build/example"
sh "$root/tests/docs_example/run_client_example.sh" "$build/tests/memscan-fixture" "$work/client_example" \
	"$prefix/bin/memscan" "$prefix/bin/memscan-agent"

# The Python package, imported from the prefix by Debian's python3 with the prefix's libraries
# (MEMSCAN_LIB_DIR: the loader's path does not hold a scratch prefix), runs docs/python.md's example.
pydir=$prefix/lib/python3/dist-packages
libdir=$(dirname "$(find "$prefix" -name libmemscan.so.0 -print -quit)")
python=$(command -v /usr/bin/python3 || command -v python3)
[ -f "$pydir/memscan/__init__.py" ] || { echo "install: missing the memscan Python package in $pydir" >&2; exit 1; }
sed -n '/<!-- python-example:begin -->/,/<!-- python-example:end -->/p' "$root/docs/python.md" | sed '1,2d;$d' |
	sed '$d' >"$work/example.py"
cat >"$work/example_py" <<SH
#!/bin/sh
PYTHONPATH='$pydir' MEMSCAN_LIB_DIR='$libdir' exec '$python' '$work/example.py' "\$@"
SH
chmod +x "$work/example_py"
PYTHONPATH=$pydir MEMSCAN_LIB_DIR=$libdir "$python" -c '
import sys, memscan
assert memscan.__file__.startswith(sys.argv[1]), memscan.__file__
print("python: memscan", memscan.version(), "from", memscan.__file__, "with", len(memscan.list_processes()), "processes")
' "$pydir"
sh "$root/tests/docs_example/run_example.sh" "$build/tests/memscan-fixture" "$work/example_py"
echo "install check: headers, libraries, programs, pkg-config and CMake package all usable; Python package too"
