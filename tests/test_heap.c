// SPDX-License-Identifier: MIT
/* heap: allocation from every backend, the auto ladder, probes, limits. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"


/* One test per backend; each skips when the kernel lacks that backend. */
#define BACKEND_TEST(tname)						\
	static void tname##_body(const char *heap);			\
	DMK_TEST(heap, tname##_memfd) { tname##_body("memfd"); }		\
	DMK_TEST(heap, tname##_udmabuf)					\
	{ tname##_body(dmk_test_require_backend("udmabuf")); }	\
	DMK_TEST(heap, tname##_system)					\
	{ tname##_body(dmk_test_require_backend("system")); }		\
	DMK_TEST(heap, tname##_cma)						\
	{ tname##_body(dmk_test_require_backend("cma")); }		\
	static void tname##_body(const char *heap)

static uint64_t page_size(void)
{
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

static void alloc_map_check(const char *heap, uint64_t size, bool full)
{
	struct dmk_buf *b = dmk_test_alloc(heap, size, "t-size");
	uint64_t want = (size + page_size() - 1) & ~(page_size() - 1);
	unsigned char *p;
	void *addr;
	uint64_t off;
	int ret;

	cr_assert_eq(dmk_buf_size(b), want, "%s: size %llu rounded to %llu",
		     heap, (unsigned long long)size,
		     (unsigned long long)dmk_buf_size(b));
	ret = dmk_buf_map(b, &addr);
	cr_assert_eq(ret, 0, "map: %s", strerror(-ret));
	p = addr;
	cr_assert_eq(dmk_buf_begin_cpu(b, DMK_SYNC_RW), 0);
	/* New buffers read as zeroes; then a pattern survives a re-read. */
	for (off = 0; off < want; off += page_size())
		cr_assert_eq(p[off], 0, "%s: byte %llu not zero", heap,
			     (unsigned long long)off);
	if (full) {
		dmk_test_fill(p, want, (uint32_t)size);
		cr_assert(dmk_test_check(p, want, (uint32_t)size));
	} else {
		for (off = 0; off < want; off += page_size())
			p[off] = (unsigned char)(off >> 12);
		for (off = 0; off < want; off += page_size())
			cr_assert_eq(p[off], (unsigned char)(off >> 12));
	}
	cr_assert_eq(dmk_buf_end_cpu(b, DMK_SYNC_RW), 0);
	dmk_buf_put(b);
}

BACKEND_TEST(sizes)
{
	static const uint64_t sizes[] = { 1, 4095, 4096, 4097, 65536 + 1,
					  1 << 20, 8 << 20 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		alloc_map_check(heap, sizes[i], true);
}

BACKEND_TEST(size_64m)
{
	/* The default CMA area is 64 MiB in all, so ask it for less. */
	alloc_map_check(heap, dmk_heap_is_contig_name(heap) ? 16 << 20 :
			64 << 20, false);
}

BACKEND_TEST(bad_sizes)
{
	struct dmk_heap *h;
	struct dmk_buf *b = NULL;

	cr_assert_eq(dmk_heap_open(heap, NULL, &h), 0);
	cr_assert_eq(dmk_heap_alloc(h, 0, NULL, &b), -EINVAL);
	cr_assert_eq(dmk_heap_alloc(h, UINT64_MAX, NULL, &b), -EOVERFLOW);
	cr_assert_eq(dmk_heap_alloc(h, UINT64_MAX - 4096, NULL, &b),
		     -EOVERFLOW);
	cr_assert_eq(dmk_heap_alloc(h, (uint64_t)INT64_MAX + 1, NULL, &b),
		     -EOVERFLOW);
	cr_assert_null(b, "out written on failure");
	dmk_heap_close(h);
}

BACKEND_TEST(bad_flags_and_opts)
{
	struct {
		struct dmk_alloc_opts o;
		uint64_t tail;
	} big;
	struct dmk_heap *h;
	struct dmk_buf *b = NULL;
	DMK_OPTS(dmk_alloc_opts, bad_flags, .flags = 1u << 31);

	cr_assert_eq(dmk_heap_open(heap, NULL, &h), 0);
	cr_assert_eq(dmk_heap_alloc(h, 4096, &bad_flags, &b), -EINVAL);

	/* A newer caller's struct with a field we do not know: refused
	 * when set, accepted when zero. */
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.tail = 1;
	cr_assert_eq(dmk_heap_alloc(h, 4096, &big.o, &b), -EINVAL);
	big.tail = 0;
	cr_assert_eq(dmk_heap_alloc(h, 4096, &big.o, &b), 0);
	dmk_buf_put(b);
	b = NULL;

	/* A size too small to even hold the size field. */
	big.o.sz = 3;
	cr_assert_eq(dmk_heap_alloc(h, 4096, &big.o, &b), -EINVAL);
	cr_assert_null(b);
	dmk_heap_close(h);
}

BACKEND_TEST(names)
{
	char name[300], val[300];
	struct dmk_heap *h;
	struct dmk_buf *b = NULL;
	bool dmabuf = strcmp(heap, "memfd") != 0;

	b = dmk_test_alloc(heap, 4096, "cam0-frame");
	cr_assert_str_eq(dmk_buf_name(b), "cam0-frame");
	if (dmabuf) {
		cr_assert_eq(dmk_test_fdinfo(dmk_buf_fd(b), "name", val,
					     sizeof(val)), 0,
			     "no name: in fdinfo of a %s dma-buf", heap);
		cr_assert_str_eq(val, "cam0-frame");
		cr_assert_eq(dmk_buf_set_name(b, "renamed"), 0);
		cr_assert_eq(dmk_test_fdinfo(dmk_buf_fd(b), "name", val,
					     sizeof(val)), 0);
		cr_assert_str_eq(val, "renamed");
		cr_assert_str_eq(dmk_buf_name(b), "renamed");
	} else {
		char path[64];
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%d",
			 dmk_buf_fd(b));
		n = readlink(path, val, sizeof(val) - 1);
		cr_assert_gt(n, 0);
		val[n] = '\0';
		cr_assert_str_eq(val, "/memfd:cam0-frame (deleted)");
		cr_assert_eq(dmk_buf_set_name(b, "x"), -ENOTSUP);
	}
	dmk_buf_put(b);

	/* Too long: dma-buf names stop at 31 bytes, memfd names at 249. */
	memset(name, 'n', sizeof(name));
	name[dmabuf ? 32 : 250] = '\0';
	{
		DMK_OPTS(dmk_alloc_opts, ao, .name = name);

		b = NULL;
		cr_assert_eq(dmk_heap_open(heap, NULL, &h), 0);
		cr_assert_eq(dmk_heap_alloc(h, 4096, &ao, &b), -ENAMETOOLONG);
		cr_assert_null(b);
		name[dmabuf ? 31 : 249] = '\0';
		cr_assert_eq(dmk_heap_alloc(h, 4096, &ao, &b), 0);
		cr_assert_str_eq(dmk_buf_name(b), name);
		if (dmabuf)
			cr_assert_eq(dmk_buf_set_name(b, name), 0);
		dmk_buf_put(b);
		dmk_heap_close(h);
	}
}

BACKEND_TEST(identity_and_caps)
{
	struct dmk_buf *b = dmk_test_alloc(heap, 4096, NULL);
	struct stat st;
	dev_t dev;
	ino_t ino;
	unsigned int caps = dmk_buf_caps(b);

	cr_assert_str_eq(dmk_buf_name(b), "dmakit");
	cr_assert_eq(fstat(dmk_buf_fd(b), &st), 0);
	dmk_buf_identity(b, &dev, &ino);
	cr_assert_eq(dev, st.st_dev);
	cr_assert_eq(ino, st.st_ino);
	if (!strcmp(heap, "memfd")) {
		cr_assert_eq(dmk_buf_backend(b), DMK_BACKEND_MEMFD);
		cr_assert_eq(caps, DMK_CAP_PINNABLE);
		cr_assert_eq(dmk_buf_memfd(b), dmk_buf_fd(b));
	} else if (!strcmp(heap, "udmabuf")) {
		cr_assert_eq(dmk_buf_backend(b), DMK_BACKEND_UDMABUF);
		cr_assert_eq(caps, DMK_CAP_DMABUF | DMK_CAP_PINNABLE);
		cr_assert_geq(dmk_buf_memfd(b), 0);
		cr_assert_neq(dmk_buf_memfd(b), dmk_buf_fd(b));
	} else {
		cr_assert_eq(dmk_buf_backend(b), DMK_BACKEND_DMA_HEAP);
		cr_assert(caps & DMK_CAP_DMABUF);
		cr_assert_not(caps & DMK_CAP_PINNABLE);
		cr_assert_eq(!!(caps & DMK_CAP_CONTIG),
			     dmk_heap_is_contig_name(heap));
		cr_assert_eq(dmk_buf_memfd(b), -ENOENT);
	}
	/* Every fd the library made is close-on-exec. */
	cr_assert(fcntl(dmk_buf_fd(b), F_GETFD) & FD_CLOEXEC);
	if (dmk_buf_memfd(b) >= 0)
		cr_assert(fcntl(dmk_buf_memfd(b), F_GETFD) & FD_CLOEXEC);
	cr_assert(dmk_buf_writable(b));
	dmk_buf_put(b);
}

BACKEND_TEST(exp_name)
{
	struct dmk_buf *b = dmk_test_alloc(heap, 4096, NULL);
	char val[64];
	int ret = dmk_test_fdinfo(dmk_buf_fd(b), "exp_name", val, sizeof(val));

	if (!strcmp(heap, "memfd")) {
		cr_assert_eq(ret, -ENOENT, "a memfd has no exporter");
	} else {
		cr_assert_eq(ret, 0, "no exp_name in fdinfo");
		/* dma-heaps export as their heap's name, udmabuf as itself. */
		cr_assert_str_eq(val, heap);
	}
	dmk_buf_put(b);
}

DMK_TEST(heap, memfd_seals_and_populate)
{
	DMK_OPTS(dmk_alloc_opts, ao, .flags = DMK_ALLOC_POPULATE);
	struct dmk_heap *h;
	struct dmk_buf *b;
	struct stat st;
	int seals;

	cr_assert_eq(dmk_heap_open("memfd", NULL, &h), 0);
	cr_assert_eq(dmk_heap_alloc(h, 1 << 20, &ao, &b), 0);
	seals = fcntl(dmk_buf_fd(b), F_GET_SEALS);
	cr_assert_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
		     F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	cr_assert_not(seals & F_SEAL_WRITE);
	cr_assert_eq(fstat(dmk_buf_fd(b), &st), 0);
	cr_assert_geq((uint64_t)st.st_blocks * 512, 1 << 20,
		      "populate allocated %lld bytes",
		      (long long)st.st_blocks * 512);
	/* Sealed: neither we nor a peer can resize it. */
	cr_assert_eq(ftruncate(dmk_buf_fd(b), 4096), -1);
	cr_assert_eq(errno, EPERM);
	dmk_buf_put(b);
	dmk_heap_close(h);
}

DMK_TEST(heap, bad_names)
{
	static const char *const bad[] = { "", ".", "..", "../system",
					   "a/b", "/dev/dma_heap/system" };
	struct dmk_heap *h = NULL;
	char longname[NAME_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(dmk_heap_open(bad[i], NULL, &h), -EINVAL,
			     "name \"%s\"", bad[i]);
	cr_assert_eq(dmk_heap_open(NULL, NULL, &h), -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert_eq(dmk_heap_open(longname, NULL, &h), -EINVAL);
	cr_assert_eq(dmk_heap_open("no-such-heap", NULL, &h), -ENOENT);
	cr_assert_eq(dmk_heap_open("memfd", NULL, NULL), -EINVAL);
	cr_assert_null(h);
}

DMK_TEST(heap, bad_open_opts)
{
	struct {
		struct dmk_heap_opts o;
		uint32_t tail;
	} big;
	DMK_OPTS(dmk_heap_opts, unknown_need, .needs = 1u << 20);
	struct dmk_heap *h = NULL;

	cr_assert_eq(dmk_heap_open("auto", &unknown_need, &h), -EINVAL);
	memset(&big, 0, sizeof(big));
	big.o.sz = sizeof(big);
	big.tail = 7;
	cr_assert_eq(dmk_heap_open("memfd", &big.o, &h), -EINVAL);
	cr_assert_null(h);
}

DMK_TEST(heap, named_backend_lacking_needs)
{
	DMK_OPTS(dmk_heap_opts, o, .needs = DMK_CAP_DMABUF);
	struct dmk_heap *h = NULL;

	cr_assert_eq(dmk_heap_open("memfd", &o, &h), -ENOTSUP);
	cr_assert_null(h);
}

/* Find the verdict the report gives a candidate; -999 when absent. */
static int verdict_of(struct dmk_heap *h, const char *want)
{
	int i, n = dmk_heap_candidate(h, UINT_MAX, NULL, NULL, NULL);

	for (i = 0; i < n; i++) {
		const char *name, *reason;
		int v;

		dmk_heap_candidate(h, (unsigned int)i, &name, &v, &reason);
		cr_assert_not_null(reason);
		cr_assert_gt(strlen(reason), 0, "empty reason for %s", name);
		if (!strcmp(name, want))
			return v;
	}
	return -999;
}

DMK_TEST(heap, auto_no_needs_is_memfd)
{
	struct dmk_heap *h;

	cr_assert_eq(dmk_heap_open("auto", NULL, &h), 0);
	cr_assert_eq(dmk_heap_backend(h), DMK_BACKEND_MEMFD);
	cr_assert_str_eq(dmk_heap_name(h), "memfd");
	cr_assert_eq(verdict_of(h, "memfd"), 1);
	/* Present but not needed: 0; absent: said so, whatever the needs. */
	cr_assert_eq(verdict_of(h, "udmabuf"),
		     dmk_probe_udmabuf() == 1 ? 0 : -ENOENT);
	dmk_heap_close(h);
}

DMK_TEST(heap, auto_pinnable_is_memfd)
{
	DMK_OPTS(dmk_heap_opts, o, .needs = DMK_CAP_PINNABLE);
	struct dmk_heap *h;

	cr_assert_eq(dmk_heap_open("auto", &o, &h), 0);
	cr_assert_eq(dmk_heap_backend(h), DMK_BACKEND_MEMFD);
	/* The system heap is passed over for pinning, or reported absent. */
	cr_assert_eq(verdict_of(h, "system"),
		     dmk_probe_dma_heap("system") == 1 ? 0 : -ENOENT);
	dmk_heap_close(h);
}

DMK_TEST(heap, auto_dmabuf)
{
	DMK_OPTS(dmk_heap_opts, o, .needs = DMK_CAP_DMABUF);
	struct dmk_heap *h = NULL;
	int ret = dmk_heap_open("auto", &o, &h);
	int sys = dmk_probe_dma_heap("system"), udma = dmk_probe_udmabuf();

	if (sys != 1 && udma != 1) {
		/* Nothing here gives a dma-buf: refused, nothing leaked. */
		cr_assert_eq(ret, -ENOTSUP);
		cr_assert_null(h);
		return;
	}
	cr_assert_eq(ret, 0);
	if (sys == 1) {
		cr_assert_eq(dmk_heap_backend(h), DMK_BACKEND_DMA_HEAP);
		cr_assert_str_eq(dmk_heap_name(h), "system");
		cr_assert_eq(verdict_of(h, "memfd"), 0);
	} else {
		cr_assert_eq(dmk_heap_backend(h), DMK_BACKEND_UDMABUF);
		cr_assert_lt(verdict_of(h, "system"), 0);
	}
	dmk_heap_close(h);
}

DMK_TEST(heap, auto_dmabuf_pinnable_is_udmabuf)
{
	DMK_OPTS(dmk_heap_opts, o,
		 .needs = DMK_CAP_DMABUF | DMK_CAP_PINNABLE);
	struct dmk_heap *h = NULL;
	int ret = dmk_heap_open("auto", &o, &h);

	if (dmk_probe_udmabuf() != 1) {
		cr_assert_eq(ret, -ENOTSUP);
		cr_assert_null(h);
		dmk_test_require_udmabuf();	/* and say why */
	}
	cr_assert_eq(ret, 0);
	cr_assert_eq(dmk_heap_backend(h), DMK_BACKEND_UDMABUF);
	cr_assert_eq(verdict_of(h, "system"), 0);
	dmk_heap_close(h);
}

DMK_TEST(heap, auto_contig)
{
	DMK_OPTS(dmk_heap_opts, o, .needs = DMK_CAP_CONTIG);
	DMK_OPTS(dmk_heap_opts, pin,
		 .needs = DMK_CAP_CONTIG | DMK_CAP_PINNABLE);
	struct dmk_heap *h = NULL;
	int ret = dmk_heap_open("auto", &o, &h);

	/* Contiguous and pinnable: CMA must never be long-term pinned. */
	cr_assert_eq(dmk_heap_open("auto", &pin, &h), -ENOTSUP);
	if (ret == -ENOTSUP) {
		cr_assert_null(h);
		dmk_test_require_cma();
	}
	cr_assert_eq(ret, 0);
	cr_assert(dmk_heap_caps(h) & DMK_CAP_CONTIG);
	cr_assert(dmk_heap_is_contig_name(dmk_heap_name(h)));
	dmk_heap_close(h);
}

DMK_TEST(heap, auto_avoid_forces_fallback)
{
	DMK_OPTS(dmk_heap_opts, o, .avoid = 1u << DMK_BACKEND_MEMFD);
	struct dmk_heap *h = NULL;
	int ret = dmk_heap_open("auto", &o, &h);

	if (ret == 0) {
		cr_assert_neq(dmk_heap_backend(h), DMK_BACKEND_MEMFD);
		cr_assert_eq(verdict_of(h, "memfd"), 0);
		dmk_heap_close(h);
	} else {
		cr_assert_eq(ret, -ENOTSUP);
		cr_assert_neq(dmk_probe_dma_heap("system"), 1);
		cr_assert_neq(dmk_probe_udmabuf(), 1);
	}
}

DMK_TEST(heap, probes_agree_with_the_machine)
{
	cr_assert_eq(dmk_probe_memfd(), 1);
	cr_assert_eq(dmk_probe_udmabuf(), access("/dev/udmabuf", F_OK) ? 0 : 1);
	cr_assert_eq(dmk_probe_dma_heap("system"),
		     access("/dev/dma_heap/system", F_OK) ? 0 : 1);
	cr_assert_eq(dmk_probe_dma_heap(NULL),
		     access("/dev/dma_heap", F_OK) ? 0 : 1);
	cr_assert_eq(dmk_probe_dma_heap("no-such-heap"), 0);
	cr_assert_eq(dmk_probe_dma_heap("../udmabuf"), -EINVAL);
}

static int count_entry(const char *name, void *user)
{
	int *n = user;

	cr_assert_neq(name[0], '.');
	(*n)++;
	return 0;
}

static int stop_at_first(const char *name, void *user)
{
	(void)name;
	(void)user;
	return 42;
}

DMK_TEST(heap, enumerate)
{
	int n = 0, ret = dmk_heap_enumerate(count_entry, &n);
	int expect = 0;
	DIR *d = opendir("/dev/dma_heap");
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)))
			expect += de->d_name[0] != '.';
		closedir(d);
	}
	cr_assert_eq(ret, expect);
	cr_assert_eq(n, expect);
	cr_assert_eq(dmk_heap_enumerate(NULL, NULL), -EINVAL);
	if (expect)
		cr_assert_eq(dmk_heap_enumerate(stop_at_first, NULL), 42);
}

DMK_TEST(heap, udmabuf_limits)
{
	uint64_t size = 0;
	unsigned int list = 0;
	int ret = dmk_udmabuf_limits(&size, &list);

	if (dmk_probe_udmabuf() != 1) {
		cr_assert_lt(ret, 0);
		dmk_test_require_udmabuf();
	}
	cr_assert_eq(ret, 0, "%s", strerror(-ret));
	cr_assert_gt(size, 0);
	cr_assert_gt(list, 0);
	cr_assert_eq(dmk_udmabuf_limits(NULL, NULL), 0);
}

DMK_TEST(heap, close_null_and_buffers_outlive_heap)
{
	struct dmk_heap *h;
	struct dmk_buf *b;
	void *p;

	dmk_heap_close(NULL);
	cr_assert_eq(dmk_heap_open("memfd", NULL, &h), 0);
	cr_assert_eq(dmk_heap_alloc(h, 4096, NULL, &b), 0);
	dmk_heap_close(h);
	cr_assert_eq(dmk_buf_map(b, &p), 0);
	memset(p, 0xab, 4096);
	dmk_buf_put(b);
}

/*
 * Freed pages go back to the kernel and must never come back to anyone
 * with old contents: allocate, dirty, free, many times, and check each new
 * buffer reads as zeroes.
 */
BACKEND_TEST(recycled_buffers_are_zeroed)
{
	struct dmk_heap *h;
	int round;

	cr_assert_eq(dmk_heap_open(heap, NULL, &h), 0);
	for (round = 0; round < 16; round++) {
		struct dmk_buf *b;
		unsigned char *p;
		void *addr;
		size_t i;

		cr_assert_eq(dmk_heap_alloc(h, 1 << 20, NULL, &b), 0);
		cr_assert_eq(dmk_buf_map(b, &addr), 0);
		p = addr;
		cr_assert_eq(dmk_buf_begin_cpu(b, DMK_SYNC_RW), 0);
		for (i = 0; i < 1 << 20; i += 64)
			cr_assert_eq(p[i], 0, "round %d: stale byte at %zu",
				     round, i);
		memset(p, 0xc3, 1 << 20);
		cr_assert_eq(dmk_buf_end_cpu(b, DMK_SYNC_RW), 0);
		dmk_buf_put(b);
	}
	dmk_heap_close(h);
}

DMK_TEST(heap, cma_exhaustion_is_enomem)
{
	const char *cma = dmk_test_require_cma();
	struct dmk_heap *h;
	struct dmk_buf *b = NULL;

	/* More than the whole CMA area (64 MiB in the VM tier). */
	cr_assert_eq(dmk_heap_open(cma, NULL, &h), 0);
	cr_assert_eq(dmk_heap_alloc(h, 1ull << 30, NULL, &b), -ENOMEM);
	cr_assert_null(b);
	dmk_heap_close(h);
}

static int test_memfd(off_t size, int seals)
{
	int fd = memfd_create("udmabuf-src", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, size), 0);
	if (seals)
		cr_assert_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* The cases of the kernel's own udmabuf selftest, through dmakit. */
DMK_TEST(heap, udmabuf_create_kernel_rules)
{
	uint64_t pg = page_size(), limit;
	struct dmk_buf *b = NULL;
	int ok, unsealed, wsealed, nul, big;

	dmk_test_require_udmabuf();
	cr_assert_eq(dmk_udmabuf_limits(&limit, NULL), 0);
	ok = test_memfd((off_t)(4 * pg), F_SEAL_SHRINK);
	unsealed = test_memfd((off_t)(4 * pg), 0);
	wsealed = test_memfd((off_t)(4 * pg), F_SEAL_SHRINK | F_SEAL_WRITE);
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	cr_assert_eq(dmk_udmabuf_create(unsealed, 0, pg, 0, &b), -EINVAL,
		     "memfd without F_SEAL_SHRINK");
	cr_assert_eq(dmk_udmabuf_create(wsealed, 0, pg, 0, &b), -EINVAL,
		     "memfd with F_SEAL_WRITE");
	cr_assert_eq(dmk_udmabuf_create(ok, pg / 2, pg, 0, &b), -EINVAL,
		     "offset not page-aligned");
	cr_assert_eq(dmk_udmabuf_create(ok, 0, pg + 1, 0, &b), -EINVAL,
		     "size not page-aligned");
	cr_assert_eq(dmk_udmabuf_create(ok, 0, 0, 0, &b), -EINVAL, "size 0");
	cr_assert_eq(dmk_udmabuf_create(ok, 0, 8 * pg, 0, &b), -EINVAL,
		     "range past the end of the memfd");
	cr_assert_eq(dmk_udmabuf_create(nul, 0, pg, 0, &b), -EBADFD,
		     "not a memfd");
	cr_assert_eq(dmk_udmabuf_create(-1, 0, pg, 0, &b), -EBADF);
	cr_assert_eq(dmk_udmabuf_create(ok, 0, pg, 1, &b), -EINVAL, "flags");
	cr_assert_null(b);

	/* Past size_limit_mb: refused before any page is touched. */
	big = test_memfd((off_t)(limit + pg), F_SEAL_SHRINK);
	cr_assert_eq(dmk_udmabuf_create(big, 0, limit + pg, 0, &b), -EINVAL,
		     "over size_limit_mb");

	/* A range in the middle: the CPU mapping starts at the offset. */
	{
		unsigned char *src, *p;
		void *addr;

		src = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED,
			   ok, 0);
		cr_assert_neq(src, MAP_FAILED);
		memset(src + pg, 0x11, pg);
		memset(src + 2 * pg, 0x22, pg);
		cr_assert_eq(dmk_udmabuf_create(ok, pg, 2 * pg, 0, &b), 0);
		cr_assert_eq(dmk_buf_size(b), 2 * pg);
		cr_assert_eq(dmk_buf_memfd_offset(b), pg);
		cr_assert_str_eq(dmk_buf_name(b), "udmabuf-src");
		cr_assert_eq(dmk_buf_map(b, &addr), 0);
		p = addr;
		cr_assert_eq(p[0], 0x11);
		cr_assert_eq(p[pg], 0x22);
		munmap(src, 4 * pg);
		dmk_buf_put(b);
	}
	close(ok);
	close(unsealed);
	close(wsealed);
	close(nul);
	close(big);
}

DMK_TEST(heap, udmabuf_create_without_device)
{
	struct dmk_buf *b = NULL;
	int fd = test_memfd(4096, F_SEAL_SHRINK);

	if (dmk_probe_udmabuf() == 1) {
		cr_assert_eq(dmk_udmabuf_create(fd, 0, 4096, 0, &b), 0);
		dmk_buf_put(b);
	} else {
		cr_assert_eq(dmk_udmabuf_create(fd, 0, 4096, 0, &b), -ENOENT);
		cr_assert_null(b);
	}
	close(fd);
}

struct seen {
	int n;
	int chosen;
	char names[16][64];
};

static void record(const char *name, int verdict, const char *reason,
		   void *user)
{
	struct seen *s = user;

	cr_assert_not_null(reason);
	if (verdict == 1)
		s->chosen++;
	if (s->n < 16)
		snprintf(s->names[s->n++], 64, "%s", name);
}

DMK_TEST(heap, report_callback_on_success_and_failure)
{
	struct seen ok = { 0 }, bad = { 0 };
	DMK_OPTS(dmk_heap_opts, o, .report = record, .report_user = &ok);
	DMK_OPTS(dmk_heap_opts, f, .needs = DMK_CAP_CONTIG | DMK_CAP_PINNABLE,
		 .report = record, .report_user = &bad);
	struct dmk_heap *h = NULL;

	cr_assert_eq(dmk_heap_open("auto", &o, &h), 0);
	cr_assert_eq(ok.n, dmk_heap_candidate(h, UINT_MAX, NULL, NULL, NULL));
	cr_assert_eq(ok.chosen, 1);
	cr_assert_str_eq(ok.names[0], "memfd");
	dmk_heap_close(h);
	h = NULL;
	/* Nothing can serve: no heap comes back, the report still does. */
	cr_assert_eq(dmk_heap_open("auto", &f, &h), -ENOTSUP);
	cr_assert_null(h);
	cr_assert_geq(bad.n, 3);
	cr_assert_eq(bad.chosen, 0);
}
