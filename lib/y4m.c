// SPDX-License-Identifier: MIT
/*
 * Frames from and to files: a strict Y4M parser, a frame source that reads
 * frames into pool buffers with read-ahead, and a Y4M (or raw) sink.
 *
 * A Y4M file is a header line, then per frame a "FRAME" line and the
 * planes, tightly packed.  Frame n + k can only be read ahead if its
 * offset is known, which needs the length of every FRAME line before it:
 * the source assumes each is as long as the last one seen (almost always
 * "FRAME\n") and checks each as it arrives.  When one differs, the reads
 * ahead are wrong: they are dropped and reading resumes from the right
 * offset.  Malformed input is an error with a message, never a crash:
 * every length read from the file is bounded before use.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <drm_fourcc.h>

#include "internal.h"
#include "stream_internal.h"
#include "sys.h"

#define Y4M_MAGIC "YUV4MPEG2"
#define Y4M_MAGIC_LEN 9
#define MAX_FRAME_BYTES (1ull << 30)
#define MAX_READAHEAD 1024
#define DEFAULT_READAHEAD 2

static const char frame_line[] = "FRAME\n";
#define FRAME_LINE_LEN 6

/* ---- the parser ---- */

/* @src as printable text for a message: at most 24 bytes, quoted. */
static const char *show(const char *src, size_t n, char *buf, size_t len)
{
	size_t i, o = 0;

	if (n > 24)
		n = 24;
	for (i = 0; i < n && o + 5 < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c >= 0x20 && c < 0x7f && c != '"')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
	}
	buf[o < len ? o : len - 1] = '\0';
	return buf;
}

/* Digits only: 0, -EINVAL (not a number), -ERANGE (over 32 bits). */
static int parse_u32(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	size_t i;

	if (!n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint32_t)(s[i] - '0'), &v))
			return -ERANGE;
	}
	*out = v;
	return 0;
}

/* "N:D" */
static int parse_ratio(const char *s, size_t n, uint32_t *num, uint32_t *den)
{
	const char *colon = memchr(s, ':', n);

	if (!colon)
		return -EINVAL;
	if (parse_u32(s, (size_t)(colon - s), num) ||
	    parse_u32(colon + 1, n - (size_t)(colon - s) - 1, den))
		return -EINVAL;
	/* 0:0 means unknown; N:0 is nonsense. */
	if (!*den && *num)
		return -EINVAL;
	return 0;
}

#define FAIL(code, ...)						\
	do {							\
		if (err && errlen)				\
			snprintf(err, errlen, __VA_ARGS__);	\
		return code;					\
	} while (0)

static int parse_dim(char tag, const char *v, size_t n, uint32_t *out,
		     char *err, size_t errlen)
{
	char q[128];
	int ret = parse_u32(v, n, out);

	if (ret == -ERANGE)
		FAIL(-EFBIG, "Y4M %c tag: \"%s\" is over %u", tag,
		     show(v, n, q, sizeof(q)), DMK_Y4M_MAX_DIM);
	if (ret)
		FAIL(-EBADMSG, "Y4M %c tag: \"%s\" is not a number", tag,
		     show(v, n, q, sizeof(q)));
	if (!*out)
		FAIL(-EBADMSG, "Y4M %c tag: 0", tag);
	if (*out > DMK_Y4M_MAX_DIM)
		FAIL(-EFBIG, "Y4M %c tag: %u is over %u", tag, *out,
		     DMK_Y4M_MAX_DIM);
	return 0;
}

static const struct {
	const char *name;
	uint32_t fourcc;
} colorspaces[] = {
	{ "420jpeg", DRM_FORMAT_YUV420 },
	{ "420paldv", DRM_FORMAT_YUV420 },
	{ "420mpeg2", DRM_FORMAT_YUV420 },
	{ "420", DRM_FORMAT_YUV420 },
	{ "mono", DRM_FORMAT_R8 },
};

int dmk__y4m_parse(const char *data, size_t len, struct dmk__y4m *h,
		   char *err, size_t errlen)
{
	bool seen_w = false, seen_h = false, seen_c = false;
	const char *nl, *p, *end;
	char q[128];
	size_t i;
	int ret;

	memset(h, 0, sizeof(*h));
	if (!len)
		FAIL(-EBADMSG, "not a Y4M file: the file is empty");
	if (len < Y4M_MAGIC_LEN || memcmp(data, Y4M_MAGIC, Y4M_MAGIC_LEN)) {
		if (len < Y4M_MAGIC_LEN && !memcmp(data, Y4M_MAGIC, len))
			FAIL(-EBADMSG, "Y4M header truncated: the file ends "
			     "after %zu bytes", len);
		FAIL(-EBADMSG, "not a Y4M file: it starts with \"%s\", not "
		     "\"" Y4M_MAGIC "\"", show(data, len, q, sizeof(q)));
	}
	nl = memchr(data, '\n', len);
	if (!nl) {
		if (len >= DMK_Y4M_HEADER_MAX)
			FAIL(-EBADMSG, "Y4M header longer than %u bytes",
			     DMK_Y4M_HEADER_MAX);
		FAIL(-EBADMSG, "Y4M header truncated: the file ends after "
		     "%zu bytes, before the header's end of line", len);
	}
	p = data + Y4M_MAGIC_LEN;
	end = nl;
	while (p < end) {
		const char *tag;
		size_t n;

		if (*p != ' ')
			FAIL(-EBADMSG, "Y4M header: \"%s\" at byte %zu, where "
			     "a space should be", show(p, (size_t)(end - p),
			     q, sizeof(q)), (size_t)(p - data));
		tag = ++p;
		while (p < end && *p != ' ')
			p++;
		n = (size_t)(p - tag);
		if (!n)
			FAIL(-EBADMSG, "Y4M header: empty tag at byte %zu",
			     (size_t)(tag - data));
		switch (tag[0]) {
		case 'W':
			if (seen_w)
				FAIL(-EBADMSG, "Y4M header: two W tags");
			ret = parse_dim('W', tag + 1, n - 1, &h->width, err,
					errlen);
			if (ret)
				return ret;
			seen_w = true;
			break;
		case 'H':
			if (seen_h)
				FAIL(-EBADMSG, "Y4M header: two H tags");
			ret = parse_dim('H', tag + 1, n - 1, &h->height, err,
					errlen);
			if (ret)
				return ret;
			seen_h = true;
			break;
		case 'F':
			if (parse_ratio(tag + 1, n - 1, &h->fps_num,
					&h->fps_den))
				FAIL(-EBADMSG, "Y4M F tag: \"%s\" is not a "
				     "frame rate N:D", show(tag + 1, n - 1, q,
				     sizeof(q)));
			break;
		case 'A':
			if (parse_ratio(tag + 1, n - 1, &h->par_num,
					&h->par_den))
				FAIL(-EBADMSG, "Y4M A tag: \"%s\" is not an "
				     "aspect ratio N:D", show(tag + 1, n - 1,
				     q, sizeof(q)));
			break;
		case 'I':
			if (n != 2 || !strchr("ptbm?", tag[1]) || !tag[1])
				FAIL(-EBADMSG, "Y4M I tag: \"%s\" is not one "
				     "of p, t, b, m, ?", show(tag + 1, n - 1, q,
				     sizeof(q)));
			h->interlace = tag[1];
			break;
		case 'C':
			if (seen_c)
				FAIL(-EBADMSG, "Y4M header: two C tags");
			seen_c = true;
			for (i = 0; i < DMK_ARRAY_SIZE(colorspaces); i++) {
				if (strlen(colorspaces[i].name) == n - 1 &&
				    !memcmp(colorspaces[i].name, tag + 1,
					    n - 1))
					break;
			}
			if (i == DMK_ARRAY_SIZE(colorspaces))
				FAIL(-ENOTSUP, "Y4M colour space C%s is not "
				     "handled (420jpeg, 420paldv, 420mpeg2, "
				     "420 and mono are)", show(tag + 1, n - 1,
				     q, sizeof(q)));
			snprintf(h->colorspace, sizeof(h->colorspace), "%s",
				 colorspaces[i].name);
			h->fourcc = colorspaces[i].fourcc;
			break;
		default:
			/* X tags are comments; later tags are ignored, as
			 * the format asks of readers. */
			break;
		}
	}
	if (!seen_w || !seen_h)
		FAIL(-EBADMSG, "Y4M header lacks the %s",
		     !seen_w && !seen_h ? "W and H tags" :
		     !seen_w ? "W tag" : "H tag");
	if (!seen_c)
		h->fourcc = DRM_FORMAT_YUV420;	/* the format's default */
	h->header_len = (size_t)(nl - data) + 1;
	return 0;
}

#undef FAIL

int dmk__y4m_frame_header(const char *data, size_t len, size_t *hdr_len)
{
	const char *nl;

	if (memcmp(data, "FRAME", len < 5 ? len : 5))
		return -EBADMSG;
	if (len < 6)
		return -ENODATA;
	if (data[5] == '\n') {
		*hdr_len = 6;
		return 0;
	}
	if (data[5] != ' ')
		return -EBADMSG;
	nl = memchr(data + 6, '\n', len - 6);
	if (!nl)
		return len >= DMK_Y4M_FRAME_HDR_MAX ? -EBADMSG : -ENODATA;
	*hdr_len = (size_t)(nl - data) + 1;
	return 0;
}

int dmk__y4m_format(const struct dmk__y4m *h, char *buf, size_t len)
{
	int n, k;

	n = snprintf(buf, len, Y4M_MAGIC " W%u H%u F%u:%u", h->width,
		     h->height, h->fps_num, h->fps_den);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	if (h->interlace) {
		k = snprintf(buf + n, len - (size_t)n, " I%c", h->interlace);
		if (k < 0 || (size_t)(n + k) >= len)
			return -ENOSPC;
		n += k;
	}
	if (h->par_num || h->par_den) {
		k = snprintf(buf + n, len - (size_t)n, " A%u:%u", h->par_num,
			     h->par_den);
		if (k < 0 || (size_t)(n + k) >= len)
			return -ENOSPC;
		n += k;
	}
	k = snprintf(buf + n, len - (size_t)n, " C%s\n", h->colorspace);
	if (k < 0 || (size_t)(n + k) >= len)
		return -ENOSPC;
	return n + k;
}

int dmk__frame_tight_layout(struct dmk_frame_layout *l, uint32_t fourcc,
			    uint32_t width, uint32_t height)
{
	DMK_OPTS(dmk_frame_opts, o, .pitch_align = 1, .plane_align = 1,
		 .size_align = 1);

	return dmk_frame_layout_init(l, fourcc, width, height, &o);
}

DMK_API const char *dmk_frame_io_name(int io)
{
	switch (io) {
	case DMK_FRAME_IO_DIRECT:
		return "direct";
	case DMK_FRAME_IO_PLANES:
		return "planes";
	case DMK_FRAME_IO_COPY:
		return "copy";
	}
	return "none";
}

/* How frames move between the file's tight layout and @l. */
static enum dmk_frame_io io_mode(const struct dmk_frame_layout *l,
				 const struct dmk_frame_layout *tight)
{
	bool same_offsets = true;
	unsigned int p;

	for (p = 0; p < tight->nplanes; p++) {
		if (l->pitch[p] != tight->pitch[p])
			return DMK_FRAME_IO_COPY;
		if (l->offset[p] != tight->offset[p])
			same_offsets = false;
	}
	return same_offsets ? DMK_FRAME_IO_DIRECT : DMK_FRAME_IO_PLANES;
}

/* Whether @l has @tight's format and size and fits in @size bytes. */
static bool layout_fits(const struct dmk_frame_layout *l,
			const struct dmk_frame_layout *tight, uint64_t size)
{
	unsigned int p;

	if (l->fourcc != tight->fourcc || l->width != tight->width ||
	    l->height != tight->height || l->nplanes != tight->nplanes)
		return false;
	for (p = 0; p < tight->nplanes; p++) {
		uint64_t end;

		/* Rows never overlap, and the last one ends in the buffer. */
		if (l->pitch[p] < tight->pitch[p] ||
		    l->plane_height[p] != tight->plane_height[p] ||
		    __builtin_mul_overflow((uint64_t)l->pitch[p],
					   (uint64_t)(tight->plane_height[p] -
						      1), &end) ||
		    __builtin_add_overflow(end, l->offset[p], &end) ||
		    __builtin_add_overflow(end, (uint64_t)tight->pitch[p],
					   &end) ||
		    end > size)
			return false;
	}
	return true;
}

/* Copy the planes of a frame between layouts, row by row. */
static void copy_rows(char *dst, const struct dmk_frame_layout *dl,
		      const char *src, const struct dmk_frame_layout *sl)
{
	unsigned int p, y;

	for (p = 0; p < sl->nplanes; p++) {
		size_t row = sl->pitch[p] < dl->pitch[p] ? sl->pitch[p] :
							   dl->pitch[p];

		for (y = 0; y < sl->plane_height[p]; y++)
			memcpy(dst + dl->offset[p] + (uint64_t)y * dl->pitch[p],
			       src + sl->offset[p] + (uint64_t)y * sl->pitch[p],
			       row);
	}
}

/* Submit a read or write of raw memory and wait: bytes or -errno. */
static int64_t mem_io(struct dmk_stream *s, unsigned int op, void *addr,
		      uint64_t off, uint64_t len)
{
	DMK_OPTS(dmk_stream_req, rq, .op = op, .addr = addr, .file_off = off,
		 .len = len);
	struct dmk_stream_done d;
	int id, ret;

	id = dmk_stream_submit(s, &rq);
	if (id < 0)
		return id;
	do {
		ret = dmk_stream_wait(s, id, &d, -1);
	} while (ret == -EINTR);
	return ret ? ret : d.res;
}

/* ---- the source ---- */

struct fslot {
	unsigned int id;		/* pool buffer */
	uint64_t index;			/* frame number */
	uint64_t off;			/* the FRAME line (Y4M) or pixels */
	size_t hdr_len;			/* FRAME line bytes asked for */
	int hreq;			/* request ids, -1 none */
	int dreq[DMK_MAX_PLANES];
	unsigned int ndreq;
	char *staging;			/* DMK_FRAME_IO_COPY */
	char hdr[DMK_Y4M_FRAME_HDR_MAX];
};

struct dmk_frame_source {
	struct dmk_stream *s;
	bool y4m;
	struct dmk__y4m y;
	struct dmk_frame_layout tight;	/* the file's */
	struct dmk_frame_layout pl;	/* the pool's */
	uint64_t frame_bytes;
	uint64_t data_start;		/* frame 0 */
	size_t fhdr_len;		/* FRAME line length expected */
	struct dmk_pool *pool;
	enum dmk_frame_io io;
	unsigned int nslots;
	struct fslot *slots;
	uint64_t head, tail;		/* frames [head, tail) in flight */
	uint64_t next_off;		/* where frame `tail` starts */
	bool at_end;			/* a read found the end of the file */
	bool started;
	int err;
	char errmsg[256];
	int64_t acquire_timeout;
	char *staging;
	size_t staging_len;
};

__attribute__((format(printf, 3, 4)))
static int src_fail(struct dmk_frame_source *src, int err, const char *fmt,
		    ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(src->errmsg, sizeof(src->errmsg), fmt, ap);
	va_end(ap);
	src->err = err;
	pr_info("frame source: %s", src->errmsg);
	return err;
}

static struct fslot *slot_of(struct dmk_frame_source *src, uint64_t frame)
{
	return &src->slots[frame % src->nslots];
}

static void slot_reset(struct fslot *sl)
{
	unsigned int p;

	sl->hreq = -1;
	for (p = 0; p < DMK_MAX_PLANES; p++)
		sl->dreq[p] = -1;
	sl->ndreq = 0;
}

static int submit_one(struct dmk_frame_source *src, int *id,
		      struct dmk_stream_req *rq)
{
	int ret = dmk_stream_submit(src->s, rq);

	if (ret < 0)
		return ret;
	*id = ret;
	return 0;
}

/* Wait for every request of @sl: the header's result and the data's total,
 * or the first error (with its offset). */
static int slot_collect(struct dmk_frame_source *src, struct fslot *sl,
			int64_t *hres, int64_t *dres, uint64_t *err_off)
{
	struct dmk_stream_done d;
	int first = 0, ret;
	unsigned int p;

	*hres = 0;
	*dres = 0;
	if (sl->hreq >= 0) {
		do {
			ret = dmk_stream_wait(src->s, sl->hreq, &d, -1);
		} while (ret == -EINTR);
		if (ret || d.res < 0) {
			first = ret ? ret : (int)d.res;
			*err_off = ret ? sl->off : d.err_off;
		} else {
			*hres = d.res;
		}
	}
	for (p = 0; p < sl->ndreq; p++) {
		do {
			ret = dmk_stream_wait(src->s, sl->dreq[p], &d, -1);
		} while (ret == -EINTR);
		if (ret || d.res < 0) {
			if (!first) {
				first = ret ? ret : (int)d.res;
				*err_off = ret ? sl->off : d.err_off;
			}
		} else {
			*dres += d.res;
		}
	}
	slot_reset(sl);
	return first;
}

/* Cancel and collect the data reads of @sl (not the header's). */
static void slot_cancel(struct dmk_frame_source *src, struct fslot *sl)
{
	unsigned int p;
	int64_t h, d;
	uint64_t off;

	if (sl->hreq >= 0)
		dmk_stream_cancel(src->s, sl->hreq);
	for (p = 0; p < sl->ndreq; p++)
		dmk_stream_cancel(src->s, sl->dreq[p]);
	slot_collect(src, sl, &h, &d, &off);
}

/* Queue the data reads of frame @sl at file offset @data_off. */
static int slot_submit_data(struct dmk_frame_source *src, struct fslot *sl,
			    uint64_t data_off)
{
	struct dmk_buf *buf = dmk_pool_buf(src->pool, sl->id);
	unsigned int p;
	int ret;

	switch (src->io) {
	case DMK_FRAME_IO_DIRECT: {
		DMK_OPTS(dmk_stream_req, rq, .buf = buf, .file_off = data_off,
			 .len = src->frame_bytes);

		ret = submit_one(src, &sl->dreq[0], &rq);
		if (ret)
			return ret;
		sl->ndreq = 1;
		break;
	}
	case DMK_FRAME_IO_PLANES:
		for (p = 0; p < src->tight.nplanes; p++) {
			DMK_OPTS(dmk_stream_req, rq, .buf = buf,
				 .buf_off = src->pl.offset[p],
				 .file_off = data_off + src->tight.offset[p],
				 .len = src->tight.plane_size[p],
				 .flags = p + 1 < src->tight.nplanes ?
					  DMK_STREAM_REQ_MORE : 0);

			ret = submit_one(src, &sl->dreq[p], &rq);
			if (ret)
				return ret;
			sl->ndreq = p + 1;
		}
		break;
	default: {
		DMK_OPTS(dmk_stream_req, rq, .addr = sl->staging,
			 .flags = DMK_STREAM_REQ_PINNABLE, .file_off = data_off,
			 .len = src->frame_bytes);

		ret = submit_one(src, &sl->dreq[0], &rq);
		if (ret)
			return ret;
		sl->ndreq = 1;
		break;
	}
	}
	return 0;
}

/* Start reading frame @frame (at @off) into pool buffer @id. */
static int slot_submit(struct dmk_frame_source *src, uint64_t frame,
		       unsigned int id, uint64_t off)
{
	struct fslot *sl = slot_of(src, frame);
	int ret;

	slot_reset(sl);
	sl->id = id;
	sl->index = frame;
	sl->off = off;
	sl->hdr_len = src->fhdr_len;
	if (src->y4m) {
		DMK_OPTS(dmk_stream_req, rq, .addr = sl->hdr, .file_off = off,
			 .len = sl->hdr_len, .flags = DMK_STREAM_REQ_MORE);

		ret = submit_one(src, &sl->hreq, &rq);
		if (ret)
			goto err_cancel;
	}
	ret = slot_submit_data(src, sl, off + sl->hdr_len);
	if (ret)
		goto err_cancel;
	return 0;

err_cancel:
	slot_cancel(src, sl);
	dmk_stream_flush(src->s);
	return ret;
}

/* Drop frames [@first, tail): cancel, collect, give the buffers back. */
static void drain_from(struct dmk_frame_source *src, uint64_t first)
{
	uint64_t f;

	for (f = first; f < src->tail; f++) {
		struct fslot *sl = slot_of(src, f);

		slot_cancel(src, sl);
		dmk_pool_release(src->pool, sl->id);
	}
	if (src->tail > first)
		src->tail = first;
}

static void refill(struct dmk_frame_source *src)
{
	int id, ret;

	while (!src->at_end && !src->err &&
	       src->tail - src->head < src->nslots) {
		id = dmk_pool_acquire(src->pool, 0);
		if (id < 0)
			break;
		ret = slot_submit(src, src->tail, (unsigned int)id,
				  src->next_off);
		if (ret) {
			dmk_pool_release(src->pool, (unsigned int)id);
			src_fail(src, ret, "frame %" PRIu64 ": queueing its "
				 "read: %s", src->tail, dmk_strerror(ret));
			return;
		}
		src->tail++;
		src->next_off += src->fhdr_len + src->frame_bytes;
	}
}

DMK_API int dmk_frame_source_open(const char *path, unsigned int flags,
				  const struct dmk_frame_source_opts *uopts,
				  struct dmk_frame_source **out)
{
	struct dmk_frame_source_opts opts;
	struct dmk_stream_opts so;
	struct dmk_frame_source *src;
	char msg[256] = "";
	char *head = NULL;
	size_t want, hlen;
	int64_t n;
	int ret;

	ret = DMK_OPTS_LOAD(dmk_frame_source_opts, &opts, uopts);
	if (ret)
		return ret;
	if (!path || !out || flags ||
	    (opts.fourcc && (!opts.width || !opts.height)) ||
	    (!opts.fourcc && (opts.width || opts.height)) ||
	    opts.readahead > MAX_READAHEAD)
		return -EINVAL;
	memset(&so, 0, sizeof(so));
	so.sz = sizeof(so);
	if (opts.stream_opts) {
		ret = DMK_OPTS_LOAD(dmk_stream_opts, &so, opts.stream_opts);
		if (ret)
			return ret;
		so.sz = sizeof(so);
	}

	src = calloc(1, sizeof(*src));
	if (!src)
		return -ENOMEM;
	src->nslots = opts.readahead ? opts.readahead : DEFAULT_READAHEAD;
	src->acquire_timeout = opts.acquire_timeout_ns;
	/* A header, and a read per plane, for every frame in flight. */
	if (!so.max_requests)
		so.max_requests = src->nslots * (1 + DMK_MAX_PLANES) + 8;
	ret = dmk_stream_new(opts.stream_flags, &so, &src->s);
	if (ret) {
		snprintf(msg, sizeof(msg), "setting up the stream: %s",
			 dmk_strerror(ret));
		goto err_free;
	}
	ret = dmk_stream_open_file(src->s, path, DMK_STREAM_READ, 0);
	if (ret < 0) {
		snprintf(msg, sizeof(msg), "%s: %s", path, dmk_strerror(ret));
		goto err_free;
	}

	if (opts.fourcc) {
		ret = dmk__frame_tight_layout(&src->tight, opts.fourcc,
					      opts.width, opts.height);
		if (ret) {
			snprintf(msg, sizeof(msg), "raw frames of %ux%u: %s",
				 opts.width, opts.height,
				 ret == -ENOTSUP ? "format not handled" :
				 dmk_strerror(ret));
			if (ret == -EOVERFLOW)
				ret = -EFBIG;
			goto err_free;
		}
	} else {
		src->y4m = true;
		want = DMK_Y4M_HEADER_MAX + DMK_Y4M_FRAME_HDR_MAX;
		head = malloc(want);
		if (!head) {
			ret = -ENOMEM;
			goto err_free;
		}
		n = mem_io(src->s, DMK_STREAM_OP_READ, head, 0, want);
		if (n < 0) {
			ret = (int)n;
			snprintf(msg, sizeof(msg), "%s: reading the header: %s",
				 path, dmk_strerror(ret));
			goto err_free;
		}
		ret = dmk__y4m_parse(head, (size_t)n < DMK_Y4M_HEADER_MAX ?
				     (size_t)n : DMK_Y4M_HEADER_MAX, &src->y,
				     msg, sizeof(msg));
		if (ret)
			goto err_free;
		ret = dmk__frame_tight_layout(&src->tight, src->y.fourcc,
					      src->y.width, src->y.height);
		if (ret) {
			snprintf(msg, sizeof(msg), "Y4M %ux%u: %s",
				 src->y.width, src->y.height,
				 dmk_strerror(ret));
			goto err_free;
		}
		src->data_start = src->y.header_len;
		/* The first FRAME line sets the expected length; it is
		 * checked again, as every one is, when frame 0 arrives. */
		src->fhdr_len = FRAME_LINE_LEN;
		if ((size_t)n > src->y.header_len &&
		    dmk__y4m_frame_header(head + src->y.header_len,
					  (size_t)n - src->y.header_len,
					  &hlen) == 0)
			src->fhdr_len = hlen;
		free(head);
		head = NULL;
	}
	src->frame_bytes = src->tight.size;
	if (src->frame_bytes > MAX_FRAME_BYTES) {
		snprintf(msg, sizeof(msg), "frames of %" PRIu64 " bytes are "
			 "over the 1 GiB limit", src->frame_bytes);
		ret = -EFBIG;
		goto err_free;
	}
	src->next_off = src->data_start;
	*out = src;
	return 0;

err_free:
	if (msg[0])
		pr_info("frame source: %s", msg);
	if (opts.errmsg && opts.errmsg_len)
		snprintf(opts.errmsg, opts.errmsg_len, "%s",
			 msg[0] ? msg : dmk_strerror(ret));
	free(head);
	dmk_stream_free(src->s);
	free(src);
	return ret;
}

DMK_API const struct dmk_frame_layout *
dmk_frame_source_layout(const struct dmk_frame_source *src)
{
	return &src->tight;
}

DMK_API void dmk_frame_source_rate(const struct dmk_frame_source *src,
				   uint32_t *num, uint32_t *den)
{
	if (num)
		*num = src->y4m ? src->y.fps_num : 0;
	if (den)
		*den = src->y4m ? src->y.fps_den : 0;
}

DMK_API int dmk_frame_source_start(struct dmk_frame_source *src,
				   struct dmk_pool *pool)
{
	const struct dmk_frame_layout *l;
	unsigned int i;
	long page;
	int ret;

	if (!src || !pool || src->started)
		return -EINVAL;
	l = dmk_pool_layout(pool);
	if (l) {
		if (!layout_fits(l, &src->tight,
				 dmk_buf_size(dmk_pool_buf(pool, 0))))
			return -EINVAL;
		src->pl = *l;
	} else {
		if (dmk_buf_size(dmk_pool_buf(pool, 0)) < src->frame_bytes)
			return -EINVAL;
		src->pl = src->tight;
	}
	src->io = io_mode(&src->pl, &src->tight);
	src->slots = calloc(src->nslots, sizeof(*src->slots));
	if (!src->slots)
		return -ENOMEM;
	if (src->io == DMK_FRAME_IO_COPY) {
		page = sysconf(_SC_PAGESIZE);
		if (page <= 0)
			page = 4096;
		/* Anonymous pages: pinnable, so O_DIRECT may fill them. */
		src->staging_len = (src->frame_bytes + (size_t)page - 1) /
				   (size_t)page * (size_t)page;
		src->staging = mmap(NULL, src->staging_len * src->nslots,
				    PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (src->staging == MAP_FAILED) {
			ret = dmk__neg_errno();
			src->staging = NULL;
			goto err_free;
		}
	}
	for (i = 0; i < src->nslots; i++) {
		slot_reset(&src->slots[i]);
		if (src->staging)
			src->slots[i].staging = src->staging +
						(size_t)i * src->staging_len;
	}
	ret = dmk_stream_register_pool(src->s, pool);
	if (ret < 0)
		goto err_free;
	src->pool = pool;
	src->started = true;
	refill(src);
	return 0;

err_free:
	if (src->staging)
		munmap(src->staging, src->staging_len * src->nslots);
	src->staging = NULL;
	free(src->slots);
	src->slots = NULL;
	return ret;
}

/* The FRAME line of @sl was not the expected length: drop the reads
 * ahead, learn the real length and read the frame again. */
static int resync(struct dmk_frame_source *src, struct fslot *sl,
		  int64_t *dres)
{
	int64_t n, h;
	uint64_t off;
	size_t len;
	int ret;

	drain_from(src, src->head + 1);
	n = mem_io(src->s, DMK_STREAM_OP_READ, sl->hdr, sl->off,
		   DMK_Y4M_FRAME_HDR_MAX);
	if (n < 0)
		return src_fail(src, (int)n, "frame %" PRIu64 ": reading its "
				"FRAME line at offset %" PRIu64 ": %s",
				sl->index, sl->off, dmk_strerror((int)n));
	ret = dmk__y4m_frame_header(sl->hdr, (size_t)n, &len);
	if (ret == -ENODATA)
		return src_fail(src, -ENODATA, "frame %" PRIu64 ": the file "
				"ends inside its FRAME line (offset %" PRIu64
				")", sl->index, sl->off);
	if (ret)
		return src_fail(src, -EBADMSG, "frame %" PRIu64 ": FRAME line "
				"at offset %" PRIu64 " is longer than %u "
				"bytes", sl->index, sl->off,
				DMK_Y4M_FRAME_HDR_MAX);
	src->fhdr_len = len;
	sl->hdr_len = len;
	ret = slot_submit_data(src, sl, sl->off + len);
	if (ret) {
		slot_cancel(src, sl);
		return src_fail(src, ret, "frame %" PRIu64 ": queueing its "
				"read: %s", sl->index, dmk_strerror(ret));
	}
	ret = slot_collect(src, sl, &h, dres, &off);
	if (ret)
		return src_fail(src, ret, "frame %" PRIu64 ": read at offset "
				"%" PRIu64 " failed: %s", sl->index, off,
				dmk_strerror(ret));
	src->next_off = sl->off + len + src->frame_bytes;
	return 0;
}

/* Check the FRAME line of @sl (@hres bytes arrived); 1 if the reads must
 * be redone (resync), 0 if fine, or a failure. */
static int check_frame_line(struct dmk_frame_source *src, struct fslot *sl,
			    int64_t hres)
{
	char q[128];
	size_t len = 0;
	int ret;

	ret = dmk__y4m_frame_header(sl->hdr, (size_t)hres, &len);
	if (ret == -EBADMSG && memcmp(sl->hdr, "FRAME",
				      hres < 5 ? (size_t)hres : 5))
		return src_fail(src, -EBADMSG, "frame %" PRIu64 ": no FRAME "
				"marker at offset %" PRIu64 " (found \"%s\")",
				sl->index, sl->off,
				show(sl->hdr, (size_t)hres, q, sizeof(q)));
	if (ret == -EBADMSG && hres >= 6 && sl->hdr[5] != ' ' &&
	    sl->hdr[5] != '\n')
		return src_fail(src, -EBADMSG, "frame %" PRIu64 ": malformed "
				"FRAME marker at offset %" PRIu64 " (\"%s\")",
				sl->index, sl->off,
				show(sl->hdr, (size_t)hres, q, sizeof(q)));
	if ((uint64_t)hres < sl->hdr_len && ret)
		return src_fail(src, -ENODATA, "frame %" PRIu64 ": the file "
				"ends inside its FRAME line (offset %" PRIu64
				")", sl->index, sl->off);
	if (ret || len != sl->hdr_len)
		return 1;
	return 0;
}

static int src_end(struct dmk_frame_source *src, struct fslot *sl)
{
	dmk_pool_release(src->pool, sl->id);
	src->head++;
	src->at_end = true;
	drain_from(src, src->head);
	return 0;
}

DMK_API int dmk_frame_source_next(struct dmk_frame_source *src,
				  struct dmk_frame_ref *out)
{
	struct dmk_buf *buf;
	struct fslot *sl;
	int64_t hres, dres;
	uint64_t err_off = 0;
	void *addr;
	int id, ret;

	if (!src || !out)
		return -EINVAL;
	if (src->err)
		return src->err;
	if (!src->started)
		return -EINVAL;
	refill(src);
	if (src->err)
		return src->err;
	if (src->head == src->tail) {
		if (src->at_end)
			return 0;
		if (!src->acquire_timeout)
			return src_fail(src, -ENOBUFS, "no free buffer: the "
					"caller holds all %u of the pool's",
					dmk_pool_count(src->pool));
		id = dmk_pool_acquire(src->pool, src->acquire_timeout);
		if (id < 0)
			return id;	/* -ETIMEDOUT, -EINTR: not sticky */
		ret = slot_submit(src, src->tail, (unsigned int)id,
				  src->next_off);
		if (ret) {
			dmk_pool_release(src->pool, (unsigned int)id);
			return src_fail(src, ret, "frame %" PRIu64 ": queueing "
					"its read: %s", src->tail,
					dmk_strerror(ret));
		}
		src->tail++;
		src->next_off += src->fhdr_len + src->frame_bytes;
	}

	sl = slot_of(src, src->head);
	ret = slot_collect(src, sl, &hres, &dres, &err_off);
	if (ret) {
		dmk_pool_release(src->pool, sl->id);
		src->head++;
		drain_from(src, src->head);
		return src_fail(src, ret, "frame %" PRIu64 ": read at offset %"
				PRIu64 " failed: %s", sl->index, err_off,
				dmk_strerror(ret));
	}
	if (src->y4m) {
		if (hres == 0)
			return src_end(src, sl);
		ret = check_frame_line(src, sl, hres);
		if (ret == 1)
			ret = resync(src, sl, &dres);
		if (ret) {
			dmk_pool_release(src->pool, sl->id);
			src->head++;
			drain_from(src, src->head);
			return src->err;
		}
	} else if (dres == 0) {
		return src_end(src, sl);
	}
	if ((uint64_t)dres < src->frame_bytes) {
		dmk_pool_release(src->pool, sl->id);
		src->head++;
		drain_from(src, src->head);
		return src_fail(src, -ENODATA, "frame %" PRIu64 ": the file "
				"ends %" PRId64 " bytes into it (a frame is %"
				PRIu64 " bytes, from offset %" PRIu64 ")",
				sl->index, dres, src->frame_bytes,
				sl->off + sl->hdr_len);
	}

	buf = dmk_pool_buf(src->pool, sl->id);
	addr = dmk_pool_addr(src->pool, sl->id);
	if (src->io == DMK_FRAME_IO_COPY) {
		bool dmabuf = dmk_buf_caps(buf) & DMK_CAP_DMABUF;

		if (dmabuf)
			dmk_buf_begin_cpu(buf, DMK_SYNC_WRITE);
		copy_rows(addr, &src->pl, sl->staging, &src->tight);
		if (dmabuf)
			dmk_buf_end_cpu(buf, DMK_SYNC_WRITE);
	}
	memset(out, 0, sizeof(*out));
	out->id = sl->id;
	out->index = sl->index;
	out->buf = buf;
	out->addr = addr;
	out->file_off = sl->off + sl->hdr_len;
	src->head++;
	/* Keep readahead frames in flight while the caller works. */
	refill(src);
	return 1;
}

DMK_API const char *
dmk_frame_source_error(const struct dmk_frame_source *src)
{
	return src->errmsg;
}

DMK_API enum dmk_frame_io
dmk_frame_source_io(const struct dmk_frame_source *src)
{
	return src->io;
}

DMK_API struct dmk_stream *
dmk_frame_source_stream(const struct dmk_frame_source *src)
{
	return src->s;
}

DMK_API void dmk_frame_source_close(struct dmk_frame_source *src)
{
	if (!src)
		return;
	if (src->started)
		drain_from(src, src->head);
	dmk_stream_free(src->s);
	if (src->staging)
		munmap(src->staging, src->staging_len * src->nslots);
	free(src->slots);
	free(src);
}

/* ---- the sink ---- */

struct dmk_frame_sink {
	struct dmk_stream *s;
	struct dmk_frame_layout tight;
	bool raw;
	uint64_t off;		/* where the next frame goes */
	int err;
	char *staging;		/* DMK_FRAME_IO_COPY, made on first use */
	size_t staging_len;
};

DMK_API int dmk_frame_sink_open(const char *path,
				const struct dmk_frame_layout *layout,
				unsigned int flags,
				const struct dmk_frame_sink_opts *uopts,
				struct dmk_frame_sink **out)
{
	struct dmk_frame_sink_opts opts;
	struct dmk_frame_sink *sink;
	struct dmk__y4m y;
	char hdr[160];
	int64_t n;
	int ret, len;

	ret = DMK_OPTS_LOAD(dmk_frame_sink_opts, &opts, uopts);
	if (ret)
		return ret;
	if (!path || !layout || !out || (flags & ~DMK_FRAME_SINK_RAW) ||
	    (!opts.fps_num != !opts.fps_den) || opts.mode > 07777)
		return -EINVAL;
	if (!(flags & DMK_FRAME_SINK_RAW) &&
	    layout->fourcc != DRM_FORMAT_YUV420 &&
	    layout->fourcc != DRM_FORMAT_R8)
		return -ENOTSUP;
	if (opts.like && (opts.like->tight.fourcc != layout->fourcc ||
			  opts.like->tight.width != layout->width ||
			  opts.like->tight.height != layout->height))
		return -EINVAL;
	sink = calloc(1, sizeof(*sink));
	if (!sink)
		return -ENOMEM;
	sink->raw = flags & DMK_FRAME_SINK_RAW;
	ret = dmk__frame_tight_layout(&sink->tight, layout->fourcc,
				      layout->width, layout->height);
	if (ret)
		goto err_free;
	if (sink->tight.size > MAX_FRAME_BYTES) {
		ret = -EFBIG;
		goto err_free;
	}
	ret = dmk_stream_new(opts.stream_flags, opts.stream_opts, &sink->s);
	if (ret)
		goto err_free;
	ret = dmk_stream_open_file(sink->s, path, DMK_STREAM_WRITE |
				   DMK_STREAM_CREATE | DMK_STREAM_TRUNC,
				   opts.mode);
	if (ret < 0)
		goto err_free;
	if (!sink->raw) {
		memset(&y, 0, sizeof(y));
		if (opts.like && opts.like->y4m)
			y = opts.like->y;
		y.width = layout->width;
		y.height = layout->height;
		if (opts.fps_num) {
			y.fps_num = opts.fps_num;
			y.fps_den = opts.fps_den;
		} else if (!y.fps_num || !y.fps_den) {
			/* Y4M readers want a rate: 30 when none is known. */
			y.fps_num = 30;
			y.fps_den = 1;
		}
		if (!y.interlace)
			y.interlace = 'p';
		if (!y.colorspace[0])
			snprintf(y.colorspace, sizeof(y.colorspace), "%s",
				 layout->fourcc == DRM_FORMAT_R8 ? "mono" :
				 "420jpeg");
		len = dmk__y4m_format(&y, hdr, sizeof(hdr));
		if (len < 0) {
			ret = len;
			goto err_free;
		}
		n = mem_io(sink->s, DMK_STREAM_OP_WRITE, hdr, 0, (uint64_t)len);
		if (n < 0) {
			ret = (int)n;
			goto err_free;
		}
		sink->off = (uint64_t)len;
	}
	*out = sink;
	return 0;

err_free:
	dmk_stream_free(sink->s);
	free(sink);
	return ret;
}

/* Wait for @n requests; the first error. */
static int wait_all(struct dmk_stream *s, const int *ids, unsigned int n)
{
	struct dmk_stream_done d;
	unsigned int i;
	int first = 0, ret;

	for (i = 0; i < n; i++) {
		do {
			ret = dmk_stream_wait(s, ids[i], &d, -1);
		} while (ret == -EINTR);
		if (!first)
			first = ret ? ret : d.res < 0 ? (int)d.res : 0;
	}
	return first;
}

DMK_API int dmk_frame_sink_write(struct dmk_frame_sink *sink,
				 struct dmk_buf *buf,
				 const struct dmk_frame_layout *layout)
{
	const struct dmk_frame_layout *l = layout ? layout : &sink->tight;
	uint64_t data_off, hdr = sink->raw ? 0 : FRAME_LINE_LEN;
	int ids[1 + DMK_MAX_PLANES];
	unsigned int n = 0, p;
	enum dmk_frame_io io;
	void *map;
	int ret;

	if (!sink || !buf)
		return -EINVAL;
	if (sink->err)
		return sink->err;
	if (!layout_fits(l, &sink->tight, dmk_buf_size(buf)))
		return -EINVAL;
	ret = dmk_buf_map(buf, &map);
	if (ret)
		return ret;
	io = io_mode(l, &sink->tight);
	data_off = sink->off + hdr;
	if (hdr) {
		/* Only read by the kernel. */
		DMK_OPTS(dmk_stream_req, rq, .op = DMK_STREAM_OP_WRITE,
			 .addr = (void *)frame_line, .file_off = sink->off,
			 .len = hdr, .flags = DMK_STREAM_REQ_MORE);

		ret = dmk_stream_submit(sink->s, &rq);
		if (ret < 0)
			goto fail;
		ids[n++] = ret;
	}
	if (io == DMK_FRAME_IO_COPY) {
		bool dmabuf = dmk_buf_caps(buf) & DMK_CAP_DMABUF;

		if (!sink->staging) {
			void *mem;

			if (posix_memalign(&mem, 4096, sink->tight.size)) {
				ret = -ENOMEM;
				goto fail_wait;
			}
			sink->staging = mem;
		}
		if (dmabuf)
			dmk_buf_begin_cpu(buf, DMK_SYNC_READ);
		copy_rows(sink->staging, &sink->tight, map, l);
		if (dmabuf)
			dmk_buf_end_cpu(buf, DMK_SYNC_READ);
	}
	if (io == DMK_FRAME_IO_PLANES) {
		for (p = 0; p < sink->tight.nplanes; p++) {
			DMK_OPTS(dmk_stream_req, rq, .op = DMK_STREAM_OP_WRITE,
				 .buf = buf, .buf_off = l->offset[p],
				 .file_off = data_off + sink->tight.offset[p],
				 .len = sink->tight.plane_size[p],
				 .flags = p + 1 < sink->tight.nplanes ?
					  DMK_STREAM_REQ_MORE : 0);

			ret = dmk_stream_submit(sink->s, &rq);
			if (ret < 0)
				goto fail_wait;
			ids[n++] = ret;
		}
	} else {
		DMK_OPTS(dmk_stream_req, rq, .op = DMK_STREAM_OP_WRITE,
			 .file_off = data_off, .len = sink->tight.size);

		if (io == DMK_FRAME_IO_COPY) {
			rq.addr = sink->staging;
			rq.flags = DMK_STREAM_REQ_PINNABLE;
		} else {
			rq.buf = buf;
		}
		ret = dmk_stream_submit(sink->s, &rq);
		if (ret < 0)
			goto fail_wait;
		ids[n++] = ret;
	}
	ret = wait_all(sink->s, ids, n);
	if (ret)
		goto fail;
	sink->off = data_off + sink->tight.size;
	return 0;

fail_wait:
	dmk_stream_flush(sink->s);
	wait_all(sink->s, ids, n);
fail:
	/* Part of a frame may be in the file: nothing after it is valid. */
	sink->err = ret;
	return ret;
}

DMK_API void dmk_frame_sink_close(struct dmk_frame_sink *sink)
{
	if (!sink)
		return;
	dmk_stream_free(sink->s);
	free(sink->staging);
	free(sink);
}

DMK_API struct dmk_stream *
dmk_frame_sink_stream(const struct dmk_frame_sink *sink)
{
	return sink->s;
}
