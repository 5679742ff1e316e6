#!/usr/bin/env bash
# Pack what the GPU machine needs to run dmakit's Vulkan tests and benches:
# the built binaries, every shared library they load that is not glibc's,
# Debian's Vulkan loader and glvnd/EGL packages (NVIDIA's ICD needs
# libEGL.so.1), the cascades and the test photographs.  The GPU machine
# (Ubuntu 24.04, newer glibc, no Vulkan loader, no network) runs them with
# tests/gpu/run.sh.
#
#   tests/gpu/bundle.sh [BUILD] [OUTDIR]     (defaults: build, build/gpu)
set -euo pipefail
build=${1:-build}
out=${2:-build/gpu}
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/debs" "$out/share"

bins=("$build/dmakit")
for t in "$build"/tests/test_*; do
	case $t in *.o|*.d) continue ;; esac
	[ -x "$t" ] && bins+=("$t")
done
# The OpenCV baseline of `dmakit bench detect`, built for Y4M input
# only: without imgcodecs (and the image libraries behind it) OpenCV's
# core, imgproc and objdetect fit in what a device call carries, and the
# GPU machine has no OpenCV of its own that runs CascadeClassifier.
if pkg-config --exists opencv4; then
	# shellcheck disable=SC2046
	g++ -std=c++17 -O2 -DDMK_CV_Y4M_ONLY $(pkg-config --cflags opencv4) \
		-o "$out/bin/dmakit-cv-baseline" tools/cv_baseline.cpp \
		-Wl,--as-needed -lopencv_objdetect -lopencv_imgproc \
		-lopencv_core
	bins+=("$out/bin/dmakit-cv-baseline")
fi
for b in "${bins[@]}"; do
	[ "$b" -ef "$out/bin/${b##*/}" ] || cp "$b" "$out/bin/"
done
# No build/data: the clip is made there (run.sh), it is larger than the
# working-tree limit of a device call.
# Libraries by resolved path, glibc's own left to the target.
for b in "${bins[@]}"; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' |
	sort -u | while read -r so; do
	case ${so##*/} in
	libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) ;;
	libvulkan.so.*) ;;	# from the loader .deb below
	# Ubuntu's base system has these (same sonames), and ICU alone is
	# over half the size a device call may carry.
	libicu*|libxml2.so.*|libcrypto.so.*|libssl.so.*|libstdc++.so.*|\
	libgcc_s.so.*|libz.so.*|liblzma.so.*|libkrb5*|libk5crypto.so.*|\
	libgssapi_krb5.so.*|libcom_err.so.*|libkeyutils.so.*|libffi.so.*|\
	libpcre2-8.so.*|libresolv.so.*) ;;
	*) cp -L "$so" "$out/lib/" ;;
	esac
done
(cd "$out/debs" && apt-get download libvulkan1 libglvnd0 libegl1 libgl1 \
	libglx0 libopengl0 libgles2 vulkan-tools >/dev/null 2>&1)
cp -r /usr/share/opencv4 "$out/share/" 2>/dev/null || true
for img in /usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg \
	"$build"/test-images/*; do
	[ -f "$img" ] && { mkdir -p "$out/images"; cp "$img" "$out/images/"; }
done
cp tests/gpu/run.sh tests/*.py "$out/" 2>/dev/null || true
du -sh "$out"
