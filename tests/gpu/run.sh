#!/usr/bin/env bash
# On the GPU machine, inside a bundle made by tests/gpu/bundle.sh: install
# the Vulkan loader and glvnd from the carried .debs, point the loader at
# NVIDIA's ICD when it finds none by itself, then run "$@" with the bundle's
# binaries and libraries first on the paths.
#
#   build/gpu/run.sh dmakit info
#   build/gpu/run.sh test_vk --verbose
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
	for f in "$here"/debs/*.deb; do dpkg -x "$f" /; done
	ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] &&
	! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* \
		>/dev/null 2>&1; then
	export VK_DRIVER_FILES=$icd
	[ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
fi
# The tests and benches look for the cascades and photos where Debian puts
# them.
[ -d /usr/share/opencv4 ] || cp -r "$here/share/opencv4" /usr/share/
mpl=/usr/share/matplotlib/mpl-data/sample_data
if [ ! -f $mpl/grace_hopper.jpg ] && [ -f "$here/images/grace_hopper.jpg" ]; then
	mkdir -p $mpl && cp "$here/images/grace_hopper.jpg" $mpl/
fi
# The python3 on PATH there has OpenCV (opencv-python-headless).
DMK_PYTHON=${DMK_PYTHON:-$(command -v python3)}
export DMK_PYTHON
export PATH="$here/bin:$PATH"
# The suites that run the dmakit binary look for it as $BUILD/dmakit.
export BUILD="$here/bin"
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
export DMAKIT_DATA="$here/data"
export DMK_TEST_IMAGES="$here/images"
if [ ! -f "$DMAKIT_DATA/default.y4m" ] && [ -f $mpl/grace_hopper.jpg ]; then
	mkdir -p "$DMAKIT_DATA"
	dmakit clip $mpl/grace_hopper.jpg -o "$DMAKIT_DATA/default.y4m" >/dev/null
fi
# A library neither carried nor on this machine shows here first.
ldd "$here"/bin/* 2>/dev/null | grep 'not found' | sort -u >&2 || true
exec "$@"
