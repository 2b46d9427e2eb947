#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian packages from the tree (dpkg-buildpackage -b -us -uc, on a copy of the tracked
# files, so the tree stays clean), installs them with apt-get, checks what a user gets (the programs
# run, the unit, user and directories are there), and removes them again (purge).
# Refuses to run where any of the packages is installed already (it would replace and purge it).
# Usage: deb.sh [--keep]   (--keep: leave the .debs in build/deb and the packages installed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
keep=0
[ "${1:-}" = --keep ] && keep=1
version=$(sed -n '1s/^memscan (\([^)]*\)).*/\1/p' "$root/debian/changelog")
packages=(memscan memscan-agent libmemscan0 libmemscan-dev python3-memscan)

# It installs and purges the packages: never over an installation of them this machine already has.
for p in "${packages[@]}"; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		echo "deb: $p is installed on this machine; this script would replace it and purge it" \
			"(and an edited /etc/memscan/agent.conf): run it where memscan is not installed" >&2
		exit 1
	fi
done
user_existed=0
getent passwd memscan >/dev/null && user_existed=1

work=$(mktemp -d "${TMPDIR:-/tmp}/memscan-deb.XXXXXX")
installed=0
# Leaves the machine as it found it: the packages purged and the memscan user they created removed
# (unless --keep), whatever failed on the way.
cleanup() {
	if [ "$installed" = 1 ] && [ "$keep" = 0 ]; then
		apt-get purge -y -q "${packages[@]}" >"$work/purge.log" 2>&1 || cat "$work/purge.log" >&2
		if [ "$user_existed" = 0 ] && getent passwd memscan >/dev/null; then
			userdel memscan 2>/dev/null || true
			getent group memscan >/dev/null && groupdel memscan 2>/dev/null
		fi
	fi
	rm -rf "$work"
}
trap cleanup EXIT
src=$work/memscan-${version%-*}
mkdir -p "$src"
# the tracked files as they are now (symbolic links kept)
git -C "$root" ls-files -z | (cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$src"

echo "deb: building ${packages[*]} $version"
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1) || {
	tail -40 "$work/build.log" >&2
	echo "deb: dpkg-buildpackage failed (log above)" >&2
	exit 1
}
debs=()
for p in "${packages[@]}"; do
	debs+=("$(ls "$work/${p}_${version}_"*.deb)") # _amd64.deb, or _all.deb for python3-memscan
done
if [ "$keep" = 1 ]; then
	mkdir -p "$root/build/deb"
	cp "${debs[@]}" "$root/build/deb/"
fi

export DEBIAN_FRONTEND=noninteractive
installed=1
apt-get install -y -q --no-install-recommends "${debs[@]}" >"$work/install.log" 2>&1 || {
	cat "$work/install.log" >&2
	exit 1
}
fail=0
check() { "$@" >/dev/null 2>&1 || { echo "deb: failed: $*" >&2; fail=1; }; }
check memscan --version
check memscan-agent --version
check test -f /usr/lib/systemd/system/memscan-agent.service
check grep -q '^ExecStart=/usr/bin/memscan-agent --config /etc/memscan/agent.conf$' /usr/lib/systemd/system/memscan-agent.service
check test -f /etc/memscan/agent.conf
check test -d /etc/memscan
check getent passwd memscan
check test -f /usr/share/man/man1/memscan.1.gz
check test -f /usr/share/man/man8/memscan-agent.8.gz
check test -f /usr/share/bash-completion/completions/memscan
check pkg-config --exists memscan memscan-client
check test -f /usr/include/memscan/memscan.h
# the Python module, from Debian's python3, on the installed libraries: it lists this host's processes
check /usr/bin/python3 -c 'import memscan, os; assert any(p.pid == os.getpid() for p in memscan.list_processes())'
echo "deb: installed and checked: $(dpkg-query -W -f='${Package} ' "${packages[@]}")"
if [ "$keep" = 0 ]; then
	cleanup
	installed=0
	check test ! -e /usr/bin/memscan
	[ "$user_existed" = 1 ] || check test -z "$(getent passwd memscan)"
	echo "deb: removed again (packages purged, the memscan user they created removed)"
fi
exit $fail
