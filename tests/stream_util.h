/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the stream and y4m suites: a scratch directory on a real
 * filesystem, files of known bytes, dropping root's DAC override so that
 * permission errors are real, and a seccomp filter that makes io_uring
 * look disabled.  Static: each suite includes this once.
 */
#ifndef DMK_TEST_STREAM_UTIL_H
#define DMK_TEST_STREAM_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helpers.h"

/* A fresh directory, on $DMK_TEST_SCRATCH (the VM tier's ext4 disk) or
 * /var/tmp or /tmp; removed with everything in it by scratch_done(). */
struct scratch {
	char dir[512];
};

static inline void scratch_init(struct scratch *sc)
{
	const char *bases[] = { getenv("DMK_TEST_SCRATCH"), "/var/tmp",
				"/tmp" };
	size_t i;

	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (!bases[i] || !bases[i][0])
			continue;
		snprintf(sc->dir, sizeof(sc->dir), "%s/dmk-stream-XXXXXX",
			 bases[i]);
		if (mkdtemp(sc->dir))
			return;
	}
	cr_assert_fail("no scratch directory: %s", strerror(errno));
}

static inline const char *scratch_path(struct scratch *sc, const char *name,
				       char *buf, size_t len)
{
	if (snprintf(buf, len, "%s/%s", sc->dir, name) >= (int)len)
		cr_assert_fail("path too long");
	return buf;
}

static inline void scratch_done(struct scratch *sc)
{
	char cmd[600];

	/* Permissions may have been taken away from files in it. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sc->dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", sc->dir);
}

/* Write @len bytes of @data to a new file @path (mode 0644). */
static inline void write_file(const char *path, const void *data, size_t len)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	while (len) {
		ssize_t n = write(fd, p, len);

		cr_assert_gt(n, 0, "write %s: %s", path, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	cr_assert_eq(close(fd), 0);
}

/* The whole of @path, malloc'd; its length in *@len. */
static inline unsigned char *read_file(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *p;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(p);
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, p + off, (size_t)st.st_size - off);

		cr_assert_gt(n, 0, "read %s", path);
		off += (size_t)n;
	}
	close(fd);
	*len = off;
	return p;
}

/* A file of @len pattern bytes (seed @seed); the bytes, malloc'd. */
static inline unsigned char *pattern_file(const char *path, size_t len,
					  uint32_t seed)
{
	unsigned char *p = malloc(len ? len : 1);

	cr_assert_not_null(p);
	dmk_test_fill(p, len, seed);
	write_file(path, p, len);
	return p;
}

/*
 * Give up CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER, so that a
 * root test process meets file permissions like anyone else (the test runs
 * in its own process).  A no-op for a process without them.
 */
static inline void drop_dac_override(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct d[2];
	unsigned int drop = (1u << CAP_DAC_OVERRIDE) |
			    (1u << CAP_DAC_READ_SEARCH) | (1u << CAP_FOWNER);

	cr_assert_eq(syscall(SYS_capget, &h, d), 0);
	d[0].effective &= ~drop;
	cr_assert_eq(syscall(SYS_capset, &h, d), 0, "capset: %s",
		     strerror(errno));
}

/* From here on io_uring_setup() fails with @err, as it does with
 * kernel.io_uring_disabled=2 (EPERM) or without CONFIG_IO_URING (ENOSYS). */
static inline void deny_io_uring(int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | ((unsigned int)err &
					      SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(f) / sizeof(f[0]),
		.filter = f,
	};

	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0,
		     "seccomp: %s", strerror(errno));
}

/* A pool of @count buffers from memfd, raw (@layout NULL) or laid out. */
static inline struct dmk_pool *test_pool(const char *heap, unsigned int count,
					 uint64_t size,
					 const struct dmk_frame_layout *layout)
{
	DMK_OPTS(dmk_pool_opts, po, .name = "tstream", .buf_size = size,
		 .layout = layout);
	struct dmk_heap *h;
	struct dmk_pool *p;
	int ret;

	ret = dmk_heap_open(heap, NULL, &h);
	cr_assert_eq(ret, 0, "dmk_heap_open(%s): %s", heap, strerror(-ret));
	ret = dmk_pool_new(h, count, &po, &p);
	dmk_heap_close(h);
	cr_assert_eq(ret, 0, "dmk_pool_new: %s", strerror(-ret));
	return p;
}

#endif /* DMK_TEST_STREAM_UTIL_H */
