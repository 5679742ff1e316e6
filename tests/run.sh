#!/usr/bin/env bash
# Run each Criterion test binary given; fail if any failed, after all ran.
# Criterion runs every test in its own process.  Extra flags for the
# binaries come from DMK_TEST_FLAGS (e.g. "--verbose" or "--filter 'heap/*'").
# The last line totals every suite: "tests: N passed, N failed".
set -u
failed=()
total=0 passed=0 nfailed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
	total=$((total + 1))
	echo "== ${t##*/}"
	# shellcheck disable=SC2086
	"$t" ${DMK_TEST_FLAGS:-} --short-filename 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	# [====] Synthesis: Tested: 14 | Passing: 14 | Failing: 0 | Crashing: 0
	line=$(grep 'Synthesis: Tested:' "$log" | tail -n 1)
	if [[ $line =~ Passing:\ ([0-9]+)\ \|\ Failing:\ ([0-9]+)\ \|\ Crashing:\ ([0-9]+) ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		nfailed=$((nfailed + BASH_REMATCH[2] + BASH_REMATCH[3]))
	fi
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		failed+=("${t##*/}")
		[ -z "$line" ] && nfailed=$((nfailed + 1))	# died outright
	fi
done
if [ ${#failed[@]} -ne 0 ]; then
	echo "FAILED suites: ${failed[*]} (${#failed[@]} of $total)"
	echo "tests: $passed passed, $nfailed failed"
	exit 1
fi
echo "all $total suites passed"
echo "tests: $passed passed, $nfailed failed"
