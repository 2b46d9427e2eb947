#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what memscan needs to build, test and lint on Debian 12, only if something is missing.
set -euo pipefail

# Debian packages memscan needs: toolchain, CMake, test framework, the agent's libraries, format/fuzz tools.
packages=(
	build-essential   # gcc, make, libc headers
	cmake
	pkg-config
	git               # scripts/lint.sh lists the tracked files
	libcmocka-dev     # unit tests
	libnng-dev        # agent transport
	libprotobuf-c-dev # agent wire protocol
	protobuf-c-compiler
	libsodium-dev     # agent authentication
	clang-format      # scripts/lint.sh
	clang             # libFuzzer targets
	libclang-rt-14-dev # libFuzzer and sanitizer runtimes (only recommended by clang: say it)
	scdoc             # man pages (docs/man/*.scd)
	groff-base        # renders them in the man page test (scripts/check_man.sh)
	zsh               # e2e/test_cli_completion loads 'memscan completion zsh' in it
	fish              # ... and 'memscan completion fish'
	libsystemd-dev    # agent: readiness (sd_notify) and journal fields
	python3-yaml      # scripts/check_container.py reads deploy/kubernetes/*.yaml
	iproute2          # ... and brings up loopback in the pod's network namespace
	debhelper         # scripts/deb.sh builds the Debian packages (dpkg-buildpackage)
	systemd           # systemd-analyze, -sysusers, -tmpfiles check deploy/ (scripts/check_unit.sh)
	libzstd-dev       # opt-in compression of read pages (agent, client); bench/'s zstd -1 baseline
	libedit-dev       # line editing and history of the interactive `memscan hunt` prompt
	python3           # the Python binding (python/memscan) and its tests
	python3-pytest    # ... whose suite, python/tests/, is the ctest python/pytest
	chromium          # e2e/heatmap_svg opens 'memscan heatmap' SVGs in a real browser (headless screenshot)
	python3-pil       # ... and reads the screenshot's pixels
)

# True if the package is installed (not merely known or half-configured).
installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "deps: all ${#packages[@]} packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
