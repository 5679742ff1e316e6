// SPDX-License-Identifier: MIT
/* buf: import validation, mapping, CPU-access brackets, refcount, log. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "helpers.h"

static int sealed_memfd(const char *name, off_t size, int seals)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	cr_assert_geq(fd, 0, "memfd_create: %s", strerror(errno));
	cr_assert_eq(ftruncate(fd, size), 0);
	if (seals)
		cr_assert_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

static void expect_refused(int fd, int err, const char *what)
{
	struct dmk_buf *b = NULL;
	int ret = dmk_buf_import(fd, 0, NULL, &b);

	cr_assert_eq(ret, err, "import of %s: got %d (%s), want %d (%s)",
		     what, ret, strerror(-ret), err, strerror(-err));
	cr_assert_null(b, "import of %s wrote *out on failure", what);
}

DMK_TEST(buf, import_rejects_pipe_and_socket)
{
	int p[2], s[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	expect_refused(p[0], -ENOTSUP, "a pipe");
	expect_refused(p[1], -ENOTSUP, "a pipe's write end");
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s),
		     0);
	expect_refused(s[0], -ENOTSUP, "a socket");
	close(p[0]);
	close(p[1]);
	close(s[0]);
	close(s[1]);
}

DMK_TEST(buf, import_rejects_files_dirs_devices)
{
	char path[] = "/tmp/dmk-import-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC), dfd, nul;

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(ftruncate(fd, 8192), 0);
	/* /tmp may be tmpfs: a shmem file that is not a memfd is refused
	 * too, since it cannot be sealed. */
	expect_refused(fd, -ENOTSUP, "a regular file");
	close(fd);

	dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	expect_refused(dfd, -EISDIR, "a directory");
	close(dfd);

	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	cr_assert_geq(nul, 0);
	expect_refused(nul, -ENOTSUP, "/dev/null");
	close(nul);
}

DMK_TEST(buf, import_rejects_bad_fds)
{
	int fd = sealed_memfd("closed", 4096, F_SEAL_SHRINK);

	close(fd);
	expect_refused(fd, -EBADF, "a closed fd");
	expect_refused(-1, -EBADF, "fd -1");
	expect_refused(INT32_MAX, -EBADF, "fd INT32_MAX");
}

DMK_TEST(buf, import_rejects_unsealed_memfd)
{
	int fd = sealed_memfd("unsealed", 4096, 0);
	int grow_only = sealed_memfd("grow-only", 4096, F_SEAL_GROW);
	int nosealing = memfd_create("no-sealing", MFD_CLOEXEC);

	/* Without F_SEAL_SHRINK the peer could truncate it under us. */
	expect_refused(fd, -EPERM, "an unsealed memfd");
	expect_refused(grow_only, -EPERM, "a memfd sealed only against growth");
	cr_assert_eq(ftruncate(nosealing, 4096), 0);
	expect_refused(nosealing, -EPERM, "a memfd that cannot be sealed");
	close(fd);
	close(grow_only);
	close(nosealing);
}

DMK_TEST(buf, import_sealed_memfd_true_size)
{
	int fd = sealed_memfd("peer-frame", 12345, F_SEAL_SHRINK | F_SEAL_GROW);
	struct dmk_buf *b = NULL;
	struct stat st;
	dev_t dev;
	ino_t ino;
	void *p;

	cr_assert_eq(dmk_buf_import(fd, 0, NULL, &b), 0);
	/* The size comes from the fd, not from anyone's claim. */
	cr_assert_eq(dmk_buf_size(b), 12345);
	cr_assert_eq(dmk_buf_backend(b), DMK_BACKEND_IMPORTED_MEMFD);
	cr_assert_eq(dmk_buf_caps(b), DMK_CAP_PINNABLE);
	cr_assert_str_eq(dmk_buf_name(b), "peer-frame");
	cr_assert_neq(dmk_buf_fd(b), fd, "import must hold its own dup");
	cr_assert(fcntl(dmk_buf_fd(b), F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(fstat(fd, &st), 0);
	dmk_buf_identity(b, &dev, &ino);
	cr_assert_eq(dev, st.st_dev);
	cr_assert_eq(ino, st.st_ino);
	cr_assert(dmk_buf_writable(b));
	cr_assert_eq(dmk_buf_map(b, &p), 0);
	memset(p, 0x5a, 12345);
	/* Closing the caller's fd does not affect the buffer. */
	close(fd);
	cr_assert_eq(((unsigned char *)p)[12344], 0x5a);
	dmk_buf_put(b);
}

DMK_TEST(buf, import_min_size_and_empty)
{
	DMK_OPTS(dmk_buf_import_opts, o, .min_size = 8193);
	int fd = sealed_memfd("short", 8192, F_SEAL_SHRINK);
	int empty = sealed_memfd("empty", 0, F_SEAL_SHRINK);
	struct dmk_buf *b = NULL;

	cr_assert_eq(dmk_buf_import(fd, 0, &o, &b), -ERANGE);
	o.min_size = 8192;
	cr_assert_eq(dmk_buf_import(fd, 0, &o, &b), 0);
	dmk_buf_put(b);
	b = NULL;
	expect_refused(empty, -ENODATA, "an empty memfd");
	close(fd);
	close(empty);
}

DMK_TEST(buf, import_bad_flags_and_opts)
{
	struct {
		struct dmk_buf_import_opts o;
		uint32_t tail;
	} big;
	DMK_OPTS(dmk_buf_import_opts, named, .name = "x");
	int fd = sealed_memfd("opts", 4096, F_SEAL_SHRINK);
	struct dmk_buf *b = NULL;

	cr_assert_eq(dmk_buf_import(fd, 1, NULL, &b), -EINVAL);
	cr_assert_eq(dmk_buf_import(fd, 0x80000000u, NULL, &b), -EINVAL);
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.tail = 1;
	cr_assert_eq(dmk_buf_import(fd, 0, &big.o, &b), -EINVAL);
	cr_assert_eq(dmk_buf_import(fd, 0, NULL, NULL), -EINVAL);
	/* A memfd's name is fixed at creation. */
	cr_assert_eq(dmk_buf_import(fd, 0, &named, &b), -ENOTSUP);
	cr_assert_null(b);
	close(fd);
}

DMK_TEST(buf, import_read_only)
{
	int fd = sealed_memfd("ro", 4096, F_SEAL_SHRINK);
	int wsealed = sealed_memfd("wsealed", 4096,
				   F_SEAL_SHRINK | F_SEAL_WRITE);
	char path[64];
	struct dmk_buf *b;
	int rofd;
	void *p;

	/* A read-only fd to the same memfd maps read-only. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rofd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(rofd, 0);
	cr_assert_eq(dmk_buf_import(rofd, 0, NULL, &b), 0);
	cr_assert_not(dmk_buf_writable(b));
	cr_assert_eq(dmk_buf_map(b, &p), 0);
	cr_assert_eq(((volatile unsigned char *)p)[0], 0);
	dmk_buf_put(b);

	/* So does one sealed against writes. */
	cr_assert_eq(dmk_buf_import(wsealed, 0, NULL, &b), 0);
	cr_assert_not(dmk_buf_writable(b));
	cr_assert_eq(dmk_buf_map(b, &p), 0);
	dmk_buf_put(b);
	close(rofd);
	close(fd);
	close(wsealed);
}

DMK_TEST(buf, import_heap_dmabuf)
{
	const char *heap = dmk_test_require_backend("system");
	struct dmk_buf *own = dmk_test_alloc(heap, 1 << 20, "exported");
	struct dmk_buf *b;
	dev_t d1, d2;
	ino_t i1, i2;

	cr_assert_eq(dmk_buf_import(dmk_buf_fd(own), 0, NULL, &b), 0);
	cr_assert_eq(dmk_buf_backend(b), DMK_BACKEND_IMPORTED_DMABUF);
	cr_assert_eq(dmk_buf_caps(b), DMK_CAP_DMABUF);
	cr_assert_eq(dmk_buf_size(b), 1 << 20);
	cr_assert_str_eq(dmk_buf_name(b), "exported");
	dmk_buf_identity(own, &d1, &i1);
	dmk_buf_identity(b, &d2, &i2);
	cr_assert_eq(d1, d2);
	cr_assert_eq(i1, i2);
	dmk_buf_put(b);
	dmk_buf_put(own);
}

DMK_TEST(buf, import_udmabuf_keeps_no_memfd)
{
	struct dmk_buf *own, *b;

	dmk_test_require_udmabuf();
	own = dmk_test_alloc("udmabuf", 4096, "u");
	cr_assert_eq(dmk_buf_import(dmk_buf_fd(own), 0, NULL, &b), 0);
	cr_assert_eq(dmk_buf_backend(b), DMK_BACKEND_IMPORTED_DMABUF);
	cr_assert_eq(dmk_buf_memfd(b), -ENOENT);
	dmk_buf_put(b);
	/* Its memfd, imported on its own, is a sealed memfd. */
	cr_assert_eq(dmk_buf_import(dmk_buf_memfd(own), 0, NULL, &b), 0);
	cr_assert_eq(dmk_buf_backend(b), DMK_BACKEND_IMPORTED_MEMFD);
	dmk_buf_put(b);
	dmk_buf_put(own);
}

static void brackets(const char *heap)
{
	static const unsigned int bad[] = { 0, 4, 5, 8, 0x80000000u, ~0u };
	struct dmk_buf *b = dmk_test_alloc(heap, 1 << 16, "sync");
	unsigned char *p;
	void *addr;
	size_t i;

	cr_assert_eq(dmk_buf_map(b, &addr), 0);
	p = addr;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(dmk_buf_begin_cpu(b, bad[i]), -EINVAL,
			     "begin dir 0x%x", bad[i]);
		cr_assert_eq(dmk_buf_end_cpu(b, bad[i]), -EINVAL,
			     "end dir 0x%x", bad[i]);
	}
	cr_assert_eq(dmk_buf_begin_cpu(b, DMK_SYNC_WRITE), 0);
	dmk_test_fill(p, 1 << 16, 7);
	cr_assert_eq(dmk_buf_end_cpu(b, DMK_SYNC_WRITE), 0);
	cr_assert_eq(dmk_buf_begin_cpu(b, DMK_SYNC_READ), 0);
	cr_assert(dmk_test_check(p, 1 << 16, 7));
	cr_assert_eq(dmk_buf_end_cpu(b, DMK_SYNC_READ), 0);
	cr_assert_eq(dmk_buf_begin_cpu(b, DMK_SYNC_RW), 0);
	cr_assert_eq(dmk_buf_end_cpu(b, DMK_SYNC_RW), 0);
	dmk_buf_put(b);
}

DMK_TEST(buf, cpu_brackets_memfd)
{
	brackets("memfd");
}

DMK_TEST(buf, cpu_brackets_udmabuf)
{
	brackets(dmk_test_require_backend("udmabuf"));
}

DMK_TEST(buf, cpu_brackets_system)
{
	brackets(dmk_test_require_backend("system"));
}

DMK_TEST(buf, cpu_brackets_cma)
{
	brackets(dmk_test_require_backend("cma"));
}

DMK_TEST(buf, refcount_and_shared_mapping)
{
	struct dmk_buf *b = dmk_test_alloc("memfd", 4096, "rc");
	void *p1, *p2;
	int fd = dmk_buf_fd(b);

	cr_assert_eq(dmk_buf_get(b), b);
	cr_assert_eq(dmk_buf_map(b, &p1), 0);
	cr_assert_eq(dmk_buf_map(b, &p2), 0);
	cr_assert_eq(p1, p2, "one mapping per buffer");
	dmk_buf_put(b);
	/* Still alive: one reference left. */
	cr_assert_geq(fcntl(fd, F_GETFD), 0);
	memset(p1, 1, 4096);
	dmk_buf_put(b);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "last put closes the fd");
	dmk_buf_put(NULL);
}

struct race {
	struct dmk_buf *b;
	void *addr;
};

static void *map_thread(void *arg)
{
	struct race *r = arg;

	cr_assert_eq(dmk_buf_map(r->b, &r->addr), 0);
	return NULL;
}

DMK_TEST(buf, concurrent_map_yields_one_mapping)
{
	struct race r[4];
	pthread_t t[4];
	int round, i;

	for (round = 0; round < 50; round++) {
		struct dmk_buf *b = dmk_test_alloc("memfd", 1 << 16, "race");

		for (i = 0; i < 4; i++) {
			r[i].b = b;
			cr_assert_eq(pthread_create(&t[i], NULL, map_thread,
						    &r[i]), 0);
		}
		for (i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		for (i = 1; i < 4; i++)
			cr_assert_eq(r[i].addr, r[0].addr);
		dmk_buf_put(b);
	}
}

static char logged[256];

static void capture_log(enum dmk_log_level level, const char *fmt,
			va_list ap, void *user)
{
	(void)level;
	*(int *)user += 1;
	vsnprintf(logged, sizeof(logged), fmt, ap);
}

DMK_TEST(buf, log_is_silent_unless_asked)
{
	int calls = 0, p[2];
	struct dmk_buf *b;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	/* Default: nothing.  Then debug messages reach the callback. */
	cr_assert_eq(dmk_buf_import(p[0], 0, NULL, &b), -ENOTSUP);
	dmk_set_log(capture_log, &calls, DMK_LOG_WARN);
	cr_assert_eq(dmk_buf_import(p[0], 0, NULL, &b), -ENOTSUP);
	cr_assert_eq(calls, 0, "debug message above the WARN level");
	dmk_set_log(capture_log, &calls, DMK_LOG_DEBUG);
	cr_assert_eq(dmk_buf_import(p[0], 0, NULL, &b), -ENOTSUP);
	cr_assert_eq(calls, 1);
	cr_assert(strstr(logged, "neither a dma-buf nor a memfd"), "%s",
		  logged);
	dmk_set_log(NULL, NULL, DMK_LOG_ERROR);
	close(p[0]);
	close(p[1]);
}

DMK_TEST(buf, backend_names)
{
	cr_assert_str_eq(dmk_backend_name(DMK_BACKEND_DMA_HEAP), "dma-heap");
	cr_assert_str_eq(dmk_backend_name(DMK_BACKEND_UDMABUF), "udmabuf");
	cr_assert_str_eq(dmk_backend_name(DMK_BACKEND_MEMFD), "memfd");
	cr_assert_str_eq(dmk_backend_name((enum dmk_backend)99), "none");
	cr_assert_str_eq(dmk_strerror(-ENOENT), strerror(ENOENT));
	cr_assert_str_eq(dmk_version(), "0.1.0");
}

DMK_TEST(buf, import_rejects_shm_file)
{
	static const char *const dirs[] = { "/dev/shm", "/tmp", "/run" };
	char path[64];
	struct statfs sfs;
	size_t i;
	int fd = -1;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && fd < 0; i++) {
		if (statfs(dirs[i], &sfs) || sfs.f_type != TMPFS_MAGIC)
			continue;
		snprintf(path, sizeof(path), "%s/dmk-import-XXXXXX", dirs[i]);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0)	/* a machine layout, not a kernel feature */
		cr_skip_test("no writable tmpfs in /dev/shm, /tmp or /run");
	cr_assert_eq(ftruncate(fd, 8192), 0);
	/* Looks like a memfd (tmpfs, shmem) but is not one. */
	expect_refused(fd, -ENOTSUP, "a tmpfs file");
	close(fd);
}
