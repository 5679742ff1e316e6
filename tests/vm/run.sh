#!/usr/bin/env bash
# Run a command as root inside a throwaway VM with a real 6.1 kernel that has
# dma-buf heaps, udmabuf and vgem, and exit with the command's exit status.
#
# Usage: tests/vm/run.sh [OPTIONS] -- CMD [ARGS...]
#   --timeout SECS      watchdog for the whole VM run, boot included (default 1800)
#   --mem MB            guest memory (default 2048; 64 MiB of it is the CMA area)
#   --scratch-mb MB     size of the ext4 scratch disk (default 256)
#   --require-devices   before CMD, fail unless /dev/dma_heap/system,
#                       /dev/dma_heap/reserved (CMA), /dev/udmabuf and a vgem
#                       DRM card (+ /dev/dri/renderD128) exist
#   -h, --help          this text
#
# What the command sees: the host's root filesystem, read-only (over 9p,
# chroot), so host-built binaries and the host's libraries just work; cwd is
# the directory run.sh was started from (same path); fresh empty tmpfs on
# /tmp, /run and /var/tmp (the cwd stays visible even if it lives under one of
# them); real /proc, /sys, /dev (devtmpfs, /dev/shm tmpfs), debugfs on
# /sys/kernel/debug, cgroup2 on /sys/fs/cgroup. Stdin is /dev/null.
# Environment: exactly PATH (the host's), HOME=/tmp, XDG_RUNTIME_DIR=/tmp/xdg
# (mode 0700), DMK_IN_VM=1, DMK_TEST_SCRATCH (a directory on a fresh ext4
# disk, where O_DIRECT works; discarded afterwards), plus every variable named
# in DMK_VM_PASSENV (space-separated names) that is set on the host.
#
# Output: the guest console (kernel warnings, the command's stdout and stderr,
# and a final `DMK-VM-EXIT=<status> <nonce>` line) is shown live on stdout.
# run.sh's own messages go to stderr, prefixed "vm: ".
#
# Exit status:
#   0-255  the command's exit status (when the guest reported it)
#   2      usage error
#   122    --require-devices: a device was missing (the message names it)
#   123    guest setup failed, e.g. a mount (the console shows which step)
#   124    watchdog: "vm: timed out after N s, killed qemu"
#   125    the VM ended without reporting a status (kernel panic, qemu error),
#          or the kernel/initramfs/disk could not be prepared
# (A command that itself exits 122-125 is indistinguishable, apart from the
# messages; tests should avoid those codes.)
#
# Environment read by run.sh: DMK_VM_PASSENV, DMK_VM_CACHE (kernel cache, see
# build-kernel.sh), DMK_VM_BUSYBOX (a static busybox, default: busybox on
# PATH), DMK_VM_QEMU (default qemu-system-x86_64), DMK_VM_KERNEL_ARGS (extra
# kernel command line, e.g. "loglevel=7" to see more of the boot).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

timeout_s=1800
mem_mb=2048
scratch_mb=256
require_devices=0

msg() { printf 'vm: %s\n' "$*" >&2; }
usage_error() { msg "$*"; msg "usage: $0 [--timeout SECS] [--mem MB] [--scratch-mb MB] [--require-devices] -- CMD [ARGS...]"; exit 2; }
need_int() { [[ $2 =~ ^[1-9][0-9]*$ ]] || usage_error "$1 needs a positive integer, got '$2'"; }

while (($#)); do
    case $1 in
        --timeout) [[ $# -ge 2 ]] || usage_error "$1 needs a value"; need_int "$1" "$2"; timeout_s=$2; shift 2 ;;
        --mem) [[ $# -ge 2 ]] || usage_error "$1 needs a value"; need_int "$1" "$2"; mem_mb=$2; shift 2 ;;
        --scratch-mb) [[ $# -ge 2 ]] || usage_error "$1 needs a value"; need_int "$1" "$2"; scratch_mb=$2; shift 2 ;;
        --require-devices) require_devices=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        --) shift; break ;;
        -*) usage_error "unknown option $1" ;;
        *) break ;;
    esac
done
(($#)) || usage_error "no command given"

qemu=${DMK_VM_QEMU:-qemu-system-x86_64}
for tool in "$qemu" timeout mkfs.ext4 readelf; do
    command -v "$tool" >/dev/null || { msg "'$tool' not found (needs qemu-system-x86, coreutils, e2fsprogs, binutils)"; exit 125; }
done
busybox=${DMK_VM_BUSYBOX:-$(command -v busybox || true)}
if [[ -z $busybox ]] || readelf -l "$busybox" 2>/dev/null | grep -q 'program interpreter'; then
    msg "need a statically linked busybox (apt-get install busybox-static), got '${busybox:-none}'"
    exit 125
fi

# Kernel: built once, then cached (see build-kernel.sh). Its stdout is the path.
kernel=$("$here/build-kernel.sh") || { msg "kernel build failed"; exit 125; }
gen_init_cpio=$(dirname "$kernel")/gen_init_cpio

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dmk-vm.XXXXXX")
qemu_pid=
reader_pid=
# shellcheck disable=SC2317 # invoked from the EXIT trap
cleanup() {
    # Stop the watchdog (and through it qemu) if we are leaving early.
    if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -TERM "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    if [[ -n $reader_pid ]]; then
        wait "$reader_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'msg "interrupted, stopping qemu"; exit 130' INT
trap 'msg "terminated, stopping qemu"; exit 143' TERM

# Quote a string for a POSIX shell (the guest's busybox sh).
shquote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
cwd=$(pwd -P)
scratch_dir=/tmp/dmk-scratch

env_assign=(
    "PATH=${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}"
    HOME=/tmp
    XDG_RUNTIME_DIR=/tmp/xdg
    DMK_IN_VM=1
    "DMK_TEST_SCRATCH=$scratch_dir"
)
for name in ${DMK_VM_PASSENV:-}; do
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || usage_error "DMK_VM_PASSENV: not a variable name: '$name'"
    if [[ -n ${!name+set} ]]; then
        env_assign+=("$name=${!name}")
    fi
done

# The per-run configuration the guest's init sources. The command runs as
#   env -i VARS... chroot /host /bin/sh -c 'cd CWD; exec CMD ARGS...'
# (busybox's chroot always changes to /, so the host's sh does the cd).
{
    printf 'DMK_NONCE=%s\n' "$(shquote "$nonce")"
    printf 'DMK_CWD=%s\n' "$(shquote "$cwd")"
    printf 'DMK_TEST_SCRATCH=%s\n' "$(shquote "$scratch_dir")"
    printf 'DMK_REQUIRE_DEVICES=%s\n' "$require_devices"
    printf 'dmk_command() {\n    /bin/env -i'
    for a in "${env_assign[@]}"; do printf ' %s' "$(shquote "$a")"; done
    # shellcheck disable=SC2016 # $1 and $@ are for the guest's shell
    printf ' /bin/chroot /host /bin/sh -c %s dmk-vm' \
        "$(shquote 'cd "$1" || { echo "vm: cannot cd to $1" >&2; exit 125; }; shift; unset OLDPWD; exec "$@"')"
    printf ' %s' "$(shquote "$cwd")"
    for a in "$@"; do printf ' %s' "$(shquote "$a")"; done
    printf '\n}\n'
} >"$tmp/run.conf"

# Initramfs: static busybox + guest-init.sh + run.conf, packed with the
# kernel's gen_init_cpio (no root needed for the /dev/console node).
{
    printf 'dir /bin 0755 0 0\ndir /dev 0755 0 0\ndir /dmk 0755 0 0\n'
    printf 'nod /dev/console 0600 0 0 c 5 1\n'
    printf 'file /bin/busybox %s 0755 0 0\n' "$busybox"
    "$busybox" --list | while read -r applet; do
        [[ $applet == busybox ]] || printf 'slink /bin/%s busybox 0777 0 0\n' "$applet"
    done
    printf 'file /init %s 0755 0 0\n' "$here/guest-init.sh"
    printf 'file /dmk/run.conf %s 0644 0 0\n' "$tmp/run.conf"
} >"$tmp/initramfs.list"
"$gen_init_cpio" "$tmp/initramfs.list" >"$tmp/initramfs.cpio" || { msg "building the initramfs failed"; exit 125; }

# Scratch disk: a sparse file with a fresh ext4 (O_DIRECT works there).
truncate -s "${scratch_mb}M" "$tmp/scratch.img"
mkfs.ext4 -F -q -L dmk-scratch "$tmp/scratch.img" || { msg "mkfs.ext4 on the scratch image failed"; exit 125; }

qemu_args=(
    -accel tcg -smp 2 -cpu max -m "$mem_mb"
    -nographic -nodefaults -serial stdio -monitor none -no-reboot
    -kernel "$kernel" -initrd "$tmp/initramfs.cpio"
    -append "console=ttyS0 quiet loglevel=4 panic=-1${DMK_VM_KERNEL_ARGS:+ $DMK_VM_KERNEL_ARGS}"
    -virtfs 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap'
    -drive "file=$tmp/scratch.img,format=raw,if=virtio"
    -device virtio-rng-pci
    # Keep SeaBIOS off the serial console: it would clear and reset the
    # user's terminal with escape codes. (qemu warns about the item's name;
    # the console filter below drops that warning.)
    -fw_cfg 'name=etc/sercon-port,string=0'
)

# Show the console live (without the serial line's \r) and keep a copy to
# parse. A fifo, rather than a pipeline, gives us qemu's pid for the traps.
mkfifo "$tmp/console"
sed -u -e 's/\r$//' -e '/warning: externally provided fw_cfg item names/d' \
    <"$tmp/console" | tee "$tmp/console.log" &
reader_pid=$!
# stdin is /dev/null: the terminal stays cooked (Ctrl-C reaches run.sh) and
# the guest never reads from it. timeout puts qemu in its own process group,
# so on Ctrl-C the INT trap stops it via cleanup().
timeout -k 10 "$timeout_s" "$qemu" "${qemu_args[@]}" </dev/null >"$tmp/console" 2>&1 &
qemu_pid=$!
rc=0
wait "$qemu_pid" || rc=$?
qemu_pid=
wait "$reader_pid" || true
reader_pid=
# The console's last line ("reboot: Restarting system") has no newline.
if [[ -s $tmp/console.log && $(tail -c 1 "$tmp/console.log" | od -An -c) != *'\n'* ]]; then
    echo
fi

if ((rc == 124 || rc == 137)); then
    msg "timed out after $timeout_s s, killed qemu"
    exit 124
fi

if status=$(grep -a -o "DMK-VM-EXIT=[0-9]* $nonce" "$tmp/console.log" | tail -n 1) && [[ -n $status ]]; then
    status=${status#DMK-VM-EXIT=}
    exit "${status%% *}"
fi
if failed=$(grep -a -o "DMK-VM-SETUP-FAILED=[0-9]* $nonce" "$tmp/console.log" | tail -n 1) && [[ -n $failed ]]; then
    code=${failed#DMK-VM-SETUP-FAILED=}
    code=${code%% *}
    why=$(grep -a '^vm-init: FAILED: ' "$tmp/console.log" | tail -n 1)
    msg "guest setup failed (code $code): ${why#vm-init: FAILED: }"
    [[ $code == 12 ]] && exit 122
    exit 123
fi
msg "VM ended without reporting an exit status (qemu exit $rc; kernel panic or crash? see the console output above)"
exit 125
