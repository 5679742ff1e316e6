// SPDX-License-Identifier: MIT
/*
 * y4m: frame sources and sinks.  Y4M (4:2:0 and mono) and raw NV12 / GRAY8
 * files read frame by frame into pool buffers with read-ahead, written
 * back as Y4M, byte-exact for odd sizes and padded pitches; truncated and
 * malformed files give a clear error and leak nothing.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include "stream_internal.h"
#include "stream_util.h"


/* The bytes of frame @i of a tight layout: a pattern per frame. */
static void frame_bytes(unsigned char *p, size_t len, unsigned int i)
{
	dmk_test_fill(p, len, 0xf00du + i * 7919u);
}

/*
 * A Y4M file: @header (with its newline), then @nframes frames of @fsize
 * bytes each preceded by @frame_line (NULL: "FRAME\n"), then @tail extra
 * bytes of the next frame.  The frames' bytes are returned, malloc'd.
 */
static unsigned char *make_y4m(const char *path, const char *header,
			       unsigned int nframes, size_t fsize,
			       const char *const *frame_lines, size_t tail)
{
	size_t hl = strlen(header), total = hl, off, i;
	unsigned char *file, *frames;

	for (i = 0; i < nframes; i++)
		total += strlen(frame_lines && frame_lines[i] ? frame_lines[i] :
				"FRAME\n") + fsize;
	total += tail ? 6 + tail : 0;
	file = malloc(total + 1);
	frames = malloc(nframes * fsize + tail + 1);
	cr_assert(file && frames);
	memcpy(file, header, hl);
	off = hl;
	for (i = 0; i < nframes; i++) {
		const char *fl = frame_lines && frame_lines[i] ?
				 frame_lines[i] : "FRAME\n";

		memcpy(file + off, fl, strlen(fl));
		off += strlen(fl);
		frame_bytes(frames + i * fsize, fsize, (unsigned int)i);
		memcpy(file + off, frames + i * fsize, fsize);
		off += fsize;
	}
	if (tail) {
		memcpy(file + off, "FRAME\n", 6);
		off += 6;
		frame_bytes(file + off, tail, (unsigned int)nframes);
		off += tail;
	}
	write_file(path, file, off);
	free(file);
	return frames;
}

static struct dmk_frame_source *open_src(const char *path,
					 const struct dmk_frame_source_opts *o)
{
	struct dmk_frame_source *src = NULL;
	char msg[256] = "";
	struct dmk_frame_source_opts opts;
	int ret;

	if (o) {
		opts = *o;
	} else {
		memset(&opts, 0, sizeof(opts));
		opts.sz = sizeof(opts);
	}
	opts.errmsg = msg;
	opts.errmsg_len = sizeof(msg);
	ret = dmk_frame_source_open(path, 0, &opts, &src);
	cr_assert_eq(ret, 0, "dmk_frame_source_open: %s: %s", strerror(-ret),
		     msg);
	return src;
}

/* Where read_all() takes its pool from (the VM tier tries the heaps). */
static const char *pool_heap = "memfd";

/* Check that a frame in a buffer of layout @l equals tight bytes @want. */
static void check_frame(const unsigned char *buf,
			const struct dmk_frame_layout *l,
			const struct dmk_frame_layout *tight,
			const unsigned char *want, uint64_t index)
{
	unsigned int p, y;

	for (p = 0; p < tight->nplanes; p++)
		for (y = 0; y < tight->plane_height[p]; y++)
			cr_assert(!memcmp(buf + l->offset[p] +
					  (uint64_t)y * l->pitch[p],
					  want + tight->offset[p] +
					  (uint64_t)y * tight->pitch[p],
					  tight->pitch[p]),
				  "frame %llu plane %u row %u differs",
				  (unsigned long long)index, p, y);
}

/*
 * Read every frame of @path into a pool of @layout (NULL: the file's own)
 * and check it against @frames; then write them out as Y4M (or raw) to
 * @out and return the source's io mode.
 */
static enum dmk_frame_io read_all(const char *path,
				  const struct dmk_frame_source_opts *o,
				  const struct dmk_frame_opts *fo,
				  const unsigned char *frames,
				  unsigned int nframes, const char *out,
				  unsigned int sink_flags)
{
	struct dmk_frame_source *src = open_src(path, o);
	const struct dmk_frame_layout *tight = dmk_frame_source_layout(src);
	struct dmk_frame_sink *sink = NULL;
	struct dmk_frame_layout l;
	struct dmk_frame_ref fr;
	struct dmk_pool *pool;
	enum dmk_frame_io io;
	unsigned int n = 0;
	int ret;

	if (fo)
		cr_assert_eq(dmk_frame_layout_init(&l, tight->fourcc,
						   tight->width, tight->height,
						   fo), 0);
	else
		l = *tight;
	pool = test_pool(pool_heap, 4, 0, &l);
	cr_assert_eq(dmk_frame_source_start(src, pool), 0);
	io = dmk_frame_source_io(src);
	if (out) {
		DMK_OPTS(dmk_frame_sink_opts, so, .like = src);

		cr_assert_eq(dmk_frame_sink_open(out, &l, sink_flags, &so,
						 &sink), 0);
	}
	while ((ret = dmk_frame_source_next(src, &fr)) == 1) {
		cr_assert_eq(fr.index, n);
		cr_assert_eq(dmk_buf_begin_cpu(fr.buf, DMK_SYNC_READ), 0);
		check_frame(fr.addr, &l, tight, frames + n * tight->size, n);
		cr_assert_eq(dmk_buf_end_cpu(fr.buf, DMK_SYNC_READ), 0);
		if (sink)
			cr_assert_eq(dmk_frame_sink_write(sink, fr.buf, &l), 0);
		cr_assert_eq(dmk_pool_release(pool, fr.id), 1);
		n++;
	}
	cr_assert_eq(ret, 0, "next: %s: %s", strerror(-ret),
		     dmk_frame_source_error(src));
	cr_assert_eq(n, nframes);
	cr_assert_eq(dmk_frame_source_next(src, &fr), 0, "end sticks");
	dmk_frame_sink_close(sink);
	dmk_frame_source_close(src);
	dmk_pool_free(pool);
	return io;
}

static void same_files(const char *a, const char *b)
{
	size_t la, lb;
	unsigned char *x = read_file(a, &la), *y = read_file(b, &lb);

	cr_assert_eq(la, lb, "%s is %zu bytes, %s %zu", a, la, b, lb);
	cr_assert(!memcmp(x, y, la), "%s and %s differ", a, b);
	free(x);
	free(y);
}

/* 4:2:0 at odd sizes, through tight, plane-aligned and padded pools, and
 * back out: the written file is the one read. */
DMK_TEST(y4m, roundtrip_420_odd_sizes)
{
	static const uint32_t dims[][2] = { { 1, 1 }, { 33, 17 }, { 64, 48 },
					    { 101, 3 } };
	DMK_OPTS(dmk_frame_opts, planes, .pitch_align = 1,
		 .plane_align = 4096);
	DMK_OPTS(dmk_frame_opts, padded, .pitch_align = 64);
	struct scratch sc;
	char in[PATH_MAX], out[PATH_MAX], hdr[128];
	struct dmk_frame_layout t;
	unsigned char *frames;
	size_t i;

	scratch_init(&sc);
	scratch_path(&sc, "in.y4m", in, sizeof(in));
	scratch_path(&sc, "out.y4m", out, sizeof(out));
	for (i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
		cr_assert_eq(dmk__frame_tight_layout(&t, DRM_FORMAT_YUV420,
						     dims[i][0], dims[i][1]),
			     0);
		snprintf(hdr, sizeof(hdr), "YUV4MPEG2 W%u H%u F30:1 Ip A1:1 "
			 "C420jpeg\n", dims[i][0], dims[i][1]);
		frames = make_y4m(in, hdr, 5, t.size, NULL, 0);
		cr_assert_eq(read_all(in, NULL, NULL, frames, 5, out, 0),
			     DMK_FRAME_IO_DIRECT);
		same_files(in, out);
		cr_assert_eq(read_all(in, NULL, &planes, frames, 5, out, 0),
			     DMK_FRAME_IO_PLANES);
		same_files(in, out);
		cr_assert_eq(read_all(in, NULL, &padded, frames, 5, out, 0),
			     DMK_FRAME_IO_COPY);
		same_files(in, out);
		free(frames);
	}
	/* Without a source to copy from, the sink writes its defaults. */
	{
		struct dmk_frame_sink *sink;
		struct dmk_buf *b = dmk_test_alloc("memfd", 4096, "def");
		size_t len;
		unsigned char *got;

		cr_assert_eq(dmk__frame_tight_layout(&t, DRM_FORMAT_YUV420, 4,
						     2), 0);
		cr_assert_eq(dmk_frame_sink_open(out, &t, 0, NULL, &sink), 0);
		cr_assert_eq(dmk_frame_sink_write(sink, b, NULL), 0);
		dmk_frame_sink_close(sink);
		got = read_file(out, &len);
		cr_assert_eq(len, 34 + 6 + 12);
		cr_assert(!memcmp(got, "YUV4MPEG2 W4 H2 F30:1 Ip C420jpeg\n"
				  "FRAME\n", 40));
		free(got);
		dmk_buf_put(b);
	}
	scratch_done(&sc);
}

DMK_TEST(y4m, roundtrip_mono)
{
	DMK_OPTS(dmk_frame_opts, padded, .pitch_align = 256);
	struct scratch sc;
	char in[PATH_MAX], out[PATH_MAX];
	unsigned char *frames;

	scratch_init(&sc);
	scratch_path(&sc, "in.y4m", in, sizeof(in));
	scratch_path(&sc, "out.y4m", out, sizeof(out));
	frames = make_y4m(in, "YUV4MPEG2 W37 H9 F25:1 It A1:1 Cmono\n", 4,
			  37 * 9,
			  NULL, 0);
	cr_assert_eq(read_all(in, NULL, &padded, frames, 4, out, 0),
		     DMK_FRAME_IO_COPY);
	same_files(in, out);
	free(frames);
	scratch_done(&sc);
}

/* The other 4:2:0 spellings, and no C tag at all (420jpeg). */
DMK_TEST(y4m, colour_spaces_420)
{
	static const char *const hdrs[] = {
		"YUV4MPEG2 W8 H6 C420paldv\n", "YUV4MPEG2 W8 H6 C420mpeg2\n",
		"YUV4MPEG2 W8 H6 C420\n", "YUV4MPEG2 W8 H6\n",
		"YUV4MPEG2 W8 H6 F30000:1001 It A10:11 XYSCSS=420JPEG "
		"XCOMMENT=hello Zfuture C420jpeg\n",
	};
	struct scratch sc;
	char in[PATH_MAX];
	unsigned char *frames;
	size_t i;

	scratch_init(&sc);
	scratch_path(&sc, "in.y4m", in, sizeof(in));
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		frames = make_y4m(in, hdrs[i], 2, 8 * 6 * 3 / 2, NULL, 0);
		read_all(in, NULL, NULL, frames, 2, NULL, 0);
		free(frames);
	}
	scratch_done(&sc);
}

/* Raw NV12 and GRAY8 files, into tight and padded pools, out as raw. */
DMK_TEST(y4m, raw_nv12_gray8)
{
	DMK_OPTS(dmk_frame_opts, padded, .pitch_align = 128);
	struct scratch sc;
	char in[PATH_MAX], out[PATH_MAX];
	struct dmk_frame_layout t;
	unsigned char *frames;
	unsigned int i;
	static const uint32_t fmts[] = { DRM_FORMAT_NV12, DRM_FORMAT_R8 };

	scratch_init(&sc);
	scratch_path(&sc, "in.raw", in, sizeof(in));
	scratch_path(&sc, "out.raw", out, sizeof(out));
	for (i = 0; i < 2; i++) {
		DMK_OPTS(dmk_frame_source_opts, o, .fourcc = fmts[i],
			 .width = 99, .height = 31, .readahead = 3);

		cr_assert_eq(dmk__frame_tight_layout(&t, fmts[i], 99, 31), 0);
		frames = malloc(6 * t.size);
		for (unsigned int f = 0; f < 6; f++)
			frame_bytes(frames + f * t.size, t.size, f);
		write_file(in, frames, 6 * t.size);
		cr_assert_eq(read_all(in, &o, NULL, frames, 6, out,
				      DMK_FRAME_SINK_RAW), DMK_FRAME_IO_DIRECT);
		same_files(in, out);
		cr_assert_eq(read_all(in, &o, &padded, frames, 6, out,
				      DMK_FRAME_SINK_RAW), DMK_FRAME_IO_COPY);
		same_files(in, out);
		free(frames);
	}
	scratch_done(&sc);
}

/*
 * The VM tier: frames into dma-heap buffers (filled by buffered reads,
 * never pinned) and udmabuf buffers (their memfd pages), tight and padded,
 * written back out byte-exact.
 */
static void heap_frames(const char *heap)
{
	DMK_OPTS(dmk_frame_opts, padded, .pitch_align = 64);
	struct scratch sc;
	char in[PATH_MAX], out[PATH_MAX];
	unsigned char *frames;

	pool_heap = heap;
	scratch_init(&sc);
	scratch_path(&sc, "in.y4m", in, sizeof(in));
	scratch_path(&sc, "out.y4m", out, sizeof(out));
	frames = make_y4m(in, "YUV4MPEG2 W96 H33 F30:1 Ip C420jpeg\n", 4,
			  96 * 33 + 2 * 48 * 17, NULL, 0);
	cr_assert_eq(read_all(in, NULL, NULL, frames, 4, out, 0),
		     DMK_FRAME_IO_DIRECT);
	same_files(in, out);
	cr_assert_eq(read_all(in, NULL, &padded, frames, 4, out, 0),
		     DMK_FRAME_IO_COPY);
	same_files(in, out);
	free(frames);
	scratch_done(&sc);
}

DMK_TEST(y4m, frames_into_system_heap)
{
	heap_frames(dmk_test_require_backend("system"));
}

DMK_TEST(y4m, frames_into_cma_heap)
{
	heap_frames(dmk_test_require_backend("cma"));
}

DMK_TEST(y4m, frames_into_udmabuf)
{
	heap_frames(dmk_test_require_backend("udmabuf"));
}

/* Frames whose FRAME lines change length mid-file: the reads ahead are
 * redone from the right offsets. */
DMK_TEST(y4m, frame_parameters_resync)
{
	static const char *const lines[] = {
		"FRAME\n", "FRAME\n", "FRAME Ixyz\n", "FRAME Ixyz\n",
		"FRAME\n", "FRAME XLONGER=PARAMETER\n", "FRAME\n",
	};
	struct scratch sc;
	char in[PATH_MAX];
	unsigned char *frames;

	scratch_init(&sc);
	scratch_path(&sc, "in.y4m", in, sizeof(in));
	frames = make_y4m(in, "YUV4MPEG2 W16 H4 Cmono\n", 7, 64, lines, 0);
	read_all(in, NULL, NULL, frames, 7, NULL, 0);
	free(frames);
	/* The first FRAME line sets what is expected. */
	frames = make_y4m(in, "YUV4MPEG2 W16 H4 Cmono\n", 5, 64, lines + 2, 0);
	read_all(in, NULL, NULL, frames, 5, NULL, 0);
	free(frames);
	scratch_done(&sc);
}

/* Frame n + k is in flight while the caller holds frame n; no allocation
 * on the frame path. */
DMK_TEST(y4m, readahead_overlaps)
{
	DMK_OPTS(dmk_frame_source_opts, o, .readahead = 3);
	DMK_OPTS(dmk_pool_stats, ps);
	struct dmk_stream_stats st;
	struct scratch sc;
	char in[PATH_MAX];
	struct dmk_frame_source *src;
	struct dmk_frame_ref fr;
	struct dmk_pool *pool;
	unsigned char *frames;
	long allocs = 0;
	int i;

	scratch_init(&sc);
	scratch_path(&sc, "in.y4m", in, sizeof(in));
	frames = make_y4m(in, "YUV4MPEG2 W64 H64 C420jpeg\n", 20, 64 * 96,
			  NULL, 0);
	src = open_src(in, &o);
	pool = test_pool("memfd", 6, 0, dmk_frame_source_layout(src));
	cr_assert_eq(dmk_frame_source_start(src, pool), 0);
	cr_assert_eq(dmk_pool_stats(pool, &ps), 0);
	cr_assert_eq(ps.in_use, 3, "3 frames read ahead before the first");
	cr_assert_eq(dmk_frame_source_next(src, &fr), 1);
	cr_assert_eq(dmk_pool_stats(pool, &ps), 0);
	cr_assert_eq(ps.in_use, 4, "frame 0 held, frames 1-3 in flight");
	memset(&st, 0, sizeof(st));
	st.sz = sizeof(st);
	cr_assert_eq(dmk_stream_stats(dmk_frame_source_stream(src), &st), 0);
	cr_assert_eq(st.registered_bufs, 6);
	cr_assert_eq(dmk_pool_release(pool, fr.id), 1);
	dmk_test_count_allocs_start();
	for (i = 1; i < 15; i++) {
		cr_assert_eq(dmk_frame_source_next(src, &fr), 1);
		cr_assert_eq(fr.index, (uint64_t)i);
		dmk_pool_release(pool, fr.id);
	}
	allocs = dmk_test_count_allocs_stop();
	cr_assert_eq(allocs, 0, "%ld allocations on the frame path", allocs);
	/* Closing with frames in flight gives their buffers back. */
	dmk_frame_source_close(src);
	cr_assert_eq(dmk_pool_stats(pool, &ps), 0);
	cr_assert_eq(ps.in_use, 0);
	dmk_pool_free(pool);
	free(frames);
	scratch_done(&sc);
}

/* The caller holds every buffer: -ENOBUFS, not a hang. */
DMK_TEST(y4m, caller_holds_all_buffers)
{
	DMK_OPTS(dmk_frame_source_opts, o, .readahead = 1);
	struct scratch sc;
	char in[PATH_MAX];
	struct dmk_frame_source *src;
	struct dmk_frame_ref a, b;
	struct dmk_pool *pool;
	unsigned char *frames;

	scratch_init(&sc);
	scratch_path(&sc, "in.y4m", in, sizeof(in));
	frames = make_y4m(in, "YUV4MPEG2 W8 H8 Cmono\n", 5, 64, NULL, 0);
	src = open_src(in, &o);
	pool = test_pool("memfd", 2, 0, dmk_frame_source_layout(src));
	cr_assert_eq(dmk_frame_source_start(src, pool), 0);
	cr_assert_eq(dmk_frame_source_next(src, &a), 1);
	cr_assert_eq(dmk_frame_source_next(src, &b), 1);
	cr_assert_eq(dmk_frame_source_next(src, &b), -ENOBUFS);
	cr_assert(strstr(dmk_frame_source_error(src), "holds all"));
	dmk_pool_release(pool, a.id);
	dmk_frame_source_close(src);
	dmk_pool_release(pool, b.id);
	dmk_pool_free(pool);
	free(frames);
	scratch_done(&sc);
}

/* EOF in the middle of a frame, of a FRAME line, of a raw frame. */
DMK_TEST(y4m, eof_inside_a_frame)
{
	DMK_OPTS(dmk_frame_source_opts, raw, .fourcc = DRM_FORMAT_NV12,
		 .width = 16, .height = 16);
	struct scratch sc;
	char in[PATH_MAX];
	struct dmk_frame_source *src;
	struct dmk_frame_ref fr;
	struct dmk_pool *pool;
	unsigned char *frames;
	size_t len;
	unsigned char *f;
	int i;

	scratch_init(&sc);
	scratch_path(&sc, "in.y4m", in, sizeof(in));
	frames = make_y4m(in, "YUV4MPEG2 W16 H16 C420jpeg\n", 2, 384, NULL,
			  100);
	src = open_src(in, NULL);
	pool = test_pool("memfd", 4, 0, dmk_frame_source_layout(src));
	cr_assert_eq(dmk_frame_source_start(src, pool), 0);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(dmk_frame_source_next(src, &fr), 1);
		dmk_pool_release(pool, fr.id);
	}
	cr_assert_eq(dmk_frame_source_next(src, &fr), -ENODATA);
	cr_log_info("y4m: %s", dmk_frame_source_error(src));
	cr_assert(strstr(dmk_frame_source_error(src),
			 "frame 2: the file ends 100 bytes into it"), "%s",
		  dmk_frame_source_error(src));
	cr_assert_eq(dmk_frame_source_next(src, &fr), -ENODATA, "sticks");
	dmk_frame_source_close(src);
	dmk_pool_free(pool);
	free(frames);

	/* Cut inside the second FRAME line. */
	frames = make_y4m(in, "YUV4MPEG2 W16 H16 C420jpeg\n", 1, 384, NULL,
			  0);
	f = read_file(in, &len);
	f = realloc(f, len + 3);
	cr_assert_not_null(f);
	memcpy(f + len, "FRA", 3);
	write_file(in, f, len + 3);
	free(f);
	src = open_src(in, NULL);
	pool = test_pool("memfd", 4, 0, dmk_frame_source_layout(src));
	cr_assert_eq(dmk_frame_source_start(src, pool), 0);
	cr_assert_eq(dmk_frame_source_next(src, &fr), 1);
	dmk_pool_release(pool, fr.id);
	cr_assert_eq(dmk_frame_source_next(src, &fr), -ENODATA);
	cr_log_info("y4m: %s", dmk_frame_source_error(src));
	cr_assert(strstr(dmk_frame_source_error(src), "FRAME line"));
	dmk_frame_source_close(src);
	dmk_pool_free(pool);
	free(frames);

	/* A raw file of 2.5 frames. */
	f = malloc(384 * 3);
	frame_bytes(f, 384 * 3, 1);
	write_file(in, f, 384 * 2 + 192);
	src = open_src(in, &raw);
	pool = test_pool("memfd", 4, 0, dmk_frame_source_layout(src));
	cr_assert_eq(dmk_frame_source_start(src, pool), 0);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(dmk_frame_source_next(src, &fr), 1);
		cr_assert(!memcmp(fr.addr, f + i * 384, 384));
		dmk_pool_release(pool, fr.id);
	}
	cr_assert_eq(dmk_frame_source_next(src, &fr), -ENODATA);
	cr_log_info("y4m: %s", dmk_frame_source_error(src));
	dmk_frame_source_close(src);
	dmk_pool_free(pool);
	free(f);
	scratch_done(&sc);
}

/* A header and no frames; an empty raw file. */
DMK_TEST(y4m, no_frames)
{
	DMK_OPTS(dmk_frame_source_opts, raw, .fourcc = DRM_FORMAT_R8,
		 .width = 4, .height = 4);
	struct scratch sc;
	char in[PATH_MAX];
	struct dmk_frame_source *src;
	struct dmk_frame_ref fr;
	struct dmk_pool *pool;

	scratch_init(&sc);
	scratch_path(&sc, "in.y4m", in, sizeof(in));
	write_file(in, "YUV4MPEG2 W4 H4 Cmono\n", 22);
	src = open_src(in, NULL);
	pool = test_pool("memfd", 3, 0, dmk_frame_source_layout(src));
	cr_assert_eq(dmk_frame_source_start(src, pool), 0);
	cr_assert_eq(dmk_frame_source_next(src, &fr), 0);
	dmk_frame_source_close(src);
	write_file(in, "", 0);
	src = open_src(in, &raw);
	cr_assert_eq(dmk_frame_source_start(src, pool), 0);
	cr_assert_eq(dmk_frame_source_next(src, &fr), 0);
	dmk_frame_source_close(src);
	dmk_pool_free(pool);
	scratch_done(&sc);
}

struct bad_header {
	const char *text;
	int err;
	const char *says;
};

/* Malformed stream headers: each a clear error at open, nothing leaked. */
DMK_TEST(y4m, malformed_headers)
{
	static const struct bad_header cases[] = {
		{ "", -EBADMSG, "not a Y4M file" },
		{ "YUV4MP", -EBADMSG, "truncated" },
		{ "YUV4MPEG2 W64 H", -EBADMSG, "truncated" },
		{ "RIFF....WAVEfmt \n", -EBADMSG, "not a Y4M file" },
		{ "YUV4MPEG2X W8 H8\n", -EBADMSG, "where a space should be" },
		{ "YUV4MPEG2 W70000 H8\n", -EFBIG, "over 16384" },
		{ "YUV4MPEG2 W8 H99999999999\n", -EFBIG, "over 16384" },
		{ "YUV4MPEG2 W16385 H16384\n", -EFBIG, "16385 is over" },
		{ "YUV4MPEG2 W0 H8\n", -EBADMSG, "W tag: 0" },
		{ "YUV4MPEG2 W-3 H8\n", -EBADMSG, "not a number" },
		{ "YUV4MPEG2 Wx H8\n", -EBADMSG, "not a number" },
		{ "YUV4MPEG2 W H8\n", -EBADMSG, "not a number" },
		{ "YUV4MPEG2 H8\n", -EBADMSG, "lacks the W tag" },
		{ "YUV4MPEG2 W8\n", -EBADMSG, "lacks the H tag" },
		{ "YUV4MPEG2 W8 W8 H8\n", -EBADMSG, "two W tags" },
		{ "YUV4MPEG2 W8  H8\n", -EBADMSG, "empty tag" },
		{ "YUV4MPEG2 W8 H8 \n", -EBADMSG, "empty tag" },
		{ "YUV4MPEG2 W8 H8 C444\n", -ENOTSUP, "C444 is not handled" },
		{ "YUV4MPEG2 W8 H8 C422\n", -ENOTSUP, "not handled" },
		{ "YUV4MPEG2 W8 H8 Cmono16\n", -ENOTSUP, "not handled" },
		{ "YUV4MPEG2 W8 H8 C420p10\n", -ENOTSUP, "not handled" },
		{ "YUV4MPEG2 W8 H8 C\n", -ENOTSUP, "not handled" },
		{ "YUV4MPEG2 W8 H8 C420 Cmono\n", -EBADMSG, "two C tags" },
		{ "YUV4MPEG2 W8 H8 F30\n", -EBADMSG, "frame rate" },
		{ "YUV4MPEG2 W8 H8 F30:0\n", -EBADMSG, "frame rate" },
		{ "YUV4MPEG2 W8 H8 Fa:b\n", -EBADMSG, "frame rate" },
		{ "YUV4MPEG2 W8 H8 A1\n", -EBADMSG, "aspect" },
		{ "YUV4MPEG2 W8 H8 Ix\n", -EBADMSG, "I tag" },
		{ "YUV4MPEG2 W8 H8 Ipp\n", -EBADMSG, "I tag" },
	};
	struct scratch sc;
	char in[PATH_MAX], msg[256];
	struct dmk_frame_source *src = NULL;
	size_t i;
	int ret;

	scratch_init(&sc);
	scratch_path(&sc, "bad.y4m", in, sizeof(in));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		DMK_OPTS(dmk_frame_source_opts, o, .errmsg = msg,
			 .errmsg_len = sizeof(msg));

		write_file(in, cases[i].text, strlen(cases[i].text));
		msg[0] = '\0';
		ret = dmk_frame_source_open(in, 0, &o, &src);
		cr_log_info("y4m: \"%.*s\": %s", (int)strcspn(cases[i].text,
			    "\n"), cases[i].text, msg);
		cr_assert_eq(ret, cases[i].err, "case %zu (%s): %d (%s), want "
			     "%d", i, cases[i].text, ret, msg, cases[i].err);
		cr_assert(strstr(msg, cases[i].says), "case %zu: \"%s\" lacks "
			  "\"%s\"", i, msg, cases[i].says);
		cr_assert_null(src);
	}
	/* Longer than the header limit, with no newline. */
	{
		DMK_OPTS(dmk_frame_source_opts, o, .errmsg = msg,
			 .errmsg_len = sizeof(msg));
		char *big = malloc(DMK_Y4M_HEADER_MAX + 100);

		memset(big, 'X', DMK_Y4M_HEADER_MAX + 100);
		memcpy(big, "YUV4MPEG2 W8 H8 X", 17);
		write_file(in, big, DMK_Y4M_HEADER_MAX + 100);
		cr_assert_eq(dmk_frame_source_open(in, 0, &o, &src), -EBADMSG);
		cr_assert(strstr(msg, "longer than"), "%s", msg);
		free(big);
	}
	scratch_done(&sc);
}

/* The frame marker missing or malformed: next() says where. */
DMK_TEST(y4m, frame_marker_missing)
{
	static const char *const bad[] = { "FRAMX\n", "frame\n", "FRAMEX\n" };
	static const char *const says[] = { "no FRAME marker",
					    "no FRAME marker",
					    "malformed FRAME marker" };
	const char *lines[3] = { "FRAME\n", "FRAME\n", NULL };
	struct scratch sc;
	char in[PATH_MAX];
	struct dmk_frame_source *src;
	struct dmk_frame_ref fr;
	struct dmk_pool *pool;
	unsigned char *frames;
	size_t i;

	scratch_init(&sc);
	scratch_path(&sc, "in.y4m", in, sizeof(in));
	for (i = 0; i < 3; i++) {
		lines[1] = bad[i];
		frames = make_y4m(in, "YUV4MPEG2 W8 H8 Cmono\n", 3, 64, lines,
				  0);
		src = open_src(in, NULL);
		pool = test_pool("memfd", 4, 0, dmk_frame_source_layout(src));
		cr_assert_eq(dmk_frame_source_start(src, pool), 0);
		cr_assert_eq(dmk_frame_source_next(src, &fr), 1);
		dmk_pool_release(pool, fr.id);
		cr_assert_eq(dmk_frame_source_next(src, &fr), -EBADMSG);
		cr_log_info("y4m: %s", dmk_frame_source_error(src));
		cr_assert(strstr(dmk_frame_source_error(src), says[i]), "%s",
			  dmk_frame_source_error(src));
		cr_assert(strstr(dmk_frame_source_error(src), "frame 1"));
		dmk_frame_source_close(src);
		dmk_pool_free(pool);
		free(frames);
	}
	/* Pixels straight after the header. */
	write_file(in, "YUV4MPEG2 W8 H8 Cmono\n0123456789", 32);
	src = open_src(in, NULL);
	pool = test_pool("memfd", 4, 0, dmk_frame_source_layout(src));
	cr_assert_eq(dmk_frame_source_start(src, pool), 0);
	cr_assert_eq(dmk_frame_source_next(src, &fr), -EBADMSG);
	cr_assert(strstr(dmk_frame_source_error(src), "frame 0: no FRAME"));
	dmk_frame_source_close(src);
	dmk_pool_free(pool);
	scratch_done(&sc);
}

/* A missing file, a directory, an unreadable file; a read-only
 * destination and a directory for the sink. */
DMK_TEST(y4m, file_errors)
{
	struct scratch sc;
	char p[PATH_MAX], msg[256], ro[PATH_MAX];
	struct dmk_frame_source *src = NULL;
	struct dmk_frame_sink *sink = NULL;
	struct dmk_frame_layout l;
	DMK_OPTS(dmk_frame_source_opts, o, .errmsg = msg,
		 .errmsg_len = sizeof(msg));

	scratch_init(&sc);
	cr_assert_eq(dmk_frame_source_open(scratch_path(&sc, "nope", p,
							 sizeof(p)),
					   0, &o, &src), -ENOENT);
	cr_assert(strstr(msg, "No such file"), "%s", msg);
	cr_assert_eq(dmk_frame_source_open(sc.dir, 0, &o, &src), -EISDIR);
	write_file(scratch_path(&sc, "secret.y4m", p, sizeof(p)),
		   "YUV4MPEG2 W8 H8\n", 16);
	cr_assert_eq(chmod(p, 0), 0);
	write_file(scratch_path(&sc, "ro.y4m", ro, sizeof(ro)), "", 0);
	cr_assert_eq(chmod(ro, 0444), 0);
	drop_dac_override();
	cr_assert_eq(dmk_frame_source_open(p, 0, &o, &src), -EACCES);
	cr_assert_null(src);

	cr_assert_eq(dmk__frame_tight_layout(&l, DRM_FORMAT_YUV420, 8, 8), 0);
	cr_assert_eq(dmk_frame_sink_open(ro, &l, 0, NULL, &sink), -EACCES);
	cr_assert_eq(dmk_frame_sink_open(sc.dir, &l, 0, NULL, &sink),
		     -EISDIR);
	cr_assert_null(sink);
	scratch_done(&sc);
}

DMK_TEST(y4m, bad_arguments)
{
	struct scratch sc;
	char p[PATH_MAX];
	struct dmk_frame_source *src = NULL;
	struct dmk_frame_sink *sink = NULL;
	struct dmk_frame_layout l, nv12;
	struct dmk_pool *pool;
	struct dmk_frame_ref fr;
	struct dmk_buf *small;
	DMK_OPTS(dmk_frame_source_opts, half, .fourcc = DRM_FORMAT_NV12);
	DMK_OPTS(dmk_frame_source_opts, odd, .fourcc = DRM_FORMAT_NV12,
		 .width = 3, .height = 3);
	DMK_OPTS(dmk_frame_source_opts, fmt, .fourcc = 0x31323334,
		 .width = 8, .height = 8);
	DMK_OPTS(dmk_frame_source_opts, dims, .width = 8);

	scratch_init(&sc);
	write_file(scratch_path(&sc, "in.y4m", p, sizeof(p)),
		   "YUV4MPEG2 W8 H8\nFRAME\n", 22);
	cr_assert_eq(dmk_frame_source_open(p, 1, NULL, &src), -EINVAL);
	cr_assert_eq(dmk_frame_source_open(p, 0, &half, &src), -EINVAL);
	cr_assert_eq(dmk_frame_source_open(p, 0, &dims, &src), -EINVAL);
	cr_assert_eq(dmk_frame_source_open(p, 0, &fmt, &src), -ENOTSUP);
	cr_assert_eq(dmk_frame_source_open(NULL, 0, NULL, &src), -EINVAL);
	cr_assert_null(src);
	/* A raw file of odd-sized NV12 is fine (chroma rounds up). */
	src = open_src(p, &odd);
	dmk_frame_source_close(src);

	src = open_src(p, NULL);
	cr_assert_eq(dmk_frame_source_next(src, &fr), -EINVAL, "not started");
	/* A pool of another format or size is refused. */
	cr_assert_eq(dmk__frame_tight_layout(&nv12, DRM_FORMAT_NV12, 8, 8), 0);
	pool = test_pool("memfd", 2, 0, &nv12);
	cr_assert_eq(dmk_frame_source_start(src, pool), -EINVAL);
	dmk_pool_free(pool);
	cr_assert_eq(dmk__frame_tight_layout(&l, DRM_FORMAT_YUV420, 16, 8), 0);
	pool = test_pool("memfd", 2, 0, &l);
	cr_assert_eq(dmk_frame_source_start(src, pool), -EINVAL, "16x8");
	dmk_pool_free(pool);
	pool = test_pool("memfd", 2, 4096, NULL);
	cr_assert_eq(dmk_frame_source_start(src, pool), 0);
	cr_assert_eq(dmk_frame_source_start(src, pool), -EINVAL, "twice");
	dmk_frame_source_close(src);
	dmk_pool_free(pool);

	/* The sink: Y4M carries 4:2:0 and mono only. */
	cr_assert_eq(dmk_frame_sink_open(p, &nv12, 0, NULL, &sink), -ENOTSUP);
	cr_assert_eq(dmk__frame_tight_layout(&l, DRM_FORMAT_YUV420, 64, 64),
		     0);
	cr_assert_eq(dmk_frame_sink_open(p, &l, 8, NULL, &sink), -EINVAL);
	cr_assert_eq(dmk_frame_sink_open(p, &l, 0, NULL, &sink), 0);
	small = dmk_test_alloc("memfd", 64, "small");
	cr_assert_eq(dmk_frame_sink_write(sink, small, NULL), -EINVAL);
	cr_assert_eq(dmk_frame_sink_write(sink, small, &nv12), -EINVAL);
	dmk_buf_put(small);
	dmk_frame_sink_close(sink);
	dmk_frame_sink_close(NULL);
	dmk_frame_source_close(NULL);
	scratch_done(&sc);
}

/* A write error sticks: /dev/full. */
DMK_TEST(y4m, sink_write_error)
{
	struct dmk_frame_sink *sink = NULL;
	struct dmk_frame_layout l;

	cr_assert_eq(dmk__frame_tight_layout(&l, DRM_FORMAT_R8, 8, 8), 0);
	cr_assert_eq(dmk_frame_sink_open("/dev/full", &l, 0, NULL, &sink),
		     -ENOSPC);
	cr_assert_null(sink);
}

/* The parser on its own: what it accepts and the values it reads. */
DMK_TEST(y4m, parser_values)
{
	struct dmk__y4m h;
	char err[256], out[160];
	size_t len;
	const char *s = "YUV4MPEG2 W1920 H1080 F30000:1001 It A128:117 "
			"C420mpeg2 XYSCSS=420MPEG2\nFRAME\n";

	cr_assert_eq(dmk__y4m_parse(s, strlen(s), &h, err, sizeof(err)), 0);
	cr_assert_eq(h.width, 1920);
	cr_assert_eq(h.height, 1080);
	cr_assert_eq(h.fps_num, 30000);
	cr_assert_eq(h.fps_den, 1001);
	cr_assert_eq(h.par_num, 128);
	cr_assert_eq(h.par_den, 117);
	cr_assert_eq(h.interlace, 't');
	cr_assert_str_eq(h.colorspace, "420mpeg2");
	cr_assert_eq(h.fourcc, DRM_FORMAT_YUV420);
	cr_assert_eq(h.header_len, strlen(s) - 6);
	cr_assert_eq(dmk__y4m_format(&h, out, sizeof(out)), 56);
	cr_assert_str_eq(out, "YUV4MPEG2 W1920 H1080 F30000:1001 It A128:117 "
			 "C420mpeg2\n");
	cr_assert_eq(dmk__y4m_format(&h, out, 20), -ENOSPC);
	cr_assert_eq(dmk__y4m_parse("YUV4MPEG2 W16384 H16384 Cmono\n", 30, &h,
				    err, sizeof(err)), 0);
	cr_assert_eq(h.fourcc, DRM_FORMAT_R8);

	cr_assert_eq(dmk__y4m_frame_header("FRAME\n", 6, &len), 0);
	cr_assert_eq(len, 6);
	cr_assert_eq(dmk__y4m_frame_header("FRAME Ip\nxx", 11, &len), 0);
	cr_assert_eq(len, 9);
	cr_assert_eq(dmk__y4m_frame_header("FRAME Ip", 8, &len), -ENODATA);
	cr_assert_eq(dmk__y4m_frame_header("FRA", 3, &len), -ENODATA);
	cr_assert_eq(dmk__y4m_frame_header("FRAMX\n", 6, &len), -EBADMSG);
	cr_assert_eq(dmk__y4m_frame_header("FRAMEX\n", 7, &len), -EBADMSG);
	cr_assert_eq(dmk_frame_io_name(DMK_FRAME_IO_COPY)[0], 'c');
}
