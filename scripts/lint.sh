#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Lints the tracked C sources: clang-format conformance and a ban on unsafe libc functions.
set -euo pipefail

cd "$(dirname "$0")/.."
status=0

# Every tracked C source and header (git ls-files: build trees and scratch files are ignored).
mapfile -t sources < <(git ls-files -- '*.c' '*.h')
if [ "${#sources[@]}" -eq 0 ]; then
	echo "lint: no tracked C files" >&2
	exit 1
fi

# 1. Formatting: clang-format must have nothing to change.
if ! clang-format --dry-run --Werror "${sources[@]}"; then
	echo "lint: formatting differs from .clang-format; run: clang-format -i FILE" >&2
	status=1
fi

# 2. Banned functions, as calls (NAME followed by '('), outside tests/fuzz/.
#    \b keeps snprintf, vsnprintf, fgets, strtok_r and friends out of the match.
banned='\b(sprintf|vsprintf|strcpy|strcat|gets|atoi|atol|strtok|alloca)[[:space:]]*\('
checked=()
for f in "${sources[@]}"; do
	case "$f" in
	tests/fuzz/*) ;;
	*) checked+=("$f") ;;
	esac
done
if offenders=$(grep -nHE "$banned" "${checked[@]}"); then
	echo "lint: banned functions used (use snprintf, memcpy with lengths, strtol/strtoull, strtok_r):" >&2
	echo "$offenders" >&2
	status=1
fi

if [ "$status" -eq 0 ]; then
	echo "lint: OK (${#sources[@]} files)"
fi
exit "$status"
