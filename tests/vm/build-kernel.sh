#!/usr/bin/env bash
# Build (once) the small 6.1 kernel used by the real-kernel test tier.
#
# Usage: tests/vm/build-kernel.sh [--force] [--verbose]
#
# The kernel is built from Debian's linux-source-6.1 tarball with
# `make tinyconfig` + tests/vm/config.fragment and cached outside the clone at
#   $DMK_VM_CACHE/<key>/            (DMK_VM_CACHE defaults to
#                                    ${XDG_CACHE_HOME:-$HOME/.cache}/dmakit-vm)
# holding bzImage, config (the final .config), gen_init_cpio (the kernel's
# initramfs packer, which run.sh uses so that it never needs root or mknod) and
# build-info.txt. <key> is the first 16 hex digits of a sha256 over
# config.fragment, BUILD_SCRIPT_VERSION below and the source tarball's
# name/size/mtime, so editing the fragment (or this script's version) yields
# a rebuild and anything else is a cache hit.
#
# Stdout: exactly one line, the absolute path of bzImage. Everything else
# (progress, "kernel cache hit: PATH", errors) goes to stderr, so
#   kernel=$(tests/vm/build-kernel.sh)
# works.
#
# Options:
#   --force     rebuild even if the cache has this key
#   --verbose   stream the kernel build output to stderr (it always goes to a
#               log; on failure the log's tail is shown and the log is kept)
# Environment:
#   DMK_VM_CACHE        cache root (see above)
#   DMK_VM_KERNEL_SRC   source tarball (default /usr/src/linux-source-6.1.tar.xz)
#   DMK_VM_JOBS         make -j value (default: nproc)
# Exit status: 0 on success, 1 on build or config-check failure, 2 on usage error.
#
# Concurrency and interruption: builds of one key are serialised with flock;
# a build happens in a temporary directory inside the cache root and is
# renamed into place only when complete, so an interrupted build never leaves
# a half-filled cache entry.
set -euo pipefail

# Bump when a change to this script changes the kernel it produces.
BUILD_SCRIPT_VERSION=1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
fragment=$here/config.fragment
src_tarball=${DMK_VM_KERNEL_SRC:-/usr/src/linux-source-6.1.tar.xz}
# HOME may be unset under a bare CI runner: fall back to the user's home.
cache_root=${DMK_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache}/dmakit-vm}
jobs=${DMK_VM_JOBS:-$(nproc)}

force=0
verbose=0
while (($#)); do
    case $1 in
        --force) force=1 ;;
        --verbose | -v) verbose=1 ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "build-kernel: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

log() { printf 'build-kernel: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -r $fragment ]] || die "missing $fragment"
[[ -r $src_tarball ]] || die "missing kernel source $src_tarball (apt-get install linux-source-6.1)"
for tool in make gcc bison flex bc xz tar flock sha256sum; do
    command -v "$tool" >/dev/null || die "'$tool' not found (needs: linux-source-6.1 bc bison flex libelf-dev build-essential)"
done

src_id=$(stat -L -c '%n %s %Y' "$src_tarball")
key=$({
    printf 'build-kernel.sh version %s\n' "$BUILD_SCRIPT_VERSION"
    printf 'source %s\n' "$src_id"
    cat "$fragment"
} | sha256sum | cut -c1-16)
dest=$cache_root/$key

mkdir -p "$cache_root"

cache_hit() {
    [[ $force == 0 && -s $dest/bzImage && -x $dest/gen_init_cpio ]]
}

if cache_hit; then
    log "kernel cache hit: $dest/bzImage"
    printf '%s\n' "$dest/bzImage"
    exit 0
fi

# Serialise builders of the same key; the winner builds, the others then hit.
exec {lock_fd}>"$cache_root/.lock-$key"
if ! flock -n "$lock_fd"; then
    log "another build of $key is running; waiting for it"
    flock "$lock_fd"
fi
if cache_hit; then
    log "kernel cache hit: $dest/bzImage"
    printf '%s\n' "$dest/bzImage"
    exit 0
fi

# Leftovers of builds of this key that were killed hard (we hold the lock).
rm -rf "$cache_root/.build-$key".*
tmp=$(mktemp -d "$cache_root/.build-$key.XXXXXX")
step_pid=
# shellcheck disable=SC2317 # invoked from the EXIT trap
cleanup() {
    # A step still running (we were interrupted): stop its whole process group.
    if [[ -n $step_pid ]]; then
        kill -TERM -- "-$step_pid" 2>/dev/null || kill -TERM "$step_pid" 2>/dev/null || true
        wait "$step_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM
build_log=$tmp/out/build.log
mkdir -p "$tmp/src" "$tmp/out"

start=$SECONDS
phase() { log "[$((SECONDS - start))s] $*"; }

# Run a build step with its output in the log (and on stderr with --verbose).
# On failure show the tail and keep the log next to the cache.
# The step runs in the background, in its own session (setsid), and we wait
# for it: bash runs the INT/TERM traps only between commands, and this way a
# signal interrupts the wait and cleanup() can stop the whole make tree.
step() {
    local rc=0
    if ((verbose)); then
        setsid "$@" > >(tee -a "$build_log" >&2) 2>&1 &
    else
        setsid "$@" >>"$build_log" 2>&1 &
    fi
    step_pid=$!
    wait "$step_pid" || rc=$?
    step_pid=
    if ((rc)); then
        tail -n 40 "$build_log" >&2
        cp "$build_log" "$cache_root/build-$key.failed.log"
        die "'$*' failed (exit $rc); full log: $cache_root/build-$key.failed.log"
    fi
}

phase "building kernel $key (log: $build_log)"
phase "extracting $src_tarball"
step tar -C "$tmp/src" --strip-components=1 -xf "$src_tarball"
cd "$tmp/src"

phase "configuring: tinyconfig + $(basename "$fragment")"
kmake=(make ARCH=x86_64 -j"$jobs")
step "${kmake[@]}" tinyconfig
step scripts/kconfig/merge_config.sh -m .config "$fragment"
step "${kmake[@]}" olddefconfig

# Every CONFIG_X=value line of the fragment must survive olddefconfig
# verbatim (Kconfig silently drops options whose dependencies are unmet), and
# no "# CONFIG_X is not set" option may have come back on (being absent is
# fine: that is how .config spells an option with unmet dependencies).
missing=()
while IFS= read -r line; do
    if [[ $line == "# "* ]]; then
        opt=${line#\# }
        opt=${opt%% *}
        ! grep -q "^$opt=" .config || missing+=("$line")
    else
        grep -qxF -- "$line" .config || missing+=("$line")
    fi
done < <(grep -E '^(CONFIG_[A-Za-z0-9_]+=.*|# CONFIG_[A-Za-z0-9_]+ is not set)$' "$fragment")
if ((${#missing[@]})); then
    for line in "${missing[@]}"; do
        opt=$(sed -E 's/^# //; s/[= ].*//' <<<"$line")
        got=$(grep -E "^($opt=|# $opt is not set)" .config || echo "absent (dependency unmet?)")
        log "config check: requested '$line' but the final .config has: $got"
    done
    cp .config "$cache_root/build-$key.failed.config"
    die "${#missing[@]} requested option(s) did not stick; final config kept at $cache_root/build-$key.failed.config"
fi

phase "compiling bzImage with make -j$jobs"
step "${kmake[@]}" bzImage
# The kernel build compiles usr/gen_init_cpio for its built-in initramfs;
# compile it ourselves if this configuration skipped it.
if [[ ! -x usr/gen_init_cpio ]]; then
    step "${HOSTCC:-gcc}" -O2 -o usr/gen_init_cpio usr/gen_init_cpio.c
fi

cp arch/x86/boot/bzImage usr/gen_init_cpio "$tmp/out/"
cp .config "$tmp/out/config"
{
    echo "key: $key"
    echo "build-kernel.sh version: $BUILD_SCRIPT_VERSION"
    echo "source: $src_id"
    echo "kernel release: $(make -s ARCH=x86_64 kernelrelease)"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n) in $((SECONDS - start)) s"
} >"$tmp/out/build-info.txt"
cd /

# Atomic install: rename the finished directory into place.
rm -rf "$dest"
mv "$tmp/out" "$dest"
rm -f "$cache_root/build-$key.failed.log" "$cache_root/build-$key.failed.config"
phase "installed $dest/bzImage"
printf '%s\n' "$dest/bzImage"
