#!/usr/bin/env bash
# Run each Criterion test binary given; fail if any failed, after all ran.
# Criterion runs every test in its own process.  Extra flags for the
# binaries come from DMK_TEST_FLAGS (e.g. "--verbose" or "--filter 'heap/*'").
set -u
failed=()
total=0
for t in "$@"; do
	total=$((total + 1))
	echo "== ${t##*/}"
	# shellcheck disable=SC2086
	if ! "$t" ${DMK_TEST_FLAGS:-} --short-filename; then
		failed+=("${t##*/}")
	fi
done
if [ ${#failed[@]} -ne 0 ]; then
	echo "FAILED suites: ${failed[*]} ($(( ${#failed[@]} )) of $total)"
	exit 1
fi
echo "all $total suites passed"
