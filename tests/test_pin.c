// SPDX-License-Identifier: MIT
/*
 * pin: which buffer mappings the kernel can pin, checked against what
 * dmk_buf_caps() claims (DMK_CAP_PINNABLE).
 *
 * Pinning is get_user_pages() on the mapping: io_uring registered buffers
 * take a long-term pin, O_DIRECT a short one.  dma-buf mappings are
 * VM_PFNMAP (the system heap; udmabuf since 6.11) and cannot be pinned;
 * memfd pages can.  Each case logs one line with what the kernel said
 * (cr_log_info, shown with --verbose), so the VM tier's log records the
 * findings for drivers-notes/ along with the kernel release.
 *
 * Expected on Linux 6.1 (DESIGN.md, "Hard facts"):
 *   source                      register_buffers   O_DIRECT read
 *   memfd mapping               works              works
 *   udmabuf via dmk_buf_map()   works (memfd)      works
 *   udmabuf's dma-buf mapping   EOPNOTSUPP         works   (recorded only)
 *   system heap mapping         EFAULT             EFAULT
 *   CMA heap mapping            never tried        works
 *
 * Found here on 6.1.192: a udmabuf whose memfd pages sit in the CMA area
 * (movable allocations may use it) cannot be long-term pinned: the pin must
 * migrate them out of CMA, and migration fails while udmabuf holds its
 * page references, so register_buffers gives ENOMEM on either mapping.  A
 * plain memfd's pages migrate and the pin works.  udmabuf_after_cma makes
 * that happen on purpose.
 *
 * The O_DIRECT file lives in $DMK_TEST_SCRATCH (the VM tier's ext4 disk),
 * else in ".", /var/tmp or /tmp, whichever takes O_DIRECT; it is unlinked
 * as soon as it is created.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <linux/magic.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "helpers.h"

/*
 * Every offset and length is a multiple of 64 KiB, so of any logical block
 * size O_DIRECT may ask for (st_blksize is checked against it).
 */
#define PIN_ALIGN	(64u << 10)
#define BUF_SIZE	(1u << 20)
#define FILE_SIZE	(256u << 10)
#define IO_LEN		(64u << 10)
/* io_uring READ_FIXED: file [FIXED_FOFF, +IO_LEN) -> buffer FIXED_BOFF */
#define FIXED_FOFF	(128u << 10)
#define FIXED_BOFF	(256u << 10)
/* O_DIRECT pread(): file [DIRECT_FOFF, +IO_LEN) -> buffer DIRECT_BOFF */
#define DIRECT_FOFF	(64u << 10)
#define DIRECT_BOFF	(640u << 10)
#define FILE_SEED	0x5eedu
#define BUF_SEED	0xb0fu

/* What a case expects of one operation. */
enum pin_expect {
	PIN_WORKS,	/* asserted: succeeds and delivers the file's bytes */
	PIN_FAILS,	/* asserted: fails (the errno is logged) */
	PIN_RECORD,	/* logged only: it changed across kernel releases */
	PIN_NEVER,	/* not even tried (CMA + long-term pin) */
};

/* A result not yet known: the operation was not reached. */
#define PIN_NOT_RUN	INT_MIN

struct pin_file {
	int fd;			/* O_DIRECT, read-write, already unlinked */
	unsigned char *data;	/* the file's FILE_SIZE bytes */
	char where[PATH_MAX];	/* its directory, for the log */
};

static const char *kernel_release(void)
{
	static struct utsname u;

	if (!u.release[0] && uname(&u))
		snprintf(u.release, sizeof(u.release), "unknown");
	return u.release;
}

/* "ok", or the errno's name ("EFAULT") for a negative @ret. */
static const char *result_name(int ret)
{
	const char *n;

	if (ret == PIN_NOT_RUN)
		return "not reached";
	if (ret >= 0)
		return "ok";
	n = strerrorname_np(-ret);
	return n ? n : "unknown errno";
}

/*
 * Create an O_DIRECT file in @dir holding @f->data.  0, or -errno when
 * @dir cannot serve (it is then left as it was found), with @why set to
 * the reason in words.
 */
static int pin_file_try(struct pin_file *f, const char *dir,
			const char **why)
{
	char path[PATH_MAX];
	struct statfs sfs;
	struct stat st;
	ssize_t n;
	int fd, err;

	*why = NULL;
	if (snprintf(path, sizeof(path), "%s/dmk-pin-XXXXXX", dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		/*
		 * Filesystems without O_DIRECT refuse it only after the file
		 * was created (tmpfs before 6.6): remove what O_EXCL made.
		 */
		if (err == -EINVAL)
			unlink(path);
		return err;
	}
	unlink(path);
	err = -EINVAL;
	/*
	 * tmpfs takes O_DIRECT since 6.6, but serves it by copying through
	 * the page cache: nothing is pinned, so it proves nothing here.
	 */
	if (fstatfs(fd, &sfs) || sfs.f_type == TMPFS_MAGIC ||
	    sfs.f_type == RAMFS_MAGIC) {
		*why = "tmpfs/ramfs (its O_DIRECT copies, pins nothing)";
		goto err_close;
	}
	if (fstat(fd, &st) || st.st_blksize <= 0 ||
	    PIN_ALIGN % (unsigned long)st.st_blksize) {
		*why = "block size does not divide 64 KiB";
		goto err_close;
	}
	n = pwrite(fd, f->data, FILE_SIZE, 0);
	if (n != FILE_SIZE) {
		err = n < 0 ? -errno : -EIO;
		goto err_close;
	}
	f->fd = fd;
	snprintf(f->where, sizeof(f->where), "%s", dir);
	return 0;

err_close:
	close(fd);
	return err;
}

/* Open the O_DIRECT file, or skip: no filesystem here takes O_DIRECT. */
static void pin_file_open(struct pin_file *f)
{
	const char *dirs[] = { getenv("DMK_TEST_SCRATCH"), ".", "/var/tmp",
			       "/tmp" };
	char why[512] = "";
	size_t i, len = 0;
	void *data;

	cr_assert_eq(posix_memalign(&data, PIN_ALIGN, FILE_SIZE), 0);
	f->data = data;
	f->fd = -1;
	dmk_test_fill(f->data, FILE_SIZE, FILE_SEED);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		const char *reason;
		int ret;

		if (!dirs[i] || !dirs[i][0])
			continue;
		ret = pin_file_try(f, dirs[i], &reason);
		if (!ret)
			return;
		if (len < sizeof(why))
			len += snprintf(why + len, sizeof(why) - len,
					" %s: %s;", dirs[i], reason ? reason :
					result_name(ret));
	}
	free(f->data);
	f->data = NULL;
	cr_log_info("pin: O_DIRECT candidates:%s", why);
	dmk_test_require(0, "no filesystem with O_DIRECT (tried "
			 "$DMK_TEST_SCRATCH, ., /var/tmp, /tmp; tmpfs does "
			 "not count)");
}

static void pin_file_close(struct pin_file *f)
{
	close(f->fd);
	free(f->data);
}

static void ring_open(struct io_uring *ring)
{
	int ret = io_uring_queue_init(4, ring, 0);

	/* -ENOSYS: no CONFIG_IO_URING; -EPERM: kernel.io_uring_disabled. */
	if (ret < 0)
		dmk_test_require(ret, "io_uring_queue_init");
}

/* One IORING_OP_READ_FIXED from registered buffer 0: bytes or -errno. */
static int read_fixed(struct io_uring *ring, int fd, void *dst,
		      unsigned int len, off_t off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int ret;

	cr_assert_not_null(sqe);
	io_uring_prep_read_fixed(sqe, fd, dst, len, off, 0);
	ret = io_uring_submit_and_wait(ring, 1);
	if (ret < 0)
		return ret;
	ret = io_uring_peek_cqe(ring, &cqe);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* Whether @len bytes at @p equal @want (first difference to the log). */
static bool same_bytes(const unsigned char *p, const unsigned char *want,
		       size_t len, const char *what)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != want[i]) {
			cr_log_info("pin: %s: byte %zu is 0x%02x, want 0x%02x",
				    what, i, p[i], want[i]);
			return false;
		}
	}
	return true;
}

/*
 * Run one case on @map (BUF_SIZE bytes of @b, which brackets CPU access):
 * register it as an io_uring fixed buffer and READ_FIXED into it, then
 * pread() into it with O_DIRECT; log one line, then assert @uring and
 * @direct.  A read that reports success must have delivered the file's
 * bytes, whatever was expected of it.
 */
static void pin_case(const char *what, struct dmk_buf *b, unsigned char *map,
		     enum pin_expect uring, enum pin_expect direct)
{
	int reg = PIN_NOT_RUN, fixed = PIN_NOT_RUN, dio;
	bool fixed_ok = false, dio_ok = false, rest_ok = true;
	struct iovec iov = { .iov_base = map, .iov_len = BUF_SIZE };
	unsigned char *shadow;
	struct pin_file f;
	struct io_uring ring;
	char fixed_s[64] = "", dio_s[64];

	pin_file_open(&f);
	shadow = malloc(BUF_SIZE);
	cr_assert_not_null(shadow);

	/* Known bytes everywhere, so a read that lands is told apart. */
	dmk_test_fill(shadow, BUF_SIZE, BUF_SEED);
	cr_assert_eq(dmk_buf_begin_cpu(b, DMK_SYNC_WRITE), 0);
	memcpy(map, shadow, BUF_SIZE);
	cr_assert_eq(dmk_buf_end_cpu(b, DMK_SYNC_WRITE), 0);

	if (uring != PIN_NEVER) {
		ring_open(&ring);
		reg = io_uring_register_buffers(&ring, &iov, 1);
		if (!reg) {
			fixed = read_fixed(&ring, f.fd, map + FIXED_BOFF,
					   IO_LEN, FIXED_FOFF);
			cr_assert_eq(io_uring_unregister_buffers(&ring), 0);
		}
		io_uring_queue_exit(&ring);
	}
	dio = pread(f.fd, map + DIRECT_BOFF, IO_LEN, DIRECT_FOFF);
	if (dio < 0)
		dio = -errno;

	cr_assert_eq(dmk_buf_begin_cpu(b, DMK_SYNC_READ), 0);
	if (fixed == IO_LEN)
		fixed_ok = same_bytes(map + FIXED_BOFF, f.data + FIXED_FOFF,
				      IO_LEN, "READ_FIXED");
	else
		rest_ok &= same_bytes(map + FIXED_BOFF, shadow + FIXED_BOFF,
				      IO_LEN, "untouched (READ_FIXED target)");
	if (dio == IO_LEN)
		dio_ok = same_bytes(map + DIRECT_BOFF, f.data + DIRECT_FOFF,
				    IO_LEN, "O_DIRECT read");
	else
		rest_ok &= same_bytes(map + DIRECT_BOFF, shadow + DIRECT_BOFF,
				      IO_LEN, "untouched (O_DIRECT target)");
	rest_ok &= same_bytes(map, shadow, FIXED_BOFF, "untouched") &&
		   same_bytes(map + FIXED_BOFF + IO_LEN,
			      shadow + FIXED_BOFF + IO_LEN,
			      DIRECT_BOFF - FIXED_BOFF - IO_LEN, "untouched") &&
		   same_bytes(map + DIRECT_BOFF + IO_LEN,
			      shadow + DIRECT_BOFF + IO_LEN,
			      BUF_SIZE - DIRECT_BOFF - IO_LEN, "untouched");
	cr_assert_eq(dmk_buf_end_cpu(b, DMK_SYNC_READ), 0);

	if (uring == PIN_NEVER)
		snprintf(fixed_s, sizeof(fixed_s), "never tried");
	else if (!reg)
		snprintf(fixed_s, sizeof(fixed_s), "ok, READ_FIXED -> %s%s",
			 result_name(fixed), fixed == IO_LEN ?
			 (fixed_ok ? " (bytes match)" : " (WRONG BYTES)") :
			 fixed >= 0 ? " (short)" : "");
	else
		snprintf(fixed_s, sizeof(fixed_s), "%s", result_name(reg));
	snprintf(dio_s, sizeof(dio_s), "%s%s", result_name(dio),
		 dio == IO_LEN ?
		 (dio_ok ? " (bytes match)" : " (WRONG BYTES)") :
		 dio >= 0 ? " (short)" : "");
	cr_log_info("pin: %s: register_buffers -> %s, O_DIRECT read -> %s "
		    "(kernel %s, file in %s)", what, fixed_s, dio_s,
		    kernel_release(), f.where);

	/* Whatever was expected: no read may claim success and lie. */
	cr_assert(fixed != IO_LEN || fixed_ok,
		  "%s: READ_FIXED gave wrong bytes", what);
	cr_assert(dio != IO_LEN || dio_ok, "%s: O_DIRECT read gave wrong bytes",
		  what);
	cr_assert(rest_ok, "%s: bytes outside the reads changed", what);
	if (uring == PIN_WORKS) {
		cr_assert_eq(reg, 0, "%s: register_buffers: %s%s", what,
			     result_name(reg), reg == -ENOMEM ? " (over "
			     "RLIMIT_MEMLOCK without CAP_IPC_LOCK, or pages in "
			     "the CMA area that could not be migrated out: see "
			     "the top of tests/test_pin.c)" : "");
		cr_assert_eq(fixed, IO_LEN, "%s: READ_FIXED: %d (%s)", what,
			     fixed, result_name(fixed));
	} else if (uring == PIN_FAILS) {
		cr_assert_lt(reg, 0, "%s: register_buffers succeeded on memory "
			     "the library says cannot be pinned", what);
	}
	if (direct == PIN_WORKS)
		cr_assert_eq(dio, IO_LEN, "%s: O_DIRECT read: %d (%s)", what,
			     dio, result_name(dio));
	else if (direct == PIN_FAILS)
		cr_assert_lt(dio, 0, "%s: O_DIRECT read succeeded on memory "
			     "the library says cannot be pinned", what);

	pin_file_close(&f);
	free(shadow);
}

static struct dmk_buf *pin_alloc(const char *heap, void **map)
{
	struct dmk_buf *b = dmk_test_alloc(heap, BUF_SIZE, "pin");

	cr_assert_eq(dmk_buf_size(b), BUF_SIZE);
	cr_assert_eq(dmk_buf_map(b, map), 0);
	return b;
}

DMK_TEST(pin, memfd_mapping)
{
	void *map;
	struct dmk_buf *b = pin_alloc(dmk_test_require_backend("memfd"), &map);

	cr_assert(dmk_buf_caps(b) & DMK_CAP_PINNABLE);
	pin_case("memfd mapping", b, map, PIN_WORKS, PIN_WORKS);
	dmk_buf_put(b);
}

/* dmk_buf_map() of a udmabuf maps its memfd: the pages the library pins. */
DMK_TEST(pin, udmabuf_memfd_mapping)
{
	void *map;
	struct dmk_buf *b = pin_alloc(dmk_test_require_backend("udmabuf"),
				      &map);

	cr_assert(dmk_buf_caps(b) & DMK_CAP_PINNABLE);
	pin_case("udmabuf via dmk_buf_map (memfd mapping)", b, map, PIN_WORKS,
		 PIN_WORKS);
	dmk_buf_put(b);
}

/*
 * udmabuf's own dma-buf mapping: 6.1 hands out the memfd's pages (io_uring
 * pins them, then refuses the non-shmem file with EOPNOTSUPP; ENOMEM when
 * the pin itself fails, see the top; O_DIRECT works); 6.11+ maps it
 * VM_PFNMAP (EFAULT).  The library never uses this mapping, so the
 * result is only recorded; the test asserts that the calls return (the
 * timeout) and that nothing leaks.
 */
DMK_TEST(pin, udmabuf_dmabuf_mapping)
{
	struct dmk_buf *b;
	void *map;

	dmk_test_require_backend("udmabuf");
	b = dmk_test_alloc("udmabuf", BUF_SIZE, "pin");
	cr_assert(dmk_buf_caps(b) & DMK_CAP_DMABUF);
	map = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   dmk_buf_fd(b), 0);
	cr_assert_neq(map, MAP_FAILED, "mmap of the udmabuf: %s",
		      strerror(errno));
	pin_case("udmabuf's own dma-buf mapping", b, map, PIN_RECORD,
		 PIN_RECORD);
	cr_assert_eq(munmap(map, BUF_SIZE), 0);
	dmk_buf_put(b);
}

/* The system heap maps with remap_pfn_range: VM_PFNMAP, nothing to pin. */
DMK_TEST(pin, system_heap_mapping)
{
	void *map;
	struct dmk_buf *b = pin_alloc(dmk_test_require_backend("system"),
				      &map);

	cr_assert_not(dmk_buf_caps(b) & DMK_CAP_PINNABLE,
		      "the library claims a system-heap buffer is pinnable");
	pin_case("system-heap mapping", b, map, PIN_FAILS, PIN_FAILS);
	dmk_buf_put(b);
}

/*
 * CMA heap: its mapping holds ordinary struct pages, so O_DIRECT (a short
 * pin) works.  io_uring_register_buffers() is never called on it: a
 * long-term pin (FOLL_LONGTERM) first tries to migrate the pages out of
 * the CMA area, and on 6.1 that stalled in the kernel for minutes (the
 * test VM hung).  The library decides this from the backend (no
 * DMK_CAP_PINNABLE on CMA buffers) and so must its tests: never probe.
 */
DMK_TEST(pin, cma_heap_mapping)
{
	void *map;
	struct dmk_buf *b = pin_alloc(dmk_test_require_backend("cma"), &map);

	cr_assert(dmk_buf_caps(b) & DMK_CAP_CONTIG);
	cr_assert_not(dmk_buf_caps(b) & DMK_CAP_PINNABLE,
		      "the library offers a CMA buffer for long-term pins");
	pin_case("CMA-heap mapping", b, map, PIN_NEVER, PIN_WORKS);
	dmk_buf_put(b);
}

/*
 * A udmabuf made right after a CMA-heap buffer of the same size was freed.
 * Freed CMA pages go to this CPU's free lists for movable pages, and the
 * memfd's shmem pages are movable allocations, so on 6.1 the udmabuf gets
 * the CMA area's pages (seen with /proc/self/pagemap against the CMA base
 * the kernel logs at boot).  DMK_CAP_PINNABLE promises that a long-term pin
 * of its dmk_buf_map() mapping works, so this asserts it.  On 6.1.192 it
 * fails with ENOMEM: the pin has to migrate the pages out of CMA, and
 * cannot while udmabuf holds references to them (a plain memfd's pages
 * do migrate).  Since 6.11 udmabuf pins, and so migrates, its pages when
 * it is created.  Until the library moves the pages out of CMA before
 * UDMABUF_CREATE (or stops claiming the pin), this fails there.
 *
 * The long-term pin here is on shmem pages, which the kernel can isolate
 * for migration, and it fails within milliseconds.  CMA-heap pages are not
 * on the LRU; the same call on them is what stalled for minutes (likely
 * GUP retrying the migration), so pin::cma_heap_mapping never makes it.
 */
DMK_TEST(pin, udmabuf_after_cma)
{
	const char *cma = dmk_test_require_backend("cma");
	struct dmk_buf *c, *b;
	cpu_set_t one;
	void *map;
	int cpu;

	dmk_test_require_backend("udmabuf");
	/* One CPU, so the pages just freed are the ones handed out next. */
	cpu = sched_getcpu();
	cr_assert_geq(cpu, 0);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);

	c = dmk_test_alloc(cma, BUF_SIZE, "pin-cma");
	dmk_buf_put(c);
	b = pin_alloc("udmabuf", &map);
	cr_assert(dmk_buf_caps(b) & DMK_CAP_PINNABLE);
	pin_case("udmabuf via dmk_buf_map, pages reused from CMA", b, map,
		 PIN_WORKS, PIN_WORKS);
	dmk_buf_put(b);
}
