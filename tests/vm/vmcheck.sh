#!/usr/bin/env bash
# make vmcheck: run every Criterion suite inside the real-kernel VM (system
# and CMA dma-heaps, udmabuf, vgem), where a missing device or a skipped
# test that needs one is a failure (DMK_TEST_REQUIRE_ALL=1).
#
# Usage: tests/vm/vmcheck.sh [BUILD_DIR]     (default: build)
# Env:   DMK_VM_SKIP (suites left to the host tier, see below),
#        DMK_VM_TIMEOUT (seconds, default 2400), DMK_TEST_FLAGS (passed to
#        every suite, e.g. "--filter 'heap/*'"), DMK_SOAK_FRAMES.
set -euo pipefail
cd "$(dirname "$0")/../.."

build=${1:-build}
# Suites that use no kernel interface beyond what the host tier already
# runs for real (memfd, plain files) and are pure computation, which TCG
# emulation makes many times slower: the cascade detector on the CPU and
# on lavapipe, the conversion shaders, still images.  DMK_VM_SKIP="" runs
# them too.
skip=${DMK_VM_SKIP-test_detect test_detectvk test_vkconvert test_image}
tests=()
for t in "$build"/tests/test_*; do
	[[ -x $t && ! -d $t && $t != *.* ]] || continue
	[[ " $skip " == *" ${t##*/} "* ]] && continue
	tests+=("$t")
done
if [[ ${#tests[@]} -eq 0 ]]; then
	echo "vmcheck: no test binaries in $build/tests (run make first)" >&2
	exit 2
fi

export DMK_TEST_REQUIRE_ALL=1
# The VM runs under TCG emulation, several times slower than the host:
# the channel soak runs a shorter stream there (the host runs the full one).
export DMK_SOAK_FRAMES=${DMK_SOAK_FRAMES:-100000}
export DMK_VM_PASSENV="DMK_TEST_REQUIRE_ALL DMK_SOAK_FRAMES DMK_TEST_FLAGS"

echo "vmcheck: ${#tests[@]} suites in a Linux 6.1 VM (TCG), devices required"
exec tests/vm/run.sh --require-devices --timeout "${DMK_VM_TIMEOUT:-2400}" \
	-- tests/run.sh "${tests[@]}"
