// SPDX-License-Identifier: MIT
/*
 * stream: io_uring reads and writes between files and buffers, byte-exact,
 * on every path (forced where the machine would pick another), with short
 * reads, EOF, unaligned offsets, cancellation and per-request errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "stream_util.h"

#define SEED 0x57e4u

static struct dmk_stream *new_stream(unsigned int flags, unsigned int depth,
				     uint64_t chunk)
{
	DMK_OPTS(dmk_stream_opts, so, .queue_depth = depth,
		 .chunk_size = chunk);
	struct dmk_stream *s = NULL;
	int ret = dmk_stream_new(flags, &so, &s);

	cr_assert_eq(ret, 0, "dmk_stream_new: %s", strerror(-ret));
	return s;
}

static int path_of(struct dmk_stream *s, unsigned int file)
{
	const char *why = NULL;
	int p = dmk_stream_path(s, file, &why);

	cr_assert_gt(p, 0);
	cr_log_info("stream: path %s: %s", dmk_stream_path_name(p), why);
	return p;
}

static void stats_of(struct dmk_stream *s, struct dmk_stream_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->sz = sizeof(*st);
	cr_assert_eq(dmk_stream_stats(s, st), 0);
}

/* Skip unless the scratch filesystem takes O_DIRECT for this stream. */
static void require_direct(struct dmk_stream *s, unsigned int file)
{
	const char *why;
	int p = dmk_stream_path(s, file, &why);

	dmk_test_require(p == DMK_STREAM_PATH_FIXED_DIRECT ||
			 p == DMK_STREAM_PATH_DIRECT ? 1 : 0,
			 "no O_DIRECT on the scratch filesystem "
			 "($DMK_TEST_SCRATCH, /var/tmp, /tmp)");
}

/*
 * Read a file of @size bytes into a buffer at @buf_off, and write it back
 * out from there, under stream @flags; both byte-exact.
 */
static void roundtrip(unsigned int flags, size_t size, uint64_t buf_off,
		      uint64_t chunk, bool reg)
{
	struct dmk_stream_stats st;
	struct scratch sc;
	char in[PATH_MAX], out[PATH_MAX];
	unsigned char *want, *got, *map;
	struct dmk_stream *s;
	struct dmk_buf *b;
	size_t got_len;
	int fin, fout;
	int64_t n;

	scratch_init(&sc);
	want = pattern_file(scratch_path(&sc, "in", in, sizeof(in)), size,
			    SEED + (uint32_t)size);
	b = dmk_test_alloc("memfd", buf_off + size + 4096, "rt");
	cr_assert_eq(dmk_buf_map(b, (void **)&map), 0);
	memset(map, 0xa5, dmk_buf_size(b));

	s = new_stream(flags, 4, chunk);
	fin = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	cr_assert_geq(fin, 0, "open_file: %s", strerror(-fin));
	fout = dmk_stream_open_file(s, scratch_path(&sc, "out", out,
						    sizeof(out)),
				    DMK_STREAM_WRITE | DMK_STREAM_CREATE |
				    DMK_STREAM_TRUNC, 0600);
	cr_assert_geq(fout, 0, "open_file out: %s", strerror(-fout));
	if (reg)
		cr_assert_eq(dmk_stream_register_bufs(s, &b, 1),
			     (flags & (DMK_STREAM_NO_FIXED |
				       DMK_STREAM_NO_URING)) ? 0 : 1);
	path_of(s, fin);

	/* Ask for more than there is: the read stops at the end. */
	n = dmk_stream_read(s, (unsigned int)fin, b, buf_off, 0, size + 4096);
	cr_assert_eq(n, (int64_t)size, "read %zu bytes at buffer offset %llu:"
		     " got %lld", size, (unsigned long long)buf_off,
		     (long long)n);
	cr_assert(!memcmp(map + buf_off, want, size), "bytes differ");
	cr_assert_eq(map[buf_off + size], 0xa5, "wrote past the end");
	if (buf_off)
		cr_assert_eq(map[buf_off - 1], 0xa5, "wrote before the start");

	n = dmk_stream_write(s, (unsigned int)fout, b, buf_off, 0, size);
	cr_assert_eq(n, (int64_t)size, "write: %lld", (long long)n);
	stats_of(s, &st);
	cr_log_info("stream: %zu bytes: fixed+direct %llu, direct %llu, fixed"
		    " %llu, buffered %llu, sync %llu, short %llu", size,
		    (unsigned long long)st.bytes[DMK_STREAM_PATH_FIXED_DIRECT],
		    (unsigned long long)st.bytes[DMK_STREAM_PATH_DIRECT],
		    (unsigned long long)st.bytes[DMK_STREAM_PATH_FIXED],
		    (unsigned long long)st.bytes[DMK_STREAM_PATH_BUFFERED],
		    (unsigned long long)st.bytes[DMK_STREAM_PATH_SYNC],
		    (unsigned long long)st.short_io);
	cr_assert_eq(st.requests, 2);
	cr_assert_eq(st.errors, 0);
	if (flags & DMK_STREAM_NO_URING)
		cr_assert_eq(st.bytes[DMK_STREAM_PATH_SYNC], 2 * size);
	dmk_stream_free(s);

	got = read_file(out, &got_len);
	cr_assert_eq(got_len, size);
	cr_assert(!memcmp(got, want, size), "written file differs");
	free(got);
	free(want);
	dmk_buf_put(b);
	scratch_done(&sc);
}

static const size_t odd_sizes[] = { 1, 511, 4095, 4097, 65536 + 13,
				    (1u << 20) + 4097, (3u << 20) + 1 };

static void roundtrip_sizes(unsigned int flags, bool reg)
{
	size_t i;

	for (i = 0; i < sizeof(odd_sizes) / sizeof(odd_sizes[0]); i++) {
		roundtrip(flags, odd_sizes[i], 0, 256u << 10, reg);
		roundtrip(flags, odd_sizes[i], 4096, 64u << 10, reg);
		roundtrip(flags, odd_sizes[i], 3, 64u << 10, reg);
	}
}

DMK_TEST(stream, roundtrip_auto)
{
	roundtrip_sizes(0, true);
}

DMK_TEST(stream, roundtrip_unregistered)
{
	roundtrip_sizes(0, false);
}

DMK_TEST(stream, roundtrip_no_direct)
{
	roundtrip_sizes(DMK_STREAM_NO_DIRECT, true);
}

DMK_TEST(stream, roundtrip_no_fixed)
{
	roundtrip_sizes(DMK_STREAM_NO_FIXED | DMK_STREAM_NO_FIXED_FILES, true);
}

DMK_TEST(stream, roundtrip_sync)
{
	roundtrip_sizes(DMK_STREAM_NO_URING, true);
}

DMK_TEST(stream, roundtrip_sqpoll)
{
	roundtrip(DMK_STREAM_SQPOLL, (1u << 20) + 4097, 0, 64u << 10, true);
}

/* Ranges at odd file offsets into odd buffer offsets, and chunk sizes
 * that are not a multiple of any block. */
DMK_TEST(stream, unaligned_offsets)
{
	static const uint64_t foffs[] = { 0, 1, 511, 512, 4095, 4096, 70001 };
	static const uint64_t boffs[] = { 0, 3, 4096, 4099 };
	static const uint64_t lens[] = { 1, 512, 4096, 100000, 300007 };
	const size_t fsize = 1u << 20;
	struct scratch sc;
	char in[PATH_MAX];
	unsigned char *want, *map;
	struct dmk_stream *s;
	struct dmk_buf *b;
	size_t i, j, k;
	int f;

	scratch_init(&sc);
	want = pattern_file(scratch_path(&sc, "in", in, sizeof(in)), fsize,
			    SEED);
	b = dmk_test_alloc("memfd", 1u << 20, "ua");
	cr_assert_eq(dmk_buf_map(b, (void **)&map), 0);
	s = new_stream(0, 3, 12345);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	cr_assert_geq(f, 0);
	cr_assert_eq(dmk_stream_register_bufs(s, &b, 1), 1);
	for (i = 0; i < sizeof(foffs) / sizeof(foffs[0]); i++)
		for (j = 0; j < sizeof(boffs) / sizeof(boffs[0]); j++)
			for (k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
				int64_t n = dmk_stream_read(s, (unsigned)f, b,
							    boffs[j], foffs[i],
							    lens[k]);

				cr_assert_eq(n, (int64_t)lens[k]);
				cr_assert(!memcmp(map + boffs[j],
						  want + foffs[i], lens[k]),
					  "file %llu buf %llu len %llu",
					  (unsigned long long)foffs[i],
					  (unsigned long long)boffs[j],
					  (unsigned long long)lens[k]);
			}
	dmk_stream_free(s);
	dmk_buf_put(b);
	free(want);
	scratch_done(&sc);
}

/* A file shorter than the buffer, an empty one, a read past the end. */
DMK_TEST(stream, short_file_and_eof)
{
	struct scratch sc;
	char in[PATH_MAX], empty[PATH_MAX];
	unsigned char *want, *map;
	struct dmk_stream *s;
	struct dmk_buf *b;
	int f, e;

	scratch_init(&sc);
	want = pattern_file(scratch_path(&sc, "in", in, sizeof(in)), 1000,
			    SEED);
	write_file(scratch_path(&sc, "empty", empty, sizeof(empty)), "", 0);
	b = dmk_test_alloc("memfd", 1u << 20, "short");
	cr_assert_eq(dmk_buf_map(b, (void **)&map), 0);
	memset(map, 0x5a, 1u << 20);
	s = new_stream(0, 4, 4096);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	e = dmk_stream_open_file(s, empty, DMK_STREAM_READ, 0);
	cr_assert_geq(f, 0);
	cr_assert_geq(e, 0);
	cr_assert_eq(dmk_stream_register_bufs(s, &b, 1), 1);

	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 0, 0, 1u << 20), 1000);
	cr_assert(!memcmp(map, want, 1000));
	cr_assert_eq(map[1000], 0x5a);
	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 0, 999, 4096), 1);
	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 0, 1000, 4096), 0);
	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 0, 1u << 30, 4096), 0);
	cr_assert_eq(dmk_stream_read(s, (unsigned)e, b, 0, 0, 1u << 20), 0);
	dmk_stream_free(s);
	dmk_buf_put(b);
	free(want);
	scratch_done(&sc);
}

/* An aligned read into a registered memfd buffer takes fixed+direct; the
 * unaligned tail of the file goes buffered; each path's bytes add up. */
DMK_TEST(stream, paths_reported)
{
	const size_t size = (2u << 20) + 100;
	struct dmk_stream_stats st;
	struct scratch sc;
	char in[PATH_MAX];
	unsigned char *want, *map;
	struct dmk_stream *s;
	struct dmk_buf *b;
	int f;

	scratch_init(&sc);
	want = pattern_file(scratch_path(&sc, "in", in, sizeof(in)), size,
			    SEED);
	b = dmk_test_alloc("memfd", 4u << 20, "paths");
	cr_assert_eq(dmk_buf_map(b, (void **)&map), 0);

	s = new_stream(0, 8, 256u << 10);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	cr_assert_geq(f, 0);
	require_direct(s, (unsigned)f);
	cr_assert_eq(path_of(s, (unsigned)f), DMK_STREAM_PATH_DIRECT);
	cr_assert_eq(dmk_stream_register_bufs(s, &b, 1), 1);
	cr_assert_eq(path_of(s, (unsigned)f), DMK_STREAM_PATH_FIXED_DIRECT);
	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 0, 0, 4u << 20),
		     (int64_t)size);
	cr_assert(!memcmp(map, want, size));
	stats_of(s, &st);
	cr_assert_eq(st.bytes[DMK_STREAM_PATH_FIXED_DIRECT] +
		     st.bytes[DMK_STREAM_PATH_FIXED], size);
	cr_assert_geq(st.bytes[DMK_STREAM_PATH_FIXED_DIRECT], 2u << 20);
	cr_assert_eq(st.ran, DMK_STREAM_PATH_FIXED_DIRECT);
	cr_assert_eq(st.registered_bufs, 1);
	cr_assert_eq(st.registered_files, 1);
	dmk_stream_free(s);

	/* Not registered: direct, with the tail buffered. */
	s = new_stream(0, 8, 256u << 10);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 0, 0, 4u << 20),
		     (int64_t)size);
	stats_of(s, &st);
	cr_assert_eq(st.ran, DMK_STREAM_PATH_DIRECT);
	cr_assert_eq(st.bytes[DMK_STREAM_PATH_DIRECT] +
		     st.bytes[DMK_STREAM_PATH_BUFFERED], size);
	dmk_stream_free(s);

	/* Unaligned buffer offset: no O_DIRECT, buffered from a registered
	 * buffer: "fixed". */
	s = new_stream(0, 8, 256u << 10);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	cr_assert_eq(dmk_stream_register_bufs(s, &b, 1), 1);
	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 1, 0, size),
		     (int64_t)size);
	cr_assert(!memcmp(map + 1, want, size));
	stats_of(s, &st);
	cr_assert_eq(st.bytes[DMK_STREAM_PATH_FIXED], size);
	dmk_stream_free(s);

	/* Raw memory not declared pinnable never goes direct. */
	s = new_stream(0, 8, 256u << 10);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	{
		DMK_OPTS(dmk_stream_req, rq, .addr = map, .len = size);
		struct dmk_stream_done d;
		int id = dmk_stream_submit(s, &rq);

		cr_assert_geq(id, 0);
		cr_assert_eq(dmk_stream_wait(s, id, &d, -1), 0);
		cr_assert_eq(d.res, (int64_t)size);
	}
	stats_of(s, &st);
	cr_assert_eq(st.bytes[DMK_STREAM_PATH_BUFFERED], size);
	dmk_stream_free(s);

	dmk_buf_put(b);
	free(want);
	scratch_done(&sc);
}

DMK_TEST(stream, forced_paths_say_why)
{
	struct scratch sc;
	char in[PATH_MAX];
	struct dmk_stream *s;
	const char *why;
	int f;

	scratch_init(&sc);
	write_file(scratch_path(&sc, "in", in, sizeof(in)), "x", 1);
	s = new_stream(DMK_STREAM_NO_URING, 0, 0);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	cr_assert_eq(dmk_stream_path(s, (unsigned)f, &why),
		     DMK_STREAM_PATH_SYNC);
	cr_assert(strstr(why, "turned off"), "%s", why);
	dmk_stream_free(s);

	s = new_stream(DMK_STREAM_NO_DIRECT, 0, 0);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	cr_assert_eq(dmk_stream_path(s, (unsigned)f, &why),
		     DMK_STREAM_PATH_BUFFERED);
	cr_assert(strstr(why, "no O_DIRECT (turned off"), "%s", why);
	cr_assert_eq(dmk_stream_path(s, 7, &why), -EBADF);
	cr_assert_eq(dmk_stream_path(s, 99, &why), -EBADF);
	dmk_stream_free(s);
	scratch_done(&sc);
}

static void uring_denied(int err)
{
	struct dmk_stream_stats st;
	struct scratch sc;
	char in[PATH_MAX];
	unsigned char *want, *map;
	struct dmk_stream *s;
	struct dmk_buf *b;
	const char *why;
	int f;

	scratch_init(&sc);
	want = pattern_file(scratch_path(&sc, "in", in, sizeof(in)), 100000,
			    SEED);
	b = dmk_test_alloc("memfd", 1u << 20, "deny");
	cr_assert_eq(dmk_buf_map(b, (void **)&map), 0);
	deny_io_uring(err);
	s = new_stream(0, 8, 4096);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	cr_assert_geq(f, 0);
	cr_assert_eq(dmk_stream_path(s, (unsigned)f, &why),
		     DMK_STREAM_PATH_SYNC);
	cr_log_info("stream: io_uring denied: %s", why);
	cr_assert(strstr(why, strerrorname_np(err)), "%s", why);
	/* Nothing to register on the sync path, and no failure either. */
	cr_assert_eq(dmk_stream_register_bufs(s, &b, 1), 0);
	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 5, 0, 1u << 19),
		     100000);
	cr_assert(!memcmp(map + 5, want, 100000));
	stats_of(s, &st);
	cr_assert_eq(st.bytes[DMK_STREAM_PATH_SYNC], 100000);
	cr_assert_eq(st.ran, DMK_STREAM_PATH_SYNC);
	dmk_stream_free(s);
	dmk_buf_put(b);
	free(want);
	scratch_done(&sc);
}

DMK_TEST(stream, uring_disabled_eperm)
{
	uring_denied(EPERM);
}

DMK_TEST(stream, uring_absent_enosys)
{
	uring_denied(ENOSYS);
}

/*
 * Real short reads: seq_file (/proc/kallsyms) returns about a page per
 * read whatever was asked, at any offset.  Each chunk's remainder is
 * resubmitted until the range is whole; the bytes match a pread() loop.
 */
static void short_reads(unsigned int flags)
{
	const size_t len = 256u << 10;
	struct dmk_stream_stats st;
	unsigned char *want, *map;
	struct dmk_stream *s;
	struct dmk_buf *b;
	size_t off = 0;
	int fd, f;

	/* Not a feature the VM tier owes us: a plain skip there too. */
	fd = open("/proc/kallsyms", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		cr_skip_test("no /proc/kallsyms (CONFIG_KALLSYMS) to give "
			     "short reads");
	want = malloc(len);
	cr_assert_not_null(want);
	while (off < len) {
		ssize_t n = pread(fd, want + off, len - off, (off_t)off);

		cr_assert_geq(n, 0);
		if (!n)
			break;
		off += (size_t)n;
	}
	close(fd);
	if (off != len) {
		free(want);
		cr_skip_test("/proc/kallsyms is under 256 KiB");
	}
	b = dmk_test_alloc("memfd", len, "short");
	cr_assert_eq(dmk_buf_map(b, (void **)&map), 0);
	s = new_stream(flags, 4, 64u << 10);
	f = dmk_stream_open_file(s, "/proc/kallsyms", DMK_STREAM_READ, 0);
	cr_assert_geq(f, 0);
	cr_assert_eq(dmk_stream_register_bufs(s, &b, 1),
		     flags ? 0 : 1);
	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 0, 0, len),
		     (int64_t)len);
	cr_assert(!memcmp(map, want, len), "bytes differ");
	stats_of(s, &st);
	cr_log_info("stream: /proc/kallsyms: %llu short reads resubmitted",
		    (unsigned long long)st.short_io);
	cr_assert_gt(st.short_io, 16);
	dmk_stream_free(s);
	dmk_buf_put(b);
	free(want);
}

DMK_TEST(stream, short_reads_resubmitted)
{
	short_reads(0);
}

DMK_TEST(stream, short_reads_sync)
{
	short_reads(DMK_STREAM_NO_URING);
}

/* Many requests in flight at once, queued with MORE, reaped by tag. */
DMK_TEST(stream, many_requests)
{
	const unsigned int nreq = 40;
	const size_t piece = 50000;
	struct dmk_stream_done done[16];
	bool seen[40] = { false };
	struct scratch sc;
	char in[PATH_MAX];
	unsigned char *want, *map;
	struct dmk_stream *s;
	struct dmk_buf *b;
	unsigned int i, got = 0;
	int f, n;

	scratch_init(&sc);
	want = pattern_file(scratch_path(&sc, "in", in, sizeof(in)),
			    nreq * piece, SEED);
	b = dmk_test_alloc("memfd", nreq * piece, "many");
	cr_assert_eq(dmk_buf_map(b, (void **)&map), 0);
	s = new_stream(0, 4, 16384);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	for (i = 0; i < nreq; i++) {
		DMK_OPTS(dmk_stream_req, rq, .file = (unsigned)f, .buf = b,
			 .buf_off = (nreq - 1 - i) * piece,
			 .file_off = (nreq - 1 - i) * piece, .len = piece,
			 .tag = 1000 + i,
			 .flags = i + 1 < nreq ? DMK_STREAM_REQ_MORE : 0);

		cr_assert_geq(dmk_stream_submit(s, &rq), 0);
	}
	while (got < nreq) {
		n = dmk_stream_reap(s, done, 16, -1);
		cr_assert_gt(n, 0);
		for (i = 0; i < (unsigned)n; i++) {
			cr_assert_eq(done[i].res, (int64_t)piece);
			cr_assert_geq(done[i].tag, 1000);
			cr_assert_lt(done[i].tag, 1000 + nreq);
			cr_assert_not(seen[done[i].tag - 1000]);
			seen[done[i].tag - 1000] = true;
		}
		got += (unsigned)n;
	}
	cr_assert_eq(dmk_stream_reap(s, done, 16, 0), 0);
	cr_assert_eq(dmk_stream_reap(s, done, 16, -1), 0, "nothing in flight");
	cr_assert(!memcmp(map, want, nreq * piece));
	dmk_stream_free(s);
	dmk_buf_put(b);
	free(want);
	scratch_done(&sc);
}

/* Too many requests: -EAGAIN, then fine once reaped. */
DMK_TEST(stream, request_table_full)
{
	DMK_OPTS(dmk_stream_opts, so, .max_requests = 2);
	struct dmk_stream_done d[2];
	struct scratch sc;
	char in[PATH_MAX];
	struct dmk_stream *s;
	struct dmk_buf *b;
	unsigned char *want;
	int f, got = 0;

	scratch_init(&sc);
	want = pattern_file(scratch_path(&sc, "in", in, sizeof(in)), 8192,
			    SEED);
	b = dmk_test_alloc("memfd", 8192, "full");
	cr_assert_eq(dmk_stream_new(0, &so, &s), 0);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	{
		DMK_OPTS(dmk_stream_req, rq, .file = (unsigned)f, .buf = b,
			 .len = 4096);

		cr_assert_geq(dmk_stream_submit(s, &rq), 0);
		cr_assert_geq(dmk_stream_submit(s, &rq), 0);
		cr_assert_eq(dmk_stream_submit(s, &rq), -EAGAIN);
		while (got < 2)
			got += dmk_stream_reap(s, d, 2, -1);
		cr_assert_geq(dmk_stream_submit(s, &rq), 0);
	}
	dmk_stream_free(s);	/* with one request unreaped */
	dmk_buf_put(b);
	free(want);
	scratch_done(&sc);
}

/*
 * Cancellation: a large read with one small chunk in flight at a time is
 * cancelled at once; it completes with -ECANCELED and no more of it runs.
 */
DMK_TEST(stream, cancel)
{
	const size_t size = 8u << 20;
	struct dmk_stream_stats st;
	struct dmk_stream_done d;
	struct scratch sc;
	char in[PATH_MAX];
	unsigned char *want;
	struct dmk_stream *s;
	struct dmk_buf *b;
	int f, id, ret;

	scratch_init(&sc);
	want = pattern_file(scratch_path(&sc, "in", in, sizeof(in)), size,
			    SEED);
	b = dmk_test_alloc("memfd", size, "cancel");
	s = new_stream(0, 1, 4096);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	{
		DMK_OPTS(dmk_stream_req, rq, .file = (unsigned)f, .buf = b,
			 .len = size, .tag = 7);

		id = dmk_stream_submit(s, &rq);
	}
	cr_assert_geq(id, 0);
	ret = dmk_stream_cancel(s, id);
	cr_assert_eq(ret, 0);
	cr_assert_eq(dmk_stream_cancel(s, id), -EALREADY);
	cr_assert_eq(dmk_stream_wait(s, id, &d, -1), 0);
	cr_assert_eq(d.res, -ECANCELED);
	cr_assert_eq(d.tag, 7);
	stats_of(s, &st);
	cr_assert_lt(st.bytes[DMK_STREAM_PATH_DIRECT] +
		     st.bytes[DMK_STREAM_PATH_BUFFERED], size / 2,
		     "the cancelled read went on");
	cr_assert_eq(dmk_stream_cancel(s, id), -ENOENT);
	cr_assert_eq(dmk_stream_wait(s, id, &d, 0), -ENOENT);
	cr_assert_eq(dmk_stream_cancel(s, -1), -ENOENT);
	/* The stream works on after a cancel. */
	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 0, 0, size),
		     (int64_t)size);

	/* Free with a request in flight: it is cancelled and waited for. */
	{
		DMK_OPTS(dmk_stream_req, rq, .file = (unsigned)f, .buf = b,
			 .len = size);

		cr_assert_geq(dmk_stream_submit(s, &rq), 0);
	}
	dmk_stream_free(s);

	/* On the sync path a request is complete when submitted. */
	s = new_stream(DMK_STREAM_NO_URING, 1, 4096);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	{
		DMK_OPTS(dmk_stream_req, rq, .file = (unsigned)f, .buf = b,
			 .len = 4096);

		id = dmk_stream_submit(s, &rq);
	}
	cr_assert_eq(dmk_stream_cancel(s, id), -EALREADY);
	cr_assert_eq(dmk_stream_wait(s, id, &d, 0), 0);
	cr_assert_eq(d.res, 4096);
	dmk_stream_free(s);
	dmk_buf_put(b);
	free(want);
	scratch_done(&sc);
}

/* A wait with a timeout on a request that cannot finish soon. */
DMK_TEST(stream, wait_timeout)
{
	struct dmk_stream *s = new_stream(0, 1, 0);
	struct dmk_stream_done d;
	int fds[2], f, id;
	char c;

	/* A socket has no offsets; a pipe neither: both are refused. */
	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	cr_assert_eq(dmk_stream_add_fd(s, fds[0], DMK_STREAM_READ), -ESPIPE);
	close(fds[0]);
	close(fds[1]);
	/* /dev/zero has offsets and never ends: a read is quick. */
	f = dmk_stream_open_file(s, "/dev/zero", DMK_STREAM_READ, 0);
	cr_assert_geq(f, 0);
	{
		DMK_OPTS(dmk_stream_req, rq, .file = (unsigned)f, .addr = &c,
			 .len = 1);

		id = dmk_stream_submit(s, &rq);
	}
	cr_assert_geq(id, 0);
	cr_assert_eq(dmk_stream_wait(s, id, &d, 1000000000), 0);
	cr_assert_eq(d.res, 1);
	cr_assert_eq(dmk_stream_reap(s, &d, 1, 1000000), 0);
	dmk_stream_free(s);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * A read that blocks (a pty with nothing written): a signal interrupts the
 * wait with -EINTR and the request lives on; it completes when its bytes
 * have come (a short tty read is continued like any other).  A second
 * blocked read is cancelled in the kernel: -ECANCELED.
 */
DMK_TEST(stream, blocked_read_eintr_and_cancel)
{
	struct itimerval it = { .it_value = { .tv_usec = 50000 } };
	struct sigaction sa = { .sa_handler = on_alarm };
	struct dmk_stream_done d;
	struct dmk_stream *s;
	struct dmk_buf *b;
	unsigned char *map;
	int m, sl, f, id;

	/* A blocking character device; not something the VM tier owes. */
	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		cr_skip_test("no pseudo-terminals here: %s", strerror(errno));
	cr_assert_eq(grantpt(m), 0);
	cr_assert_eq(unlockpt(m), 0);
	sl = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sl < 0) {
		close(m);
		cr_skip_test("no pty slave (devpts not mounted?): %s",
			     strerror(errno));
	}
	b = dmk_test_alloc("memfd", 4096, "pty");
	cr_assert_eq(dmk_buf_map(b, (void **)&map), 0);
	s = new_stream(0, 2, 0);
	f = dmk_stream_add_fd(s, sl, DMK_STREAM_READ);
	cr_assert_geq(f, 0);
	{
		DMK_OPTS(dmk_stream_req, rq, .file = (unsigned)f, .buf = b,
			 .len = 12, .tag = 1);

		id = dmk_stream_submit(s, &rq);
	}
	cr_assert_geq(id, 0);
	sigemptyset(&sa.sa_mask);	/* no SA_RESTART */
	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
	cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	cr_assert_eq(dmk_stream_reap(s, &d, 1, -1), -EINTR);
	cr_assert_eq(dmk_stream_wait(s, id, &d, 20000000), -ETIMEDOUT);
	cr_assert_eq(write(m, "hello\n", 6), 6);
	cr_assert_eq(dmk_stream_wait(s, id, &d, 20000000), -ETIMEDOUT,
		     "done after a short read");
	cr_assert_eq(write(m, "world\n", 6), 6);
	cr_assert_eq(dmk_stream_wait(s, id, &d, -1), 0);
	cr_assert_eq(d.res, 12);
	cr_assert(!memcmp(map, "hello\nworld\n", 12));

	{
		DMK_OPTS(dmk_stream_req, rq, .file = (unsigned)f, .buf = b,
			 .len = 64, .tag = 2);

		id = dmk_stream_submit(s, &rq);
	}
	cr_assert_geq(id, 0);
	cr_assert_eq(dmk_stream_wait(s, id, &d, 10000000), -ETIMEDOUT);
	cr_assert_eq(dmk_stream_cancel(s, id), 0);
	cr_assert_eq(dmk_stream_wait(s, id, &d, -1), 0);
	cr_assert_eq(d.res, -ECANCELED);
	cr_assert_eq(d.tag, 2);
	dmk_stream_free(s);
	dmk_buf_put(b);
	close(sl);
	close(m);
}

/* Errors come back per request, with the offset that failed. */
DMK_TEST(stream, per_request_errors)
{
	struct dmk_stream_done d[2];
	struct dmk_stream *s;
	struct dmk_buf *b;
	int f, z, fd, id1, id2, n, got = 0, i;

	b = dmk_test_alloc("memfd", 1u << 20, "err");
	for (i = 0; i < 2; i++) {
		s = new_stream(i ? DMK_STREAM_NO_URING : 0, 4, 65536);
		/* /dev/full: every write fails with ENOSPC. */
		fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
		cr_assert_geq(fd, 0);
		f = dmk_stream_add_fd(s, fd, DMK_STREAM_WRITE);
		close(fd);
		cr_assert_geq(f, 0, "%s", strerror(-f));
		z = dmk_stream_open_file(s, "/dev/zero", DMK_STREAM_READ, 0);
		cr_assert_geq(z, 0);
		{
			DMK_OPTS(dmk_stream_req, w, .op = DMK_STREAM_OP_WRITE,
				 .file = (unsigned)f, .buf = b,
				 .file_off = 12345, .len = 300000, .tag = 1,
				 .flags = DMK_STREAM_REQ_MORE);
			DMK_OPTS(dmk_stream_req, r, .file = (unsigned)z,
				 .buf = b, .len = 300000, .tag = 2);

			id1 = dmk_stream_submit(s, &w);
			id2 = dmk_stream_submit(s, &r);
		}
		cr_assert_geq(id1, 0);
		cr_assert_geq(id2, 0);
		got = 0;
		while (got < 2) {
			n = dmk_stream_reap(s, d + got, 2 - (unsigned)got, -1);
			cr_assert_gt(n, 0);
			got += n;
		}
		for (n = 0; n < 2; n++) {
			if (d[n].tag == 1) {
				cr_assert_eq(d[n].res, -ENOSPC);
				cr_assert_eq(d[n].err_off, 12345);
			} else {
				cr_assert_eq(d[n].res, 300000);
			}
		}
		/* A read on a write-only file, a write on a read-only one. */
		cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 0, 0, 1),
			     -EBADF);
		cr_assert_eq(dmk_stream_write(s, (unsigned)z, b, 0, 0, 1),
			     -EBADF);
		dmk_stream_free(s);
	}
	dmk_buf_put(b);
}

DMK_TEST(stream, bad_requests)
{
	struct dmk_stream *s = new_stream(0, 0, 0);
	struct dmk_buf *b = dmk_test_alloc("memfd", 8192, "bad");
	DMK_OPTS(dmk_stream_req, ok, .buf = b, .len = 4096);
	struct dmk_stream_req rq;
	char c;
	int f;

	f = dmk_stream_open_file(s, "/dev/zero", DMK_STREAM_READ, 0);
	cr_assert_eq(f, 0);
	cr_assert_eq(dmk_stream_submit(s, NULL), -EINVAL);
	rq = ok;
	rq.len = 0;
	cr_assert_eq(dmk_stream_submit(s, &rq), -EINVAL);
	rq = ok;
	rq.op = 7;
	cr_assert_eq(dmk_stream_submit(s, &rq), -EINVAL);
	rq = ok;
	rq.flags = 1u << 20;
	cr_assert_eq(dmk_stream_submit(s, &rq), -EINVAL);
	rq = ok;
	rq.buf_off = 4097;
	cr_assert_eq(dmk_stream_submit(s, &rq), -EINVAL, "past the buffer");
	rq = ok;
	rq.buf_off = UINT64_MAX;
	cr_assert_eq(dmk_stream_submit(s, &rq), -EINVAL, "overflow");
	rq = ok;
	rq.file_off = UINT64_MAX - 10;
	cr_assert_eq(dmk_stream_submit(s, &rq), -EINVAL);
	rq = ok;
	rq.addr = &c;
	cr_assert_eq(dmk_stream_submit(s, &rq), -EINVAL, "buf and addr");
	rq = ok;
	rq.buf = NULL;
	cr_assert_eq(dmk_stream_submit(s, &rq), -EINVAL, "no memory");
	rq = ok;
	rq.file = 3;
	cr_assert_eq(dmk_stream_submit(s, &rq), -EBADF);
	rq = ok;
	rq.file = 1000;
	cr_assert_eq(dmk_stream_submit(s, &rq), -EBADF);
	/* A newer caller's struct with unknown non-zero bytes. */
	{
		struct {
			struct dmk_stream_req r;
			uint64_t extra;
		} big;

		memset(&big, 0, sizeof(big));
		big.r = ok;
		big.r.sz = sizeof(big);
		big.extra = 1;
		cr_assert_eq(dmk_stream_submit(s, &big.r), -EINVAL);
		big.extra = 0;
		cr_assert_geq(dmk_stream_submit(s, &big.r), 0);
	}
	cr_assert_eq(dmk_stream_register_bufs(s, NULL, 1), -EINVAL);
	dmk_stream_free(s);
	dmk_buf_put(b);
}

DMK_TEST(stream, bad_setup)
{
	DMK_OPTS(dmk_stream_opts, deep,
		 .queue_depth = DMK_STREAM_MAX_DEPTH + 1);
	DMK_OPTS(dmk_stream_opts, big,
		 .chunk_size = DMK_STREAM_MAX_CHUNK + 1ull);
	struct dmk_stream *s = NULL;

	cr_assert_eq(dmk_stream_new(1u << 30, NULL, &s), -EINVAL);
	cr_assert_eq(dmk_stream_new(0, &deep, &s), -EINVAL);
	cr_assert_eq(dmk_stream_new(0, &big, &s), -EINVAL);
	cr_assert_eq(dmk_stream_new(0, NULL, NULL), -EINVAL);
	cr_assert_null(s);
	s = new_stream(0, 0, 0);
	cr_assert_eq(dmk_stream_open_file(s, "/dev/zero", 0, 0), -EINVAL);
	cr_assert_eq(dmk_stream_open_file(s, "/dev/zero", DMK_STREAM_READ |
					  DMK_STREAM_CREATE, 0), -EINVAL);
	cr_assert_eq(dmk_stream_open_file(s, "/dev/zero", 1u << 9, 0),
		     -EINVAL);
	cr_assert_eq(dmk_stream_add_fd(s, -1, DMK_STREAM_READ), -EBADF);
	cr_assert_eq(dmk_stream_add_fd(s, 0, 0), -EINVAL);
	dmk_stream_free(s);
	dmk_stream_free(NULL);
}

/* A missing file, a directory, too many files. */
DMK_TEST(stream, open_errors)
{
	struct dmk_stream *s = new_stream(0, 0, 0);
	struct scratch sc;
	char p[PATH_MAX];
	int i;

	scratch_init(&sc);
	cr_assert_eq(dmk_stream_open_file(s, scratch_path(&sc, "nope", p,
							  sizeof(p)),
					  DMK_STREAM_READ, 0), -ENOENT);
	cr_assert_eq(dmk_stream_open_file(s, sc.dir, DMK_STREAM_READ, 0),
		     -EISDIR);
	cr_assert_eq(dmk_stream_open_file(s, sc.dir, DMK_STREAM_WRITE, 0),
		     -EISDIR);
	for (i = 0; i < DMK_STREAM_MAX_FILES; i++)
		cr_assert_eq(dmk_stream_open_file(s, "/dev/zero",
						  DMK_STREAM_READ, 0), i);
	cr_assert_eq(dmk_stream_open_file(s, "/dev/zero", DMK_STREAM_READ, 0),
		     -EMFILE);
	dmk_stream_free(s);
	scratch_done(&sc);
}

/* An unreadable file and a read-only destination: -EACCES, as for any
 * user (root's DAC override is dropped for the test). */
DMK_TEST(stream, permission_errors)
{
	struct dmk_stream *s;
	struct scratch sc;
	char p[PATH_MAX], ro[PATH_MAX], rodir[PATH_MAX], q[PATH_MAX];

	scratch_init(&sc);
	write_file(scratch_path(&sc, "secret", p, sizeof(p)), "x", 1);
	cr_assert_eq(chmod(p, 0), 0);
	write_file(scratch_path(&sc, "ro", ro, sizeof(ro)), "x", 1);
	cr_assert_eq(chmod(ro, 0444), 0);
	scratch_path(&sc, "rodir", rodir, sizeof(rodir));
	cr_assert_eq(mkdir(rodir, 0555), 0);
	scratch_path(&sc, "rodir/new", q, sizeof(q));
	drop_dac_override();

	s = new_stream(0, 0, 0);
	cr_assert_eq(dmk_stream_open_file(s, p, DMK_STREAM_READ, 0), -EACCES);
	cr_assert_eq(dmk_stream_open_file(s, ro, DMK_STREAM_WRITE, 0),
		     -EACCES);
	cr_assert_eq(dmk_stream_open_file(s, q, DMK_STREAM_WRITE |
					  DMK_STREAM_CREATE, 0), -EACCES);
	cr_assert_geq(dmk_stream_open_file(s, ro, DMK_STREAM_READ, 0), 0);
	dmk_stream_free(s);
	scratch_done(&sc);
}

/* A read into a buffer mapped read-only is refused up front. */
DMK_TEST(stream, read_into_readonly_mapping)
{
	struct dmk_buf *b = dmk_test_alloc("memfd", 8192, "ro");
	struct dmk_buf *imp;
	struct dmk_stream *s;
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", dmk_buf_memfd(b));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(dmk_buf_import(fd, 0, NULL, &imp), 0);
	close(fd);
	cr_assert_not(dmk_buf_writable(imp));
	s = new_stream(0, 0, 0);
	cr_assert_eq(dmk_stream_open_file(s, "/dev/zero", DMK_STREAM_READ, 0),
		     0);
	cr_assert_eq(dmk_stream_read(s, 0, imp, 0, 0, 4096), -EACCES);
	dmk_stream_free(s);
	dmk_buf_put(imp);
	dmk_buf_put(b);
}

/* add_fd keeps its own descriptor: the caller's stays open and its own. */
DMK_TEST(stream, add_fd_ownership)
{
	struct scratch sc;
	char in[PATH_MAX];
	unsigned char *want, *map;
	struct dmk_stream *s;
	struct dmk_buf *b;
	int fd, f, dfd;

	scratch_init(&sc);
	want = pattern_file(scratch_path(&sc, "in", in, sizeof(in)), 10000,
			    SEED);
	b = dmk_test_alloc("memfd", 16384, "fd");
	cr_assert_eq(dmk_buf_map(b, (void **)&map), 0);
	fd = open(in, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	s = new_stream(0, 2, 4096);
	f = dmk_stream_add_fd(s, fd, DMK_STREAM_READ);
	cr_assert_geq(f, 0);
	cr_assert_eq(dmk_stream_add_fd(s, fd, DMK_STREAM_WRITE), -EBADF,
		     "O_RDONLY fd added for writing");
	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 0, 0, 16384), 10000);
	cr_assert(!memcmp(map, want, 10000));
	dmk_stream_free(s);
	cr_assert_eq(fcntl(fd, F_GETFD), FD_CLOEXEC, "caller's fd closed");
	/* An O_DIRECT fd: the stream's buffered reads still work. */
	dfd = open(in, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (dfd >= 0) {
		s = new_stream(0, 2, 4096);
		f = dmk_stream_add_fd(s, dfd, DMK_STREAM_READ);
		cr_assert_geq(f, 0);
		cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 1, 1, 9999),
			     9999);
		cr_assert(!memcmp(map + 1, want + 1, 9999));
		dmk_stream_free(s);
		close(dfd);
	}
	close(fd);
	dmk_buf_put(b);
	free(want);
	scratch_done(&sc);
}

/* Registration skips what cannot be pinned and survives re-registering. */
DMK_TEST(stream, register_rules)
{
	struct dmk_buf *b[2] = { dmk_test_alloc("memfd", 8192, "r0"),
				 dmk_test_alloc("memfd", 65536, "r1") };
	struct dmk_stream *s = new_stream(0, 0, 0);
	struct dmk_pool *p = test_pool("memfd", 3, 4096, NULL);

	cr_assert_eq(dmk_stream_register_bufs(s, b, 2), 2);
	cr_assert_eq(dmk_stream_register_bufs(s, b, 1), 1);
	cr_assert_eq(dmk_stream_register_pool(s, p), 3);
	cr_assert_eq(dmk_stream_register_bufs(s, NULL, 0), 0);
	dmk_stream_free(s);
	s = new_stream(DMK_STREAM_NO_FIXED, 0, 0);
	cr_assert_eq(dmk_stream_register_bufs(s, b, 2), 0);
	dmk_stream_free(s);
	dmk_pool_free(p);
	dmk_buf_put(b[0]);
	dmk_buf_put(b[1]);
}

/*
 * The VM tier: a dma-heap buffer is never registered and never the target
 * of O_DIRECT (VM_PFNMAP; CMA must not be long-term pinned): it is filled
 * by buffered reads, byte-exact.  A udmabuf goes through its memfd's
 * mapping and takes every fast path.
 */
static void heap_buffer_case(const char *heap, bool pinnable)
{
	const size_t size = (1u << 20) + 7;
	struct dmk_stream_stats st;
	struct scratch sc;
	char in[PATH_MAX];
	unsigned char *want, *map;
	struct dmk_stream *s;
	struct dmk_buf *b;
	int f, reg;

	scratch_init(&sc);
	want = pattern_file(scratch_path(&sc, "in", in, sizeof(in)), size,
			    SEED);
	b = dmk_test_alloc(heap, 2u << 20, "heap");
	cr_assert_eq(dmk_buf_map(b, (void **)&map), 0);
	s = new_stream(0, 4, 256u << 10);
	f = dmk_stream_open_file(s, in, DMK_STREAM_READ, 0);
	reg = dmk_stream_register_bufs(s, &b, 1);
	path_of(s, (unsigned)f);
	cr_assert_eq(dmk_stream_read(s, (unsigned)f, b, 0, 0, 2u << 20),
		     (int64_t)size);
	cr_assert_eq(dmk_buf_begin_cpu(b, DMK_SYNC_READ), 0);
	cr_assert(!memcmp(map, want, size));
	cr_assert_eq(dmk_buf_end_cpu(b, DMK_SYNC_READ), 0);
	stats_of(s, &st);
	cr_log_info("stream: %s buffer: registered %d, ran %s", heap, reg,
		    dmk_stream_path_name((int)st.ran));
	if (!pinnable) {
		cr_assert_eq(reg, 0);
		cr_assert_eq(st.bytes[DMK_STREAM_PATH_BUFFERED], size);
	}
	dmk_stream_free(s);
	dmk_buf_put(b);
	free(want);
	scratch_done(&sc);
}

DMK_TEST(stream, system_heap_buffered)
{
	heap_buffer_case(dmk_test_require_backend("system"), false);
}

DMK_TEST(stream, cma_heap_never_pinned)
{
	heap_buffer_case(dmk_test_require_backend("cma"), false);
}

DMK_TEST(stream, udmabuf_memfd_paths)
{
	heap_buffer_case(dmk_test_require_backend("udmabuf"), true);
}
